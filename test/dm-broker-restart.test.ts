// A DM over RabbitMQ with an application deployed and started on agent processes (local target), through a broker
// restarted mid-run (`rabbitmqctl stop_app`, then `start_app`): with no process restarted, the DM still changes
// states (a command asked while the broker was down included), adds a machine, and sees the agents' states and
// heartbeats. The broker is a private node (fixtures/broker.ts), never the shared one on 5672.
import test from 'ava'
import { join } from 'node:path'
import { createDeploymentManager } from '../manager/dm.js'
import { createAmqpMessaging } from '../manager/messaging/amqp.js'
import { createStore } from '../manager/store.js'
import { createLocalTarget } from '../manager/targets/local.js'
import { createPrivateBroker } from '../fixtures/broker.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { killAgents, localAgents } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

/** Generous: the Erlang VM of the private node boots in ~30 s on this machine. */
const BROKER_WAIT_MS = 90_000
const quiet = { debug: () => {}, info: () => {}, warn: (m: string) => { process.stderr.write(`${m}\n`) }, error: (m: string) => { process.stderr.write(`${m}\n`) } }

test('a DM with a started application over RabbitMQ goes on driving its agents after stop_app / start_app', async t => {
  t.timeout(360_000)
  const dir = tempDir('dm-broker-restart')
  // a folder of its own: the rabbitmq user owns it, and cannot enter the test's folder
  const brokerDir = tempDir('dm-broker-restart-node')
  const broker = await createPrivateBroker({ directory: brokerDir.path, name: 'meshconf-dm-restart' })
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createAmqpMessaging({ url: broker.url, logger: quiet })
  const target = createLocalTarget({ machinesDirectory: join(dir.path, 'machines', 'local'), agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 500 })
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet },
    { dataDirectory: dir.path, defaultTargetHandler: 'local', machineSilenceMs: 120_000 })
  t.teardown(async () => {
    await broker.control('start_app').catch(() => {})
    await dm.stop()
    killAgents(dir.path)
    store.close()
    await broker.stop()
    brokerDir.remove()
    dir.remove()
  })
  await broker.start()
  await dm.start()
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.action('shop', { action: 'deploy-and-start-all' })
  await waitFor('started over RabbitMQ', () => Object.values(statuses(dm.instances('shop'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 90_000 })
  const agentsBefore = localAgents(dir.path)
  t.is(agentsBefore.length, 2)

  await broker.control('stop_app')
  // asked while the broker is down: it waits in the DM's store and outbox
  dm.changeState('shop', '/vm2/app', 'DEPLOYED_STOPPED')
  await broker.control('start_app')
  const backAt = new Date().toISOString()
  await waitFor('the DM reconnected', () => messaging.metrics().connections >= 2, { timeoutMs: BROKER_WAIT_MS })

  // the command reached the agent, and the state the agent reported reached the DM
  await waitFor('the app stopped', () => dm.instance('shop', '/vm2/app').status === 'DEPLOYED_STOPPED', { timeoutMs: BROKER_WAIT_MS })
  await waitFor('heartbeats after the restart', () =>
    store.agents('shop').filter(a => a.lastHeartbeatAt > backAt).length === 2, { timeoutMs: BROKER_WAIT_MS })
  dm.changeState('shop', '/vm2/app', 'DEPLOYED_STARTED')
  await waitFor('the app started again', () => dm.instance('shop', '/vm2/app').status === 'DEPLOYED_STARTED')
  // a new machine: its queue is declared, its agent gets its model, its app imports the database
  dm.addInstance('shop', { name: 'vm3', component: 'VM' })
  dm.addInstance('shop', { parentPath: '/vm3', name: 'app', component: 'App' })
  dm.action('shop', { action: 'deploy-and-start-all', path: '/vm3' })
  await waitFor('the new machine started', () => dm.instance('shop', '/vm3/app').status === 'DEPLOYED_STARTED', { timeoutMs: 90_000 })
  t.deepEqual(store.getInstance('shop', '/vm3/app')?.imports.DB?.map(i => i.instancePath), ['/vm1/db'])
  t.deepEqual(statuses(dm.instances('shop')), {
    '/vm1': 'DEPLOYED_STARTED', '/vm1/db': 'DEPLOYED_STARTED', '/vm2': 'DEPLOYED_STARTED', '/vm2/app': 'DEPLOYED_STARTED',
    '/vm3': 'DEPLOYED_STARTED', '/vm3/app': 'DEPLOYED_STARTED'
  })
  // no process was restarted: the first agents are the same processes, still running
  const agentsAfter = localAgents(dir.path)
  for (const before of agentsBefore) t.deepEqual(agentsAfter.find(a => a.machine === before.machine), before)

  dm.action('shop', { action: 'undeploy-all' })
  await waitFor('undeployed', () => Object.values(statuses(dm.instances('shop'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  t.deepEqual(localAgents(dir.path), [])
})
