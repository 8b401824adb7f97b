// Issue 21: an importer whose request for a bound external prefix goes unanswered (published before the topic's
// gossip mesh formed, or its answer lost) asks again on a bounded backoff; it keeps asking once it holds some export of
// the application (it cannot tell how many instances that application has), and an owner's answer repeats the
// withdraws of its epoch (a withdraw goes direct only: an importer cut off then would otherwise hold it on).
// Real DomainExchanges (signatures, bindings, ownerships) over the in-memory hub's transport, with its loss hook.
import test from 'ava'
import { DomainExchange, type DomainExchangeOptions } from '../agent/mesh/domain-exchange.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import type { MeshTransport } from '../agent/mesh/service.js'
import type { ImportListener } from '../agent/ports.js'
import { decodeDomainMessage, domainControlTopic, domainPnetKey, signBinding, signExternalOwnership } from '../protocol/domain.js'
import { createDmSigningKey, generatePnetKey, signOwnership, type DmSigningKey } from '../protocol/mesh.js'
import type { Import, MeshParameters, ScopedModel } from '../protocol/messages.js'
import type { Component, Instance } from '../protocol/model/types.js'
import { REQUEST_MIN_INTERVAL_MS } from '../agent/mesh/constants.js'
import { silentLogger } from '../common/log.js'
import { waitFor } from './helpers/wait.js'

const HOUR_MS = 3_600_000
const SCOPE = '/db vm'
const component = (name: string, exports: Record<string, string | null>, imports: string[]): Component => ({
  name, installer: 'logger', exports, randomExports: [], facets: [], extendsChain: [], children: [],
  imports: imports.map(i => ({ name: i, optional: false, external: true }))
})
const COMPONENTS = { Database: component('Database', { 'Database.ip': null }, []), Web: component('Web', {}, ['Db.ip']) }
const instance = (path: string, name: string): Instance => ({ name, component: name, path, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] })


function exchange (dmKey: DmSigningKey, peerId: string, exporter: boolean, imports: Map<string, Import>, scope = SCOPE,
  options: DomainExchangeOptions = {}): DomainExchange {
  const application = exporter ? 'Db' : 'Shop'
  const path = exporter ? scope : '/web vm'
  const model: ScopedModel = {
    application, scopedInstancePath: path, components: COMPONENTS, instance: instance(path, exporter ? 'Database' : 'Web'),
    externalExports: exporter ? { 'Database.ip': 'ip' } : {}, ...(exporter ? { externalExportsPrefix: 'Db' } : {})
  }
  const parameters: MeshParameters = {
    bootstrapPeers: [], pnetKey: generatePnetKey(), trustedDmKeys: [dmKey.publicKey],
    ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath: path, generation: 1 })
  }
  const listener: ImportListener = {
    importAdded: (prefix, exported) => { imports.set(exported.instancePath, exported) },
    importRemoved: (prefix, instancePath) => { imports.delete(instancePath) }
  }
  return new DomainExchange({
    model, parameters, listener, log: silentLogger,
    domain: {
      pnetKey: domainPnetKey(dmKey), bootstrapPeers: [],
      ...(exporter ? { ownership: signExternalOwnership(dmKey, { peerId, application, prefix: 'Db', scopedInstancePath: scope, generation: 1, expiresAt: Date.now() + HOUR_MS }) } : {}),
      bindings: exporter ? [] : [signBinding(dmKey, { application, prefix: 'Db', exporters: ['Db'], version: 1 })]
    }
  }, options)
}

/** Counts the requests a transport publishes. */
function countRequests (transport: MeshTransport, requests: number[]): MeshTransport {
  const publish = transport.publish.bind(transport)
  transport.publish = async (topic, data, options) => {
    if (decodeDomainMessage(data, topic).kind === 'request') requests.push(Date.now())
    return await publish(topic, data, options)
  }
  return transport
}

test('an unanswered request is asked again within the backoff bound, and the asking slows down once the export is held', async t => {
  const dmKey = createDmSigningKey()
  const hub = createMemoryMeshHub()
  const requests: number[] = []
  const dropped = 3
  // the exporter hears none of the first `dropped` requests (lost, or sent before the topic's mesh formed)
  hub.setLoss((from, to, topic) => {
    if (from !== 'importer' || topic !== domainControlTopic()) return false
    return requests.length <= dropped
  })
  const exporter = exchange(dmKey, 'exporter', true, new Map())
  exporter.start(hub.join('exporter', 'domain', exporter.transportEvents))
  exporter.announce(`${SCOPE}/database`, 'Database', { 'Database.ip': '192.0.2.10' })
  const imports = new Map<string, Import>()
  const importer = exchange(dmKey, 'importer', false, imports)
  importer.start(countRequests(hub.join('importer', 'domain', importer.transportEvents), requests))
  t.teardown(async () => { await Promise.all([importer.stop(), exporter.stop()]) })
  const startedAt = Date.now()
  importer.setInterests(new Set(['Db']))
  // the exporter's first announce went to nobody: only a request that reaches it brings the export
  // bound: the retries after the dropped ones, REQUEST_MIN_INTERVAL_MS · (1 + 2 + 4) · 1.2 of backoff, plus slack for load
  const boundMs = REQUEST_MIN_INTERVAL_MS * 7 * 1.2 + 10_000
  await waitFor('the export held after the dropped requests', () => imports.has(`${SCOPE}/database`), { timeoutMs: boundMs })
  t.true(requests.length > dropped, `requests sent: ${requests.length}`)
  t.true(Date.now() - startedAt <= boundMs)
  t.deepEqual(imports.get(`${SCOPE}/database`)?.variables, { 'Db.ip': '192.0.2.10' })
  // held: the asking goes on (another instance of Db may be missing), backing off: at most one more in the next
  // REQUEST_MIN_INTERVAL_MS · 4, the retries after the dropped ones being at least REQUEST_MIN_INTERVAL_MS · 8 apart
  const sent = requests.length
  await new Promise(resolve => setTimeout(resolve, REQUEST_MIN_INTERVAL_MS * 4))
  t.true(requests.length <= sent + 1, `requests: ${sent}, then ${requests.length}`)
})

test('an importer holding one instance of a bound application asks on until it holds the instance whose answer was lost', async t => {
  const dmKey = createDmSigningKey()
  const hub = createMemoryMeshHub()
  const requests: number[] = []
  const dropped = 2
  // the second Database's agent hears none of the first `dropped` requests; the first hears them all and answers
  hub.setLoss((from, to, topic) => from === 'importer' && to === 'exporter-2' && topic === domainControlTopic() && requests.length <= dropped)
  const exporters = [1, 2].map(i => {
    const scope = `/db vm ${i}`
    const exporter = exchange(dmKey, `exporter-${i}`, true, new Map(), scope)
    exporter.start(hub.join(`exporter-${i}`, 'domain', exporter.transportEvents))
    // announced before the importer is up: only an answer to its request brings it
    exporter.announce(`${scope}/database`, 'Database', { 'Database.ip': `192.0.2.${i}` })
    return exporter
  })
  const imports = new Map<string, Import>()
  const importer = exchange(dmKey, 'importer', false, imports)
  importer.start(countRequests(hub.join('importer', 'domain', importer.transportEvents), requests))
  t.teardown(async () => { await Promise.all([importer, ...exporters].map(async e => { await e.stop() })) })
  importer.setInterests(new Set(['Db']))
  await waitFor('the first Database held', () => imports.has('/db vm 1/database'), { timeoutMs: 10_000 })
  // before: one exporting application held, so no more requests, and the second Database was never heard of
  await waitFor('the second Database held too', () => imports.has('/db vm 2/database'), { timeoutMs: REQUEST_MIN_INTERVAL_MS * 7 * 1.2 + 10_000 })
  t.true(requests.length > dropped, `requests sent: ${requests.length}`)
  t.deepEqual(imports.get('/db vm 2/database')?.variables, { 'Db.ip': '192.0.2.2' })
})

test('a withdraw an importer missed (cut off at the time) reaches it with the answer to its next request', async t => {
  const dmKey = createDmSigningKey()
  const hub = createMemoryMeshHub()
  const exporter = exchange(dmKey, 'exporter', true, new Map())
  exporter.start(hub.join('exporter', 'domain', exporter.transportEvents))
  const imports = new Map<string, Import>()
  // the owner's grace is long: only the withdraw can take the import away
  const importer = exchange(dmKey, 'importer', false, imports, SCOPE, { livenessGraceMs: HOUR_MS })
  importer.start(hub.join('importer', 'domain', importer.transportEvents))
  t.teardown(async () => { await Promise.all([importer.stop(), exporter.stop()]) })
  importer.setInterests(new Set(['Db']))
  exporter.announce(`${SCOPE}/database`, 'Database', { 'Database.ip': '192.0.2.10' })
  await waitFor('the export held', () => imports.has(`${SCOPE}/database`), { timeoutMs: 10_000 })
  hub.setReachable('importer', false)
  exporter.withdraw(`${SCOPE}/database`)
  await new Promise(resolve => setImmediate(resolve))
  t.true(imports.has(`${SCOPE}/database`), 'the withdraw did not reach the importer, cut off')
  hub.setReachable('importer', true)
  await waitFor('the withdraw heard again', () => !imports.has(`${SCOPE}/database`), { timeoutMs: 10_000 })
  t.is(exporter.view().announced.length, 0)
})
