// The broker restarted mid-run (`rabbitmqctl stop_app`, then `start_app`): the DM and the agents reconnect by
// themselves, with no process restarted (Roboconf needed every process restarted by hand: #202), and what was sent
// while the broker was down arrives afterwards. The broker restarted is a private RabbitMQ node on free ports
// (fixtures/broker.ts), never the shared one on 5672 that test files running in parallel rely on.
import test from 'ava'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { createAmqpLink } from '../agent/link/amqp.js'
import type { AgentLink } from '../agent/link/types.js'
import { createAmqpMessaging } from '../manager/messaging/amqp.js'
import { createPrivateBroker } from '../fixtures/broker.js'
import { captureLogger, heartbeat, removeInstance } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

/** Generous: the Erlang VM of the private node boots in ~30 s on this machine. */
const BROKER_WAIT_MS = 90_000

test('DM and agents recover from rabbitmqctl stop_app / start_app, and messages sent meanwhile arrive', async t => {
  t.timeout(240_000)
  const directory = await mkdtemp(join(tmpdir(), 'messaging-restart-'))
  const broker = await createPrivateBroker({ directory, name: 'meshconf-messaging' })
  const links: AgentLink[] = []
  const dm = createAmqpMessaging({ url: broker.url, domain: 'meshconf', logger: captureLogger() })
  t.teardown(async () => {
    // whatever happened above, the broker is running again before it is stopped for good
    await broker.control('start_app').catch(() => {})
    for (const link of links) await link.stop()
    await dm.stop()
    await broker.stop()
    await rm(directory, { recursive: true, force: true })
  })
  await broker.start()

  const application = `restart ${randomUUID().slice(0, 6)}`
  const notifications: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { notifications.push(msg) })
  await dm.start()
  const inbox = new Map<string, DmToAgentMessage[]>()
  const agent = async (path: string): Promise<AgentLink> => {
    const link = createAmqpLink({ url: broker.url, domain: 'meshconf', application, scopedInstancePath: path, logger: captureLogger() })
    links.push(link)
    const messages: DmToAgentMessage[] = []
    inbox.set(path, messages)
    link.onMessage(msg => { messages.push(msg) })
    await link.start()
    return link
  }
  await dm.prepareAgent(application, '/VM 1')
  await dm.prepareAgent(application, '/VM 2')
  const vm1 = await agent('/VM 1')
  const vm2 = await agent('/VM 2')
  await vm1.send(heartbeat(application, '/VM 1'))
  await dm.sendToAgent(application, '/VM 1', removeInstance('/VM 1/before'))
  await waitFor('traffic before the restart', () => notifications.length === 1 && inbox.get('/VM 1')?.length === 1)

  await broker.control('stop_app')
  await waitFor('everyone to notice the broker is gone', () => !vm1.connected() && !vm2.connected() && dm.metrics().connections === 1, { timeoutMs: BROKER_WAIT_MS })

  // While the broker is down: nothing throws, everything waits in the outboxes.
  const duringOutage = [
    vm1.send({ v: 1, kind: 'instanceChanged', application, instancePath: '/VM 1/Tomcat', status: 'DEPLOYED_STARTED', imports: {} }),
    vm2.send(heartbeat(application, '/VM 2')),
    dm.sendToAgent(application, '/VM 1', removeInstance('/VM 1/during')),
    dm.sendToAgent(application, '/VM 2', removeInstance('/VM 2/during')),
    // a machine created during the outage: its queue is declared when the broker is back, before the message
    dm.prepareAgent(application, '/VM 3').then(async () => { await dm.sendToAgent(application, '/VM 3', removeInstance('/VM 3/during')) })
  ]
  await new Promise(resolve => setTimeout(resolve, 1_000))
  t.false(vm1.connected())

  await broker.control('start_app')
  const backAt = Date.now()
  await waitFor('everyone to reconnect', () => vm1.connected() && vm2.connected() && dm.metrics().connections === 2, { timeoutMs: BROKER_WAIT_MS })
  t.log(`DM and agents reconnected ${Date.now() - backAt} ms after start_app returned`)
  await Promise.all(duringOutage)
  const vm3 = await agent('/VM 3')
  t.true(vm3.connected())
  await waitFor('the messages sent during the outage', () =>
    notifications.length === 3 && inbox.get('/VM 1')?.length === 2 && inbox.get('/VM 2')?.length === 1 && inbox.get('/VM 3')?.length === 1, { timeoutMs: BROKER_WAIT_MS })

  t.deepEqual(notifications.slice(1).map(m => `${m.kind} ${m.kind === 'heartbeat' ? m.scopedInstancePath : ''}`).sort(),
    ['heartbeat /VM 2', 'instanceChanged '])
  t.deepEqual(inbox.get('/VM 1'), [removeInstance('/VM 1/before'), removeInstance('/VM 1/during')])
  t.deepEqual(inbox.get('/VM 2'), [removeInstance('/VM 2/during')])
  t.deepEqual(inbox.get('/VM 3'), [removeInstance('/VM 3/during')])

  // and traffic goes on as before
  await vm2.send(heartbeat(application, '/VM 2', { modelRequired: false }))
  await waitFor('a heartbeat after recovery', () => notifications.length === 4)
  t.is(notifications[3].kind === 'heartbeat' && notifications[3].modelRequired, false)
})
