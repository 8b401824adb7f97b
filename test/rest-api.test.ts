// The REST API over real HTTP: every endpoint, bad input included (wrong types, unknown names, path traversal,
// oversized uploads), and 401 without the token. Machines are in-process agents over the in-memory messaging.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { loadOrCreateToken } from '../manager/auth.js'
import { zipFolder } from '../manager/zip.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createRestServer } from '../manager/rest/server.js'
import { createStore } from '../manager/store.js'
import { createExistingTarget } from '../manager/targets/existing.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { craftZip } from './helpers/zip.js'
import { waitFor } from './helpers/wait.js'

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

async function setup (t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const dir = tempDir('rest')
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createMemoryMessaging({})
  const target = createInProcessTarget({ machinesDirectory: join(dir.path, 'machines'), heartbeatIntervalMs: 200 })
  const existing = createExistingTarget({ machinesDirectory: join(dir.path, 'machines', 'existing'), agents: store, heartbeatWindowMs: 200, log: quiet })
  const dm = createDeploymentManager({ store, messaging, targets: [target, existing] }, { dataDirectory: dir.path, defaultTargetHandler: 'in-process' })
  await dm.start()
  const { token } = loadOrCreateToken(dir.path)
  const server = createRestServer({ dm, token, targets: [target, existing] }, { port: 0 })
  const url = await server.start()
  t.teardown(async () => {
    await server.stop()
    await target.close?.()
    await dm.stop()
    store.close()
    dir.remove()
  })
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: any }> => {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${token}`, ...headers } }
    if (Buffer.isBuffer(body)) {
      init.body = body
      init.headers = { 'content-type': 'application/zip', ...init.headers as Record<string, string> }
    } else if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body)
      init.headers = { 'content-type': 'application/json', ...init.headers as Record<string, string> }
    }
    const response = await fetch(url + path, init)
    const text = await response.text()
    return { status: response.status, json: text.length > 0 ? JSON.parse(text) : undefined }
  }
  const source = writeShopTemplate(join(dir.path, 'template'))
  return { dir, url, token, call, source, dm }
}

test('without the token every endpoint answers 401; the OpenAPI document is public and lists every endpoint', async t => {
  const { url, call } = await setup(t)
  const doc = await (await fetch(`${url}/openapi.json`)).json() as { openapi: string, paths: Record<string, Record<string, unknown>> }
  t.regex(doc.openapi, /^3\./)
  const expected = ['/api/templates', '/api/templates/{name}/{version}', '/api/applications', '/api/applications/{app}',
    '/api/applications/{app}/instances', '/api/applications/{app}/instances/replicate', '/api/applications/{app}/instances/state',
    '/api/applications/{app}/actions', '/api/targets', '/api/applications/{app}/targets', '/api/events',
    '/api/applications/{app}/instances/agent-params', '/api/applications/{app}/instances/rename', '/api/targets/{id}',
    '/api/applications/{app}/scale', '/api/applications/{app}/history',
    '/api/applications/{app}/commands', '/api/applications/{app}/commands/{name}', '/api/applications/{app}/commands/{name}/execute',
    '/api/schedules', '/api/schedules/{id}', '/api/applications/{app}/rules', '/api/applications/{app}/instances/describe',
    '/api/metrics/targets', '/api/applications/{app}/logs', '/api/applications/{app}/bindings', '/api/applications/{app}/bind',
    '/api/applications/{app}/unbind', '/api/applications/{app}/bind-x']
  t.deepEqual(Object.keys(doc.paths).sort(), expected.sort())
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const method of Object.keys(methods)) {
      const concrete = path.replace('{name}', 'Shop').replace('{version}', '1.0').replace('{app}', 'a')
      const response = await fetch(url + concrete, { method: method.toUpperCase() })
      t.is(response.status, 401, `${method} ${path}`)
      const body = await response.json() as { error: { code: string, message: string } }
      t.is(body.error.code, 'REST_UNAUTHORIZED')
      t.regex(body.error.message, /Authorization: Bearer/)
    }
  }
  // a wrong token is refused too
  t.is((await call('GET', '/api/templates', undefined, { authorization: 'Bearer nope' })).status, 401)
  // the events WebSocket refuses a connection without the token
  const refused = await new Promise<number>(resolve => {
    const socket = new WebSocket(url.replace('http', 'ws') + '/api/events')
    socket.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); socket.terminate() })
    socket.on('open', () => { resolve(101); socket.close() })
    socket.on('error', () => {})
  })
  t.is(refused, 401)
})

test('templates: zip upload, folder path, list, delete; bad input gets 4xx with a clear message', async t => {
  const { call, source, dir } = await setup(t)
  // a zip upload
  const loaded = await call('POST', '/api/templates', await zipFolder(source))
  t.is(loaded.status, 201)
  t.is(loaded.json.name, 'Shop')
  t.is(loaded.json.version, '1.0')
  t.deepEqual(loaded.json.errors.filter((e: { level: string }) => e.level === 'SEVERE'), [])
  // the same again: conflict
  const again = await call('POST', '/api/templates', await zipFolder(source))
  t.is(again.status, 409)
  t.is(again.json.error.code, 'REST_TEMPLATE_EXISTS')
  // a folder on the DM's host
  const v2 = writeShopTemplate(join(dir.path, 'template2'), { version: '2.0' })
  const fromPath = await call('POST', '/api/templates', { path: v2 })
  t.is(fromPath.status, 201)
  t.is(fromPath.json.version, '2.0')
  const list = await call('GET', '/api/templates')
  t.deepEqual(list.json.map((x: { name: string, version: string }) => `${x.name} ${x.version}`), ['Shop 1.0', 'Shop 2.0'])
  t.is(list.json[0].description, 'a database and its clients')

  // path traversal: in a zip entry, and in a folder path
  const evil = craftZip([{ name: 'descriptor/application.properties', data: Buffer.from('name = X\nversion = 1\n') },
    { name: '../../etc/evil.sh', data: Buffer.from('echo evil') }])
  const traversal = await call('POST', '/api/templates', evil)
  t.is(traversal.status, 400)
  t.is(traversal.json.error.code, 'REST_UNSAFE_PATH')
  t.regex(traversal.json.error.message, /\.\.\/\.\.\/etc\/evil\.sh/)
  const absolute = await call('POST', '/api/templates', craftZip([{ name: '/etc/evil.sh', data: Buffer.from('x') }]))
  t.is(absolute.status, 400)
  t.is(absolute.json.error.code, 'REST_UNSAFE_PATH')
  const dotdot = await call('POST', '/api/templates', { path: `${dir.path}/template/../template2` })
  t.is(dotdot.status, 400)
  t.is(dotdot.json.error.code, 'REST_UNSAFE_PATH')
  const relativePath = await call('POST', '/api/templates', { path: 'template' })
  t.is(relativePath.status, 400)
  t.regex(relativePath.json.error.message, /not absolute/)
  const missing = await call('POST', '/api/templates', { path: join(dir.path, 'nothing-here') })
  t.is(missing.status, 400)
  t.regex(missing.json.error.message, /nothing at/)
  // not a zip, wrong JSON types, unknown fields, broken JSON, unsupported content type
  const garbage = await call('POST', '/api/templates', Buffer.from('this is not a zip'))
  t.is(garbage.status, 400)
  t.is(garbage.json.error.code, 'REST_TEMPLATE_SOURCE')
  const wrongType = await call('POST', '/api/templates', { path: 42 })
  t.is(wrongType.status, 400)
  t.is(wrongType.json.error.code, 'REST_VALIDATION')
  t.regex(wrongType.json.error.message, /path/)
  t.is((await call('POST', '/api/templates', { path: v2, extra: true })).status, 400)
  const broken = await call('POST', '/api/templates', '{"path": ')
  t.is(broken.status, 400)
  const text = await call('POST', '/api/templates', 'hello', { 'content-type': 'text/plain' })
  t.is(text.status, 415)
  t.regex(text.json.error.message, /application\/zip/)
  // a template with severe model errors: 400 with the errors as details
  writeFileSync(join(v2, 'graph/main.graph'), 'VM {\n  installer: target;\n  children: Nowhere;\n}\n')
  writeFileSync(join(v2, 'descriptor/application.properties'), 'name = Broken\nversion = 1\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n')
  const invalid = await call('POST', '/api/templates', { path: v2 })
  t.is(invalid.status, 400)
  t.is(invalid.json.error.code, 'REST_INVALID_TEMPLATE')
  t.true(invalid.json.error.details.length > 0)
  t.true(invalid.json.error.details.some((e: { level: string }) => e.level === 'SEVERE'))

  // delete: unknown 404, in use 409, else 204
  t.is((await call('DELETE', '/api/templates/Shop/9.9')).status, 404)
  t.is((await call('POST', '/api/applications', { name: 'uses-v1', template: { name: 'Shop', version: '1.0' } })).status, 201)
  const inUse = await call('DELETE', '/api/templates/Shop/1.0')
  t.is(inUse.status, 409)
  t.regex(inUse.json.error.message, /uses-v1/)
  t.is((await call('DELETE', '/api/templates/Shop/2.0')).status, 204)
  t.deepEqual((await call('GET', '/api/templates')).json.map((x: { version: string }) => x.version), ['1.0'])
})

test('a 50 MB upload gets 413 with a clear message', async t => {
  const { url, token } = await setup(t)
  const big = Buffer.alloc(50 * 1024 * 1024, 7)
  const response = await fetch(`${url}/api/templates`, {
    method: 'POST', body: big, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' }
  })
  t.is(response.status, 413)
  const body = await response.json() as { error: { code: string, message: string } }
  t.is(body.error.code, 'REST_PAYLOAD_TOO_LARGE')
  t.regex(body.error.message, /larger than 20 MB/)
})

test('applications, instances, states, actions, targets and events through REST', async t => {
  const { call, source, url, token } = await setup(t)
  t.is((await call('POST', '/api/templates', { path: source })).status, 201)
  // create: bad input first
  t.is((await call('POST', '/api/applications', { name: 5, template: { name: 'Shop', version: '1.0' } })).json.error.code, 'REST_VALIDATION')
  t.is((await call('POST', '/api/applications', { name: 'x' })).status, 400)
  t.is((await call('POST', '/api/applications', { name: '../etc', template: { name: 'Shop', version: '1.0' } })).status, 400)
  const noTemplate = await call('POST', '/api/applications', { name: 'x', template: { name: 'Shop', version: '7' } })
  t.is(noTemplate.status, 404)
  t.is(noTemplate.json.error.code, 'REST_TEMPLATE_NOT_FOUND')
  const created = await call('POST', '/api/applications', { name: 'web', template: { name: 'Shop', version: '1.0' }, description: 'd' })
  t.is(created.status, 201)
  t.like(created.json, { name: 'web', template: { name: 'Shop', version: '1.0' }, description: 'd' })
  t.is((await call('POST', '/api/applications', { name: 'web', template: { name: 'Shop', version: '1.0' } })).status, 409)
  const list = await call('GET', '/api/applications')
  t.deepEqual(list.json.map((a: { name: string }) => a.name), ['web'])
  t.truthy(list.json[0].createdAt)
  const one = await call('GET', '/api/applications/web')
  t.deepEqual(statuses(one.json.instances), { '/vm1': 'NOT_DEPLOYED', '/vm1/db': 'NOT_DEPLOYED', '/vm2': 'NOT_DEPLOYED', '/vm2/app': 'NOT_DEPLOYED' })
  // unknown application, everywhere
  for (const [method, path, body] of [['GET', '/api/applications/nope'], ['DELETE', '/api/applications/nope'],
    ['GET', '/api/applications/nope/instances'], ['POST', '/api/applications/nope/instances', { name: 'a', component: 'VM' }],
    ['POST', '/api/applications/nope/instances/replicate', { path: '/vm1', newName: 'b' }],
    ['DELETE', '/api/applications/nope/instances?path=/vm1'],
    ['POST', '/api/applications/nope/instances/state', { path: '/vm1', state: 'DEPLOYED_STARTED' }],
    ['POST', '/api/applications/nope/actions', { action: 'stop-all' }],
    ['POST', '/api/applications/nope/targets', { targetId: 'default' }]] as Array<[string, string, unknown?]>) {
    const answer = await call(method, path, body)
    t.is(answer.status, 404, `${method} ${path}`)
    t.is(answer.json.error.code, 'REST_APPLICATION_NOT_FOUND', `${method} ${path}`)
  }

  // instances: add (bad component, bad parent, wrong place, duplicate), replicate, delete
  const badComponent = await call('POST', '/api/applications/web/instances', { parentPath: '/vm1', name: 'x', component: 'Nope' })
  t.is(badComponent.status, 400)
  t.regex(badComponent.json.error.message, /App, DB, VM/)
  t.is((await call('POST', '/api/applications/web/instances', { parentPath: '/nope', name: 'x', component: 'App' })).status, 404)
  t.is((await call('POST', '/api/applications/web/instances', { name: 'x', component: 'App' })).json.error.code, 'REST_INVALID_INSTANCE')
  t.is((await call('POST', '/api/applications/web/instances', { parentPath: '/vm1/db', name: 'x', component: 'App' })).status, 400)
  t.is((await call('POST', '/api/applications/web/instances', { parentPath: '/vm1', name: 'a/b', component: 'App' })).status, 400)
  t.is((await call('POST', '/api/applications/web/instances', { parentPath: '/vm1', name: 'db', component: 'DB' })).status, 409)
  t.is((await call('POST', '/api/applications/web/instances', { parentPath: '/vm1', name: 'x', component: 'App', overriddenExports: { port: 1 } })).status, 400)
  const added = await call('POST', '/api/applications/web/instances', { parentPath: '/vm1', name: 'app b', component: 'App', overriddenExports: { 'App.port': '9999' } })
  t.is(added.status, 201)
  t.like(added.json, { name: 'app b', path: '/vm1/app b', component: 'App', status: 'NOT_DEPLOYED', overriddenExports: { 'App.port': '9999' } })
  const root = await call('POST', '/api/applications/web/instances', { name: 'vm9', component: 'VM' })
  t.is(root.status, 201)
  t.is((await call('POST', '/api/applications/web/instances/replicate', { path: '/vm1/db', newName: 'z' })).status, 400)
  t.is((await call('POST', '/api/applications/web/instances/replicate', { path: '/vm1', newName: 'vm2' })).status, 409)
  t.is((await call('POST', '/api/applications/web/instances/replicate', { path: 'vm1', newName: 'vm3' })).status, 400)
  const replica = await call('POST', '/api/applications/web/instances/replicate', { path: '/vm2', newName: 'vm3' })
  t.is(replica.status, 201)
  t.deepEqual(statuses([replica.json]), { '/vm3': 'NOT_DEPLOYED', '/vm3/app': 'NOT_DEPLOYED' })
  t.is((await call('DELETE', '/api/applications/web/instances?path=/vm9')).status, 204)
  t.is((await call('DELETE', '/api/applications/web/instances?path=/vm9')).status, 404)
  t.is((await call('DELETE', '/api/applications/web/instances')).status, 400)
  t.is((await call('DELETE', '/api/applications/web/instances?path=/vm1/app%20b')).status, 204)

  // targets: list (the default first), create (bad handler, duplicate), associate
  const targets = await call('GET', '/api/targets')
  t.deepEqual(targets.json[0], { id: 'default', handler: 'in-process', name: 'default target (in-process)', properties: {} })
  t.is((await call('POST', '/api/targets', { id: 'cloud', handler: 'iaas-ec2' })).status, 400)
  t.is((await call('POST', '/api/targets', { id: 'bad id!', handler: 'in-process' })).status, 400)
  const localTarget = await call('POST', '/api/targets', { id: 'local-1', handler: 'local', name: 'not on this DM' })
  t.is(localTarget.status, 400)
  t.is(localTarget.json.error.code, 'REST_UNKNOWN_TARGET_HANDLER')
  t.is((await call('POST', '/api/targets', { id: 'mem', handler: 'in-process', properties: { a: 'b' } })).status, 201)
  t.is((await call('POST', '/api/targets', { id: 'mem', handler: 'in-process' })).status, 409)
  t.deepEqual((await call('GET', '/api/targets')).json.map((x: { id: string }) => x.id), ['default', 'mem'])
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'nope' })).status, 404)
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'mem', path: '/vm1/db' })).status, 400)
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'mem', component: 'VM' })).status, 204)
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'mem', path: '/vm1' })).status, 204)
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'mem' })).status, 204)

  // events over WebSocket, filtered by application
  const socket = new WebSocket(`${url.replace('http', 'ws')}/api/events?application=web`, { headers: { authorization: `Bearer ${token}` } })
  const received: Array<{ type: string, application: string, path: string, status: string, at: string }> = []
  socket.on('message', data => received.push(JSON.parse(data.toString())))
  await new Promise(resolve => socket.once('open', resolve))
  t.teardown(() => socket.close())

  // states: bad state, machine cannot be stopped, child of an undeployed machine
  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/vm1', state: 'STARTING' })).status, 400)
  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/vm1', state: 'DEPLOYED_STOPPED' })).status, 409)
  const early = await call('POST', '/api/applications/web/instances/state', { path: '/vm1/db', state: 'DEPLOYED_STARTED' })
  t.is(early.status, 409)
  t.regex(early.json.error.message, /deploy it first/)
  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/nope', state: 'DEPLOYED_STARTED' })).status, 404)
  // actions: bad action, unknown component, then deploy and start everything
  t.is((await call('POST', '/api/applications/web/actions', { action: 'explode' })).status, 400)
  t.is((await call('POST', '/api/applications/web/actions', { action: 'stop-all', component: 'Nope' })).status, 400)
  t.is((await call('POST', '/api/applications/web/actions', { action: 'deploy-and-start-all' })).status, 202)
  await waitFor('all started', async () => {
    const tree = (await call('GET', '/api/applications/web/instances')).json
    return Object.values(statuses(tree)).every(s => s === 'DEPLOYED_STARTED')
  })
  t.true(received.some(e => e.type === 'instance' && e.application === 'web' && e.path === '/vm3/app' && e.status === 'DEPLOYED_STARTED'))
  t.true(received.every(e => e.application === 'web' && typeof e.at === 'string'))
  // a deployed subtree cannot be deleted
  const deployed = await call('DELETE', '/api/applications/web/instances?path=/vm3')
  t.is(deployed.status, 409)
  t.regex(deployed.json.error.message, /undeploy/)
  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/vm1/db', state: 'DEPLOYED_STOPPED' })).status, 202)
  await waitFor('db stopped', async () => (await call('GET', '/api/applications/web')).json.instances[0].children[0].status === 'DEPLOYED_STOPPED')
  t.is((await call('POST', '/api/applications/web/actions', { action: 'undeploy-all', path: '/vm3' })).status, 202)
  await waitFor('vm3 undeployed', async () => {
    const tree = (await call('GET', '/api/applications/web/instances')).json
    return statuses(tree)['/vm3'] === 'NOT_DEPLOYED'
  })
  // delete the application: machines terminated, then gone
  t.is((await call('DELETE', '/api/applications/web')).status, 204)
  t.deepEqual((await call('GET', '/api/applications')).json, [])
  t.true(received.some(e => e.type === 'application'))
  // unknown routes
  t.is((await call('GET', '/api/nothing')).status, 404)
})

test('agent params of a machine of the existing target; bad input gets 4xx with a clear message', async t => {
  const { call, source } = await setup(t)
  t.is((await call('POST', '/api/templates', { path: source })).status, 201)
  t.is((await call('POST', '/api/applications', { name: 'web', template: { name: 'Shop', version: '1.0' } })).status, 201)
  t.is((await call('POST', '/api/targets', { id: 'vms', handler: 'existing', properties: { 'agent.state-dir': '/srv/agent' } })).status, 201)
  t.is((await call('POST', '/api/applications/web/targets', { targetId: 'vms', path: '/vm1' })).status, 204)
  const params = (path: string): Promise<{ status: number, json: any }> => call('GET', `/api/applications/web/instances/agent-params?path=${encodeURIComponent(path)}`)

  // before the DM asks for the machine, there is nothing to hand over
  const early = await params('/vm1')
  t.is(early.status, 409)
  t.is(early.json.error.code, 'REST_NO_AGENT_PARAMS')
  t.regex(early.json.error.message, /not a deployed machine \(deploy it first/)

  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/vm1', state: 'DEPLOYED_STARTED' })).status, 202)
  t.is((await call('POST', '/api/applications/web/instances/state', { path: '/vm2', state: 'DEPLOYED_STARTED' })).status, 202)
  const handed = await waitFor('the params of /vm1', async () => { const r = await params('/vm1'); return r.status === 200 ? r.json : undefined })
  t.like(handed, { application: 'web', scopedInstancePath: '/vm1', stateDir: '/srv/agent' })
  t.truthy(handed.messaging)

  // a machine whose target starts its agent itself, a child instance, and unknown or missing names
  await waitFor('/vm2 created', async () => (await call('GET', '/api/applications/web')).json.instances
    .find((i: { path: string }) => i.path === '/vm2')?.data['machine.id'] !== undefined)
  const inProcess = await params('/vm2')
  t.is(inProcess.status, 409)
  t.regex(inProcess.json.error.message, /its target handler \(in-process\) starts the agent itself/)
  t.is((await params('/vm1/db')).status, 409)
  t.is((await params('/nope')).status, 404)
  t.is((await call('GET', '/api/applications/nope/instances/agent-params?path=%2Fvm1')).status, 404)
  const noPath = await call('GET', '/api/applications/web/instances/agent-params')
  t.is(noPath.status, 400)
  t.is(noPath.json.error.code, 'REST_VALIDATION')
})
