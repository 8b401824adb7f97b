// The DM over the real RabbitMQ at 127.0.0.1:5672 (a unique domain per test): an application deployed and started
// on in-process agents, notifications reaching the DM, and a DM restart in which the agents resend their states.
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createDeploymentManager } from '../manager/dm.js'
import { createAmqpMessaging } from '../manager/messaging/amqp.js'
import { createStore } from '../manager/store.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

const RABBITMQ = 'amqp://guest:guest@127.0.0.1:5672'
const quiet = { debug: () => {}, info: () => {}, warn: (m: string) => { process.stderr.write(`${m}\n`) }, error: (m: string) => { process.stderr.write(`${m}\n`) } }

test('deploy and start over RabbitMQ; after a DM restart the running agents resend their states', async t => {
  const dir = tempDir('dm-amqp')
  const domain = `meshconf-test-${randomBytes(4).toString('hex')}`
  const file = join(dir.path, 'dm.sqlite')
  const target = createInProcessTarget({ machinesDirectory: join(dir.path, 'machines'), heartbeatIntervalMs: 300, logger: quiet })
  let store = createStore({ file })
  let dm = createDeploymentManager({ store, messaging: createAmqpMessaging({ url: RABBITMQ, domain, logger: quiet }), targets: [target], log: quiet },
    { dataDirectory: dir.path, defaultTargetHandler: 'in-process' })
  t.teardown(async () => { await target.close?.(); await dm.stop(); store.close(); dir.remove() })
  await dm.start()
  const events: string[] = []
  dm.onEvent(e => { if (e.type === 'instance') events.push(`${e.path} ${e.status}`) })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'rabbit shop', template: { name: 'Shop', version: '1.0' } })
  dm.action('rabbit shop', { action: 'deploy-and-start-all' })
  await waitFor('started over RabbitMQ', () => Object.values(statuses(dm.instances('rabbit shop'))).every(s => s === 'DEPLOYED_STARTED'))
  // the agents' notifications went through the broker: DEPLOYING and STARTING were reported by the agents
  t.true(events.includes('/vm2/app STARTING'))
  t.true(events.includes('/vm2/app DEPLOYED_STARTED'))
  t.deepEqual(store.getInstance('rabbit shop', '/vm2/app')?.imports.DB?.map(i => i.instancePath), ['/vm1/db'])

  // the DM stops (its process would restart); the agents keep running and keep their queues
  await dm.stop()
  store.close()
  store = createStore({ file })
  // as if the DM had died while the app was starting: the stored state is stale until the agent resends it
  store.setStatus('rabbit shop', '/vm2/app', 'STARTING')
  dm = createDeploymentManager({ store, messaging: createAmqpMessaging({ url: RABBITMQ, domain, logger: quiet }), targets: [target], log: quiet },
    { dataDirectory: dir.path, defaultTargetHandler: 'in-process' })
  const after: string[] = []
  dm.onEvent(e => { if (e.type === 'instance') after.push(`${e.path} ${e.status}`) })
  await dm.start()
  t.is(dm.instance('rabbit shop', '/vm2').status, 'DEPLOYED_STARTED')
  // resendStates reached the agents and their answers reached the new DM
  await waitFor('the states resent after the restart', () => dm.instance('rabbit shop', '/vm2/app').status === 'DEPLOYED_STARTED')
  t.true(after.includes('/vm2/app DEPLOYED_STARTED'))
  t.deepEqual(statuses(dm.instances('rabbit shop')), {
    '/vm1': 'DEPLOYED_STARTED', '/vm1/db': 'DEPLOYED_STARTED', '/vm2': 'DEPLOYED_STARTED', '/vm2/app': 'DEPLOYED_STARTED'
  })
  // and the DM still drives them: stop the app, then undeploy everything
  dm.changeState('rabbit shop', '/vm2/app', 'DEPLOYED_STOPPED')
  await waitFor('app stopped', () => dm.instance('rabbit shop', '/vm2/app').status === 'DEPLOYED_STOPPED')
  t.true(after.includes('/vm2/app DEPLOYED_STOPPED'))
  dm.action('rabbit shop', { action: 'undeploy-all' })
  await waitFor('undeployed', () => Object.values(statuses(dm.instances('rabbit shop'))).every(s => s === 'NOT_DEPLOYED'))
  await dm.deleteApplication('rabbit shop')
})
