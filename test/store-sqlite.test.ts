// The DM's SQLite store: what is written is there after the file is closed and opened again (a DM restart).
import test from 'ava'
import { join } from 'node:path'
import type { ApplicationTemplate, Instance } from '../protocol/model/types.js'
import { createStore } from '../manager/store.js'
import { tempDir } from './dm-helpers.js'

function instance (path: string, component: string, children: Instance[] = []): Instance {
  return { name: path.split('/').pop() as string, path, component, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children }
}

const template: ApplicationTemplate = {
  descriptor: { name: 'T', version: '1', description: 'd', graphEntryPoint: 'g.graph', externalExports: {}, tags: [] },
  components: {},
  rootInstances: [instance('/vm', 'VM', [instance('/vm/a', 'A')])],
  files: { 'graph/A/scripts/start.sh': new Uint8Array([0, 1, 2, 255]) },
  targets: {}
}

test('templates, applications, instances, targets, agents and pending messages survive a reopen', t => {
  const dir = tempDir('store')
  t.teardown(() => dir.remove())
  const file = join(dir.path, 'dm.sqlite')
  let store = createStore({ file })
  store.putTemplate(template, [{ code: 'W', level: 'WARNING', message: 'w' }])
  store.createApplication({ name: 'app', template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, template.rootInstances)
  store.addInstance('app', '/vm', instance('/vm/b', 'A', [instance('/vm/b/c', 'C')]))
  // a sibling whose name starts like /vm must not count as part of /vm's subtree
  store.addInstance('app', null, instance('/vm2', 'VM'))
  store.setStatus('app', '/vm', 'DEPLOYING')
  store.updateData('app', '/vm', { 'machine.id': 'm-1', 'ip.address': '10.0.0.2' })
  store.updateData('app', '/vm', { 'ip.address': null })
  store.setImports('app', '/vm/a', { DB: [{ instancePath: '/db', component: 'DB', variables: { 'DB.port': '1' } }] })
  store.putTarget({ id: 'tg', handler: 'local', properties: { a: 'b' } })
  store.associateTarget('app', { kind: 'component', component: 'VM' }, 'tg')
  store.associateTarget('app', { kind: 'path', path: '/vm' }, 'tg')
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p', listenAddresses: ['/ip4/1.2.3.4/tcp/1'], lastHeartbeatAt: 'then' })
  store.enqueue('app', '/vm', { v: 1, kind: 'resendStates' })
  store.enqueue('app', '/vm', { v: 1, kind: 'changeState', instancePath: '/vm/a', newState: 'DEPLOYED_STARTED' })
  store.bind('app', 'Ext', 'other')
  store.close()

  store = createStore({ file })
  t.teardown(() => store.close())
  const loaded = store.getTemplate('T', '1')
  t.deepEqual(loaded?.template.files['graph/A/scripts/start.sh'], new Uint8Array([0, 1, 2, 255]))
  t.deepEqual(loaded?.errors.map(e => e.code), ['W'])
  t.deepEqual(store.listTemplates().map(x => x.description), ['d'])
  t.deepEqual(store.applicationsUsingTemplate('T', '1'), ['app'])
  t.is(store.getApplication('app')?.pnetKey, 'key')
  const vm = store.getInstance('app', '/vm')
  t.is(vm?.status, 'DEPLOYING')
  t.deepEqual(vm?.data, { 'machine.id': 'm-1' })
  t.deepEqual(vm?.children.map(c => c.path), ['/vm/a', '/vm/b'])
  t.deepEqual(vm?.children[1].children.map(c => c.path), ['/vm/b/c'])
  t.is(vm?.children[0].imports.DB[0].variables['DB.port'], '1')
  t.deepEqual(store.instanceTrees('app').map(r => r.path), ['/vm', '/vm2'])
  t.deepEqual(store.targetAssociations('app').map(a => a.scope), [{ kind: 'component', component: 'VM' }, { kind: 'path', path: '/vm' }])
  t.deepEqual(store.getTarget('tg')?.properties, { a: 'b' })
  t.deepEqual(store.agents('app')[0].listenAddresses, ['/ip4/1.2.3.4/tcp/1'])
  t.deepEqual(store.pending('app', '/vm').map(p => p.message.kind), ['resendStates', 'changeState'])
  t.deepEqual(store.bindings('app'), { Ext: ['other'] })

  // deleting a subtree leaves the sibling with a similar name alone
  store.deleteInstance('app', '/vm/b')
  t.deepEqual(store.getInstance('app', '/vm')?.children.map(c => c.path), ['/vm/a'])
  t.truthy(store.getInstance('app', '/vm2'))
  // forgetting an agent drops its pending messages; deleting the application drops everything it had
  store.forgetAgent('app', '/vm')
  t.deepEqual(store.pending('app', '/vm'), [])
  store.enqueue('app', '/vm2', { v: 1, kind: 'resendStates' })
  t.true(store.deleteApplication('app'))
  t.is(store.getInstance('app', '/vm2'), undefined)
  t.deepEqual(store.pending('app', '/vm2'), [])
  t.deepEqual(store.targetAssociations('app'), [])
  t.true(store.deleteTemplate('T', '1'))
})

test('an instance path already in the application is refused by the database', t => {
  const dir = tempDir('store-unique')
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  t.teardown(() => { store.close(); dir.remove() })
  store.createApplication({ name: 'app', template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, [instance('/vm', 'VM')])
  t.throws(() => store.addInstance('app', null, instance('/vm', 'VM')), { any: true, code: 'SQLITE_CONSTRAINT_UNIQUE' })
  // the failed insert changed nothing
  t.deepEqual(store.instanceTrees('app').map(r => r.path), ['/vm'])
})
