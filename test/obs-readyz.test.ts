// /readyz follows the DM's messaging: a DM over RabbitMQ (a private node, fixtures/broker.ts, never the shared one on
// 5672) answers 200 while connected, 503 while the broker's node is stopped (agents cannot reach the DM), and 200
// again once the DM has reconnected to the node started anew on the same port. /healthz stays 200 throughout. (The node
// is stopped whole, killed if it does not answer: `rabbitmqctl stop_app` timed out after 30 s on a loaded host.)
import test from 'ava'
import { join } from 'node:path'
import { startDmService } from '../manager/commands/dm.js'
import { createPrivateBroker } from '../fixtures/broker.js'
import { tempDir } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

/** Generous: the Erlang VM of the private node boots in ~30 s on this machine (minutes at a load average of 50), and the DM reconnects after it. */
const BROKER_WAIT_MS = 90_000

test('/readyz answers 503 while the DM\'s broker is stopped and 200 again once the DM has reconnected', async t => {
  t.timeout(600_000)
  const dir = tempDir('obs-readyz')
  // a folder of its own: the rabbitmq user owns it, and cannot enter the test's folder
  const brokerDir = tempDir('obs-readyz-node')
  const broker = await createPrivateBroker({ directory: brokerDir.path, name: 'meshconf-readyz' })
  let stop: (() => Promise<void>) | undefined
  t.teardown(async () => {
    await stop?.()
    await broker.stop()
    brokerDir.remove()
    dir.remove()
  })
  await broker.start()
  const service = await startDmService({
    dataDirectory: join(dir.path, 'data'), port: 0, target: 'in-process', amqpUrl: broker.url, brokerUsers: false,
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  })
  stop = async () => { await service.stop() }
  const probe = async (path: string): Promise<{ status: number, body: unknown }> => {
    const response = await fetch(`${service.url}${path}`)
    return { status: response.status, body: await response.json() }
  }
  const readyWhen = async (status: number, what: string): Promise<void> => {
    await waitFor(what, async () => (await probe('/readyz')).status === status, { timeoutMs: BROKER_WAIT_MS })
  }

  await readyWhen(200, 'ready over RabbitMQ')
  t.deepEqual(await probe('/readyz'), { status: 200, body: { status: 'ready' } })

  await broker.stop()
  await readyWhen(503, 'not ready while the broker is stopped')
  t.deepEqual(await probe('/readyz'), { status: 503, body: { status: 'not ready' } }, 'the reason is not given away')
  t.deepEqual(await probe('/healthz'), { status: 200, body: { status: 'ok' } }, 'alive all the same')

  await broker.start()
  await readyWhen(200, 'ready again once reconnected')
  t.deepEqual(await probe('/readyz'), { status: 200, body: { status: 'ready' } })
})
