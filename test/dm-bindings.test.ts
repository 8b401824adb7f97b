// Inter-application bindings through the REST API (issue 21): list, bind, unbind, bind-x, Roboconf's refusals for
// unknown applications and prefixes, persistence across a DM restart, and the signed versions that grow with each
// change. Fixtures: Roboconf's inter-application pair (it-app-with-external-exports / -imports).
import test from 'ava'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createRestServer } from '../manager/rest/server.js'
import { createStore, type Store } from '../manager/store.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { tempDir } from './dm-helpers.js'
import { ROBOCONF_FIXTURES } from './helpers/corpus.js'

const EXPORTING = join(ROBOCONF_FIXTURES, 'valid', 'applications', 'it-app-with-external-exports')
const IMPORTING = join(ROBOCONF_FIXTURES, 'valid', 'applications', 'it-app-with-external-imports')

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

async function startDm (dir: string) {
  const store = createStore({ file: join(dir, 'dm.sqlite') })
  const target = createInProcessTarget({ machinesDirectory: join(dir, 'machines'), heartbeatIntervalMs: 200 })
  const dm = createDeploymentManager({ store, messaging: createMemoryMessaging({}), targets: [target], log: quiet }, { dataDirectory: dir, defaultTargetHandler: 'in-process' })
  await dm.start()
  const { token } = loadOrCreateToken(dir)
  const server = createRestServer({ dm, token }, { port: 0 })
  const url = await server.start()
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> => {
    const response = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, json: text.length > 0 ? JSON.parse(text) : undefined }
  }
  const stop = async (): Promise<void> => {
    await server.stop()
    await target.close?.()
    await dm.stop()
    store.close()
  }
  return { call, stop, store }
}

async function withApplications (dir: string) {
  const dm = await startDm(dir)
  for (const path of [EXPORTING, IMPORTING]) t0((await dm.call('POST', '/api/templates', { path })).status, 201)
  for (const [name, template] of [['Lamp 1', 'LAMP'], ['Lamp 2', 'LAMP'], ['Esb', 'Petals']]) {
    const version = template === 'LAMP' ? '1.0' : '2.0'
    t0((await dm.call('POST', '/api/applications', { name, template: { name: template, version } })).status, 201)
  }
  return dm
}

/** Set-up steps fail loudly: the assertions are the tests'. */
function t0 (actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`set-up request answered ${actual}, expected ${expected}`)
}

const bound = (view: { prefixes: Record<string, Array<{ application: string, bound: boolean }>> }, prefix: string): string[] =>
  (view.prefixes[prefix] ?? []).filter(a => a.bound).map(a => a.application)

test('bind, unbind and bind-x change the set an application imports a prefix from; the list shows every exporter', async t => {
  const dir = tempDir('bindings')
  t.teardown(dir.remove)
  const dm = await withApplications(dir.path)
  t.teardown(dm.stop)

  const listed = await dm.call('GET', '/api/applications/Esb/bindings')
  t.is(listed.status, 200)
  t.deepEqual(listed.json, { application: 'Esb', prefixes: { Lamp: [{ application: 'Lamp 1', bound: false }, { application: 'Lamp 2', bound: false }] } })
  // the exporting application imports nothing external
  t.deepEqual((await dm.call('GET', '/api/applications/Lamp%201/bindings')).json, { application: 'Lamp 1', prefixes: {} })

  const afterBind = await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp', application: 'Lamp 1' })
  t.is(afterBind.status, 200)
  t.deepEqual(bound(afterBind.json, 'Lamp'), ['Lamp 1'])
  t.is(dm.store.bindingVersion('Esb', 'Lamp'), 1)
  // binding again changes nothing, and signs nothing new
  t.deepEqual(bound((await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp', application: 'Lamp 1' })).json, 'Lamp'), ['Lamp 1'])
  t.is(dm.store.bindingVersion('Esb', 'Lamp'), 1)

  t.deepEqual(bound((await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp', application: 'Lamp 2' })).json, 'Lamp'), ['Lamp 1', 'Lamp 2'])
  t.deepEqual(bound((await dm.call('POST', '/api/applications/Esb/bind-x', { prefix: 'Lamp', applications: ['Lamp 2'] })).json, 'Lamp'), ['Lamp 2'])
  t.deepEqual(bound((await dm.call('POST', '/api/applications/Esb/unbind', { prefix: 'Lamp', application: 'Lamp 2' })).json, 'Lamp'), [])
  t.deepEqual(bound((await dm.call('POST', '/api/applications/Esb/bind-x', { prefix: 'Lamp', applications: ['Lamp 1', 'Lamp 2'] })).json, 'Lamp'), ['Lamp 1', 'Lamp 2'])
  t.is(dm.store.bindingVersion('Esb', 'Lamp'), 5)

  // an exporting application deleted: unbound everywhere (signed anew); one created again under its name is not bound
  t.is((await dm.call('DELETE', '/api/applications/Lamp%202')).status, 204)
  t.deepEqual(dm.store.bindings('Esb'), { Lamp: ['Lamp 1'] })
  t.is(dm.store.bindingVersion('Esb', 'Lamp'), 6)
  t0((await dm.call('POST', '/api/applications', { name: 'Lamp 2', template: { name: 'LAMP', version: '1.0' } })).status, 201)
  t.deepEqual(bound((await dm.call('GET', '/api/applications/Esb/bindings')).json, 'Lamp'), ['Lamp 1'])
})

test('unknown applications and prefixes are refused as Roboconf refuses them, and nothing changes', async t => {
  const dir = tempDir('bindings-refused')
  t.teardown(dir.remove)
  const dm = await withApplications(dir.path)
  t.teardown(dm.stop)

  const noImporter = await dm.call('POST', '/api/applications/Nope/bind', { prefix: 'Lamp', application: 'Lamp 1' })
  t.is(noImporter.status, 404)
  t.is(noImporter.json.error.code, 'REST_APPLICATION_NOT_FOUND')

  const noExporter = await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp', application: 'Lamp 9' })
  t.is(noExporter.status, 403)
  t.is(noExporter.json.error.code, 'REST_BINDING_REFUSED')
  t.regex(noExporter.json.error.message, /^Application Lamp 9 does not exist\. /)

  const wrongPrefix = await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lb', application: 'Lamp 1' })
  t.is(wrongPrefix.status, 403)
  t.regex(wrongPrefix.json.error.message, /^Application Lamp 1's template does not have Lb as external exports prefix\. no application exports Lb/)

  // an application that exports nothing cannot be bound, even for its own name
  const notExporting = await dm.call('POST', '/api/applications/Lamp%201/bind', { prefix: 'Petals', application: 'Esb' })
  t.is(notExporting.status, 403)
  t.regex(notExporting.json.error.message, /^Application Esb's template does not have Petals as external exports prefix\./)

  // bind-x checks every application before changing anything
  const mixed = await dm.call('POST', '/api/applications/Esb/bind-x', { prefix: 'Lamp', applications: ['Lamp 1', 'Ghost'] })
  t.is(mixed.status, 403)
  t.regex(mixed.json.error.message, /^Application Ghost does not exist\./)

  const invalid = await dm.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp' })
  t.is(invalid.status, 400)
  t.is(invalid.json.error.code, 'REST_VALIDATION')

  t.deepEqual(bound((await dm.call('GET', '/api/applications/Esb/bindings')).json, 'Lamp'), [])
  t.is(dm.store.bindingVersion('Esb', 'Lamp'), 0)
})

test('bindings and their versions survive a DM restart', async t => {
  const dir = tempDir('bindings-restart')
  t.teardown(dir.remove)
  const first = await withApplications(dir.path)
  await first.call('POST', '/api/applications/Esb/bind', { prefix: 'Lamp', application: 'Lamp 2' })
  await first.stop()

  const second = await startDm(dir.path)
  t.teardown(second.stop)
  t.deepEqual(bound((await second.call('GET', '/api/applications/Esb/bindings')).json, 'Lamp'), ['Lamp 2'])
  const store: Store = second.store
  t.is(store.bindingVersion('Esb', 'Lamp'), 1)
  await second.call('POST', '/api/applications/Esb/unbind', { prefix: 'Lamp', application: 'Lamp 2' })
  t.is(store.bindingVersion('Esb', 'Lamp'), 2)
})
