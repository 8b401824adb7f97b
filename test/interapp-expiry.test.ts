// External ownerships expire and are renewed as an application's ownerships are (issue 16's rule, issue 21's
// records): an importer refuses an expired one and counts it; the DM's renewal (with the application ownership)
// makes the exporter announce again, and the importer takes it; an older machine generation than one seen for the
// same scope is refused. Two real domain exchanges (libp2p nodes on loopback) in this process.
import test, { type ExecutionContext } from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withDomainExchange, type DomainMeshHandle } from '../agent/mesh/domain.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import type { ImportListener } from '../agent/ports.js'
import { domainPnetKey, signBinding, signExternalOwnership, type SignedExternalOwnership } from '../protocol/domain.js'
import { createDmSigningKey, generatePnetKey, signOwnership, type DmSigningKey } from '../protocol/mesh.js'
import type { Import, MeshParameters, ScopedModel } from '../protocol/messages.js'
import type { Component, Instance } from '../protocol/model/types.js'
import type { MeshServiceHandle } from '../agent/mesh/service.js'
import { waitFor } from './helpers/wait.js'

const HOUR_MS = 3_600_000
const component = (name: string, exports: Record<string, string | null>, imports: string[]): Component => ({
  name, installer: 'logger', exports, randomExports: [], facets: [], extendsChain: [], children: [],
  imports: imports.map(i => ({ name: i, optional: false, external: true }))
})
const COMPONENTS = { Database: component('Database', { 'Database.ip': null }, []), Web: component('Web', {}, ['Db.ip']) }
const SCOPE = '/db vm'

function instance (path: string, name: string): Instance {
  return { name, component: name, path, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }
}

/** The application's own mesh, which these tests leave out: the domain exchange is what they judge. */
function noMesh (peerId: string): MeshServiceHandle {
  return {
    setInterests () {},
    announce () {},
    withdraw () {},
    request () {},
    peerId,
    listenAddresses: () => [],
    view: () => ({ peerId, application: '', scopedInstancePath: '', epoch: 0, addresses: [], connectedPeers: [], interests: [], announced: [], held: [], suspects: [], rejections: {}, sent: { messages: 0, bytes: 0 }, cached: { ownershipVerdicts: 0, stamps: 0, ownerPrefixStamps: 0, heardFrom: 0 } }),
    rejections: () => ({}),
    stop: async () => {}
  }
}

interface Started { handle: DomainMeshHandle, peerId: string, imports: Map<string, Import> }

async function start (t: ExecutionContext, dmKey: DmSigningKey, role: { application: string, path: string, external?: (peerId: string) => SignedExternalOwnership, bootstrap?: string[] }): Promise<Started> {
  const stateDir = mkdtempSync(join(tmpdir(), 'meshconf-interapp-expiry-'))
  const { privateKey, peerId } = await loadOrCreatePeerIdentity(stateDir)
  const exporter = role.external !== undefined
  const model: ScopedModel = {
    application: role.application, scopedInstancePath: role.path, components: COMPONENTS, instance: instance(role.path, exporter ? 'Database' : 'Web'),
    externalExports: exporter ? { 'Database.ip': 'ip' } : {}, ...(exporter ? { externalExportsPrefix: 'Db' } : {})
  }
  const parameters: MeshParameters = {
    bootstrapPeers: [], pnetKey: generatePnetKey(), trustedDmKeys: [dmKey.publicKey],
    ownership: signOwnership(dmKey, { peerId: peerId.toString(), application: role.application, scopedInstancePath: role.path, generation: 1 }),
    domain: {
      pnetKey: domainPnetKey(dmKey), bootstrapPeers: role.bootstrap ?? [],
      ...(exporter ? { ownership: role.external?.(peerId.toString()) } : {}),
      bindings: exporter ? [] : [signBinding(dmKey, { application: role.application, prefix: 'Db', exporters: ['Db'], version: 1 })]
    }
  }
  const imports = new Map<string, Import>()
  const listener: ImportListener = {
    importAdded: (prefix, exported) => { imports.set(exported.instancePath, exported) },
    importRemoved: (prefix, path) => { imports.delete(path) }
  }
  const handle = await withDomainExchange(noMesh(peerId.toString()), model, { ...parameters, domain: parameters.domain as NonNullable<MeshParameters['domain']> }, listener,
    { stateDir, privateKey, viewSignal: null })
  t.teardown(async () => {
    await handle.stop()
    rmSync(stateDir, { recursive: true, force: true })
  })
  return { handle, peerId: peerId.toString(), imports }
}

const external = (dmKey: DmSigningKey, generation: number, expiresAt: number) => (peerId: string): SignedExternalOwnership =>
  signExternalOwnership(dmKey, { peerId, application: 'Db', prefix: 'Db', scopedInstancePath: SCOPE, generation, expiresAt })

test.serial('an expired external ownership is refused and counted; once the DM renews it the exporter announces again and is held', async t => {
  t.timeout(120_000)
  const dmKey = createDmSigningKey()
  const exporter = await start(t, dmKey, { application: 'Db', path: SCOPE, external: external(dmKey, 1, Date.now() - HOUR_MS) })
  const importer = await start(t, dmKey, { application: 'Shop', path: '/web vm', bootstrap: exporter.handle.domainAddresses() })
  importer.handle.setInterests(new Set(['Db']))
  exporter.handle.announce(`${SCOPE}/database`, 'Database', { 'Database.ip': '192.0.2.10' })
  await waitFor('the expired external ownership refused', () => (importer.handle.view().domain?.rejections.expired ?? 0) >= 1, { timeoutMs: 60_000 })
  t.deepEqual(importer.handle.view().domain?.held, [])
  t.is(importer.imports.size, 0)
  t.true((exporter.handle.view().domain?.ownershipExpiresAt ?? Infinity) < Date.now())

  // the DM renews both ownerships at the agent's beat: the exporter announces again, unasked
  const renewedAt = Date.now() + 6 * HOUR_MS
  exporter.handle.renewOwnership?.(signOwnership(dmKey, { peerId: exporter.peerId, application: 'Db', scopedInstancePath: SCOPE, generation: 1 }),
    external(dmKey, 1, renewedAt)(exporter.peerId))
  await waitFor('the renewed export held', () => importer.imports.has(`${SCOPE}/database`), { timeoutMs: 60_000 })
  t.deepEqual(importer.imports.get(`${SCOPE}/database`)?.variables, { 'Db.ip': '192.0.2.10' })
  t.is(exporter.handle.view().domain?.ownershipExpiresAt, renewedAt)
  // a renewal for another scope is not this agent's: ignored
  exporter.handle.renewOwnership?.(signOwnership(dmKey, { peerId: exporter.peerId, application: 'Db', scopedInstancePath: SCOPE, generation: 1 }),
    signExternalOwnership(dmKey, { peerId: exporter.peerId, application: 'Db', prefix: 'Db', scopedInstancePath: '/other vm', generation: 1 }))
  t.is(exporter.handle.view().domain?.ownershipExpiresAt, renewedAt)
})

test.serial('an external ownership of an older machine generation than one seen for its scope is refused and counted', async t => {
  t.timeout(120_000)
  const dmKey = createDmSigningKey()
  const later = Date.now() + HOUR_MS
  // the machine made again (generation 2, a new peer) while its old agent (generation 1) still runs
  const current = await start(t, dmKey, { application: 'Db', path: SCOPE, external: external(dmKey, 2, later) })
  const importer = await start(t, dmKey, { application: 'Shop', path: '/web vm', bootstrap: current.handle.domainAddresses() })
  importer.handle.setInterests(new Set(['Db']))
  current.handle.announce(`${SCOPE}/database`, 'Database', { 'Database.ip': '192.0.2.20' })
  await waitFor('the current machine held', () => importer.imports.get(`${SCOPE}/database`)?.variables['Db.ip'] === '192.0.2.20', { timeoutMs: 60_000 })
  const old = await start(t, dmKey, { application: 'Db', path: SCOPE, external: external(dmKey, 1, later), bootstrap: importer.handle.domainAddresses() })
  old.handle.announce(`${SCOPE}/database`, 'Database', { 'Database.ip': '192.0.2.99' })
  await waitFor('the older generation refused', () => (importer.handle.view().domain?.rejections['superseded-generation'] ?? 0) >= 1, { timeoutMs: 60_000 })
  t.is(importer.imports.get(`${SCOPE}/database`)?.variables['Db.ip'], '192.0.2.20')
  t.deepEqual(importer.handle.view().domain?.held.map(h => h.peerId), [current.peerId])
})
