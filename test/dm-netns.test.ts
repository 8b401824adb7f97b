// The netns target for real (needs root): each machine is an agent in its own network namespace with its own
// address on a private /24 the test picks; agents reach the DM's endpoint through the bridge and each other over
// the libp2p mesh. Undeploying removes the namespaces, and the bridge with the last one.
import test from 'ava'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createStore } from '../manager/store.js'
import { createNetnsTarget, endpointFromNamespace, netnsNames } from '../manager/targets/netns.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

test('the endpoint handed to a namespace points at the bridge instead of the host loopback', t => {
  t.deepEqual(endpointFromNamespace({ kind: 'embedded', url: 'ws://0.0.0.0:7401/agents', token: 'x' }, '10.1.2.1'),
    { kind: 'embedded', url: 'ws://10.1.2.1:7401/agents', token: 'x' })
  t.deepEqual(endpointFromNamespace({ kind: 'amqp', url: 'amqp://guest:guest@127.0.0.1:5672', domain: 'd' }, '10.1.2.1'),
    { kind: 'amqp', url: 'amqp://guest:guest@10.1.2.1:5672', domain: 'd' })
  t.deepEqual(endpointFromNamespace({ kind: 'embedded', url: 'ws://192.0.2.7:7401/agents', token: 'x' }, '10.1.2.1'),
    { kind: 'embedded', url: 'ws://192.0.2.7:7401/agents', token: 'x' })
})

const canCreateNamespaces = process.getuid?.() === 0 && ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some(existsSync)

test('machines in network namespaces, each with its own address, deployed and started', async t => {
  t.timeout(240_000)
  if (!canCreateNamespaces) {
    t.fail('this test needs root and iproute2 (the CI runs as root)')
    return
  }
  const dir = tempDir('dm-netns')
  const subnet = `10.213.${100 + Math.floor(Math.random() * 150)}`
  const { token } = loadOrCreateToken(dir.path)
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  // agents in namespaces reach the endpoint through the bridge: listen on every address (token-protected)
  const messaging = createEmbeddedMessaging({ dmToken: token, port: 0, host: '0.0.0.0' })
  const target = createNetnsTarget({ machinesDirectory: join(dir.path, 'machines'), subnet, agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 500 })
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet }, { dataDirectory: dir.path, defaultTargetHandler: 'netns' })
  await dm.start()
  t.teardown(async () => {
    // whatever the test left: machines terminated (namespaces and bridge removed)
    for (const root of dm.instances('mesh')) {
      const id = root.data['machine.id'] ?? root.data['machine.name']
      if (id !== undefined) await target.terminate(id).catch(() => {})
    }
    await dm.stop()
    store.close()
    dir.remove()
  })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'mesh', template: { name: 'Shop', version: '1.0' } })
  dm.action('mesh', { action: 'deploy-and-start-all' })
  await waitFor('started in namespaces', () => Object.values(statuses(dm.instances('mesh'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 180_000 })
  const vm1 = dm.instance('mesh', '/vm1')
  const vm2 = dm.instance('mesh', '/vm2')
  t.regex(vm1.data['ip.address'], new RegExp(`^${subnet.replaceAll('.', '\\.')}\\.\\d+$`))
  t.regex(vm2.data['ip.address'], new RegExp(`^${subnet.replaceAll('.', '\\.')}\\.\\d+$`))
  t.not(vm1.data['ip.address'], vm2.data['ip.address'])
  // the app imported the database's address inside the private network, over the mesh between namespaces
  const imported = store.getInstance('mesh', '/vm2/app')?.imports.DB?.[0]
  t.is(imported?.variables['DB.ip'], vm1.data['ip.address'])
  t.true(await target.isRunning(vm1.data['machine.id']))
  t.true(existsSync(`/run/netns/${netnsNames(vm1.data['machine.id']).namespace}`))

  dm.action('mesh', { action: 'undeploy-all' })
  await waitFor('undeployed', () => Object.values(statuses(dm.instances('mesh'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  t.false(await target.isRunning(vm1.data['machine.id']))
  t.false(existsSync(join(dir.path, 'machines', vm1.data['machine.id'])))
  t.false(existsSync(`/run/netns/${netnsNames(vm1.data['machine.id']).namespace}`))
  t.false(existsSync(`/run/netns/${netnsNames(vm2.data['machine.id']).namespace}`))
})
