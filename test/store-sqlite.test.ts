// The DM's SQLite store: what is written is there after the file is closed and opened again (a DM restart).
import test from 'ava'
import { join } from 'node:path'
import type { ApplicationTemplate, Instance } from '../protocol/model/types.js'
import Database from 'better-sqlite3'
import { setTimeout as sleep } from 'node:timers/promises'
import { HEARTBEAT_FLUSH_INTERVAL_MS } from '../manager/constants.js'
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
  // one instance without its subtree reads as the same values (its JSON columns are decoded when first read)
  const { children: _, ...a } = vm?.children[0] as NonNullable<typeof vm>
  t.deepEqual({ ...store.instanceAt('app', '/vm/a') }, a)
  t.deepEqual(JSON.parse(JSON.stringify(store.instanceAt('app', '/vm/a'))), JSON.parse(JSON.stringify(a)))
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

test('heartbeats are read at once; those that change only their time are written together within the flush interval; a deleted application drops its own', async t => {
  const dir = tempDir('store-beats')
  t.teardown(() => dir.remove())
  const file = join(dir.path, 'dm.sqlite')
  const store = createStore({ file })
  t.teardown(() => store.close())
  const other = new Database(file, { readonly: true })
  t.teardown(() => other.close())
  const written = (): string[] => (other.prepare('SELECT application, scoped_path, last_heartbeat_at FROM agents ORDER BY application, scoped_path').all() as Array<{ application: string, scoped_path: string, last_heartbeat_at: string }>)
    .map(r => `${r.application}${r.scoped_path}@${r.last_heartbeat_at}`)
  for (const app of ['app', 'gone']) {
    store.createApplication({ name: app, template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, [instance('/vm', 'VM'), instance('/vm2', 'VM')])
  }
  const beat = (application: string, scopedInstancePath: string, at: string): void => {
    store.recordHeartbeat({ application, scopedInstancePath, listenAddresses: [], lastHeartbeatAt: at, ...(scopedInstancePath === '/vm' ? { domainAddresses: ['/ip4/1.2.3.4/tcp/1'] } : {}) })
  }
  // first beats (new agents, or the first since the DM started) are written at once
  for (const [application, path] of [['app', '/vm2'], ['app', '/vm'], ['gone', '/vm']]) beat(application, path, 't1')
  t.deepEqual(written(), ['app/vm@t1', 'app/vm2@t1', 'gone/vm@t1'])
  // later beats that change nothing but their time: the DM's reads see them before the table does
  for (const [application, path] of [['app', '/vm2'], ['app', '/vm'], ['gone', '/vm']]) beat(application, path, 't2')
  t.deepEqual(written(), ['app/vm@t1', 'app/vm2@t1', 'gone/vm@t1'])
  t.deepEqual(store.agents('app').map(a => `${a.scopedInstancePath}@${a.lastHeartbeatAt}`), ['/vm@t2', '/vm2@t2'])
  t.deepEqual(store.agent('app', '/vm')?.domainAddresses, ['/ip4/1.2.3.4/tcp/1'])
  t.true(store.deleteApplication('gone'))
  await sleep(HEARTBEAT_FLUSH_INTERVAL_MS + 500)
  t.deepEqual(written(), ['app/vm@t2', 'app/vm2@t2'])
  // a later beat wins over the row, in reads at once and in the table at the next flush
  beat('app', '/vm', 't3')
  t.deepEqual(store.agents('app').map(a => `${a.scopedInstancePath}@${a.lastHeartbeatAt}`), ['/vm@t3', '/vm2@t2'])
  t.is(store.agent('app', '/vm2')?.lastHeartbeatAt, 't2')
  // a forgotten agent's buffered beat is not written later
  store.forgetAgent('app', '/vm')
  t.deepEqual(store.agents('app').map(a => a.scopedInstancePath), ['/vm2'])
  await sleep(HEARTBEAT_FLUSH_INTERVAL_MS + 500)
  t.deepEqual(written(), ['app/vm2@t2'])
})

test('a beat that brings an agent\'s peer or addresses is in the table at once: a DM killed -9 right after it still knows where the agent listens', t => {
  const dir = tempDir('store-beats-kill')
  t.teardown(() => dir.remove())
  const file = join(dir.path, 'dm.sqlite')
  const store = createStore({ file })
  t.teardown(() => store.close())
  // what a DM started on the file after a kill -9 reads: the table, without what the dead process buffered
  const afterKill = new Database(file, { readonly: true })
  t.teardown(() => afterKill.close())
  const listening = (): string[] => (afterKill.prepare('SELECT scoped_path, peer_id, listen_addresses FROM agents ORDER BY scoped_path').all() as Array<{ scoped_path: string, peer_id: string | null, listen_addresses: string }>)
    .map(r => `${r.scoped_path} ${r.peer_id ?? '-'} ${(JSON.parse(r.listen_addresses) as string[]).join(',')}`)
  store.createApplication({ name: 'app', template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, [instance('/vm', 'VM'), instance('/vm2', 'VM')])
  // an agent's first beat (no mesh yet), then the one right after its model (the mesh listens), then plain beats
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p1', listenAddresses: [], lastHeartbeatAt: 't1' })
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p1', listenAddresses: ['/ip4/127.0.0.1/tcp/4001/p2p/p1'], lastHeartbeatAt: 't2' })
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p1', listenAddresses: ['/ip4/127.0.0.1/tcp/4001/p2p/p1'], lastHeartbeatAt: 't3' })
  t.deepEqual(listening(), ['/vm p1 /ip4/127.0.0.1/tcp/4001/p2p/p1'])
  // the machine made again: a new peer at new addresses, at once too
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p2', listenAddresses: ['/ip4/127.0.0.1/tcp/4002/p2p/p2'], lastHeartbeatAt: 't4' })
  store.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm2', peerId: 'p3', listenAddresses: ['/ip4/127.0.0.1/tcp/4003/p2p/p3'], lastHeartbeatAt: 't4' })
  t.deepEqual(listening(), ['/vm p2 /ip4/127.0.0.1/tcp/4002/p2p/p2', '/vm2 p3 /ip4/127.0.0.1/tcp/4003/p2p/p3'])
  // a DM started on the same file (a restart) writes each agent's first beat at once again, whatever it buffered before
  const restarted = createStore({ file })
  t.teardown(() => restarted.close())
  restarted.recordHeartbeat({ application: 'app', scopedInstancePath: '/vm', peerId: 'p2', listenAddresses: ['/ip4/127.0.0.1/tcp/4002/p2p/p2'], lastHeartbeatAt: 't5' })
  t.deepEqual((afterKill.prepare('SELECT last_heartbeat_at FROM agents WHERE scoped_path = ?').get('/vm') as { last_heartbeat_at: string }).last_heartbeat_at, 't5')
})

test('the instances\' outline, kept between reads, follows every instance added, deleted or renamed, and a rollback', t => {
  const dir = tempDir('store-outline')
  t.teardown(() => dir.remove())
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  t.teardown(() => store.close())
  const paths = (): string[] => store.instanceOutline('app').map(r => `${r.path}:${r.component}`)
  t.deepEqual(paths(), [])
  store.putTemplate(template, [])
  store.createApplication({ name: 'app', template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, template.rootInstances)
  t.deepEqual(paths(), ['/vm:VM', '/vm/a:A'])
  // read twice without a change: the same outline (no query, no copy)
  t.is(store.instanceOutline('app'), store.instanceOutline('app'))
  store.addInstance('app', '/vm', instance('/vm/b', 'B'))
  t.deepEqual(paths(), ['/vm:VM', '/vm/a:A', '/vm/b:B'])
  store.renameInstance('app', '/vm/b', 'c')
  t.deepEqual(paths(), ['/vm:VM', '/vm/a:A', '/vm/c:B'])
  store.deleteInstance('app', '/vm/a')
  t.deepEqual(paths(), ['/vm:VM', '/vm/c:B'])
  // an addition rolled back: read inside the transaction, not kept
  t.throws(() => store.transaction(() => {
    store.addInstance('app', null, instance('/vm2', 'VM'))
    t.deepEqual(paths(), ['/vm:VM', '/vm/c:B', '/vm2:VM'])
    throw new Error('rolled back')
  }), { message: 'rolled back' })
  t.deepEqual(paths(), ['/vm:VM', '/vm/c:B'])
  // an application deleted and made again under the same name
  store.deleteApplication('app')
  t.deepEqual(paths(), [])
  store.createApplication({ name: 'app', template: { name: 'T', version: '1' }, createdAt: 'now', pnetKey: 'key' }, [instance('/other', 'VM')])
  t.deepEqual(paths(), ['/other:VM'])
})
