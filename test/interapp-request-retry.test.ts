// Issue 21: an importer whose request for a bound external prefix goes unanswered (published before the topic's
// gossip mesh formed, or its answer lost) asks again on a bounded backoff until it holds the export, then stops.
// Real DomainExchanges (signatures, bindings, ownerships) over the in-memory hub's transport, with its loss hook.
import test from 'ava'
import { DomainExchange } from '../agent/mesh/domain.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
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


function exchange (dmKey: DmSigningKey, peerId: string, exporter: boolean, imports: Map<string, Import>): DomainExchange {
  const application = exporter ? 'Db' : 'Shop'
  const path = exporter ? SCOPE : '/web vm'
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
      ...(exporter ? { ownership: signExternalOwnership(dmKey, { peerId, application, prefix: 'Db', scopedInstancePath: SCOPE, generation: 1, expiresAt: Date.now() + HOUR_MS }) } : {}),
      bindings: exporter ? [] : [signBinding(dmKey, { application, prefix: 'Db', exporters: ['Db'], version: 1 })]
    }
  })
}

test('an unanswered request is asked again within the backoff bound, and the asking stops once the export is held', async t => {
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
  const transport = hub.join('importer', 'domain', importer.transportEvents)
  const publish = transport.publish.bind(transport)
  transport.publish = async (topic, data, options) => {
    if (decodeDomainMessage(data, topic).kind === 'request') requests.push(Date.now())
    return await publish(topic, data, options)
  }
  importer.start(transport)
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
  // held: no more asking
  const sent = requests.length
  await new Promise(resolve => setTimeout(resolve, REQUEST_MIN_INTERVAL_MS * 4))
  t.is(requests.length, sent)
})
