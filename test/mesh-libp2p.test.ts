// The libp2p mesh against hostile and unlucky peers, with real nodes on loopback in this process: a node without
// the pnet key, forged ownerships, stale and reordered messages, a flood of malformed messages, and a restart
// that keeps the peer id and rejoins from the remembered peers, a bootstrap peer that comes up late. No DM, no RabbitMQ.
import { lineLogger, silentLogger } from '../common/log.js'
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { startLibp2pMesh, type Libp2pMeshOptions } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS } from '../agent/mesh/constants.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { MeshServiceHandle } from '../agent/mesh/service.js'
import { createMeshApp, type MeshApp, type MeshAppChild } from '../fixtures/mesh-app.js'
import { freePort } from '../common/net.js'
import { controlTopic, exportsTopic, generatePnetKey, pnetKeyBytes, signOwnership } from '../protocol/mesh.js'
import {
  announceOf, floodThenValid, forgeTomcat, joinMesh, replayTomcat, send, startRawNode, total, type MeshTarget
} from './helpers/mesh-wire.js'
import { waitFor } from './helpers/wait.js'

const quiet = silentLogger

interface Importer extends MeshTarget { mesh: MeshServiceHandle, recorder: ImportRecorder, dir: string }

/** A temporary folder, removed with the test (after the meshes in it: teardowns run last registered first). */
async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-libp2p-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Starts the mesh of the agent of `/<vm>` (hosting `/<vm>/<child>`), its state in `stateDir`, stopped with the test. */
async function startAgentMesh (t: ExecutionContext, app: MeshApp, stateDir: string, vm: string, child: MeshAppChild, bootstrap: string[],
  recorder = new ImportRecorder(), options: Partial<Libp2pMeshOptions> = {}): Promise<MeshServiceHandle> {
  const identity = await loadOrCreatePeerIdentity(stateDir)
  const { model, parameters } = app.agent(vm, child, identity.peerId, bootstrap)
  const mesh = await startLibp2pMesh(model, parameters, recorder, { stateDir, privateKey: identity.privateKey, log: quiet, ...options })
  t.teardown(async () => { await mesh.stop() })
  return mesh
}

/** An Apache agent importing Tomcat, torn down with the test. */
async function startImporter (t: ExecutionContext, options: Partial<Libp2pMeshOptions> = {}): Promise<Importer> {
  const dir = await tempDir(t)
  const app = createMeshApp()
  const recorder = new ImportRecorder()
  const mesh = await startAgentMesh(t, app, join(dir, 'apache'), 'Apache VM', 'Apache', [], recorder, options)
  mesh.setInterests(new Set(['Tomcat']))
  return { app, peerId: mesh.peerId, addresses: mesh.listenAddresses(), view: () => mesh.view(), mesh, recorder, dir }
}

/** A Tomcat agent's mesh, bootstrapping from the importer, on a state folder of its own under the importer's. */
async function tomcatOf (importer: Importer, folder: string): Promise<() => Promise<MeshServiceHandle>> {
  const stateDir = join(importer.dir, folder)
  const identity = await loadOrCreatePeerIdentity(stateDir)
  const { model, parameters } = importer.app.agent('Tomcat VM 1', 'Tomcat', identity.peerId, importer.mesh.listenAddresses())
  return async () => await startLibp2pMesh(model, parameters, new ImportRecorder(), { stateDir, log: quiet, viewSignal: null })
}

test.serial('a node without the pnet key, or with another one, cannot connect', async t => {
  const importer = await startImporter(t)
  const target = importer.mesh.listenAddresses().map(a => multiaddr(a))
  const outsider = await startRawNode(t)
  await t.throwsAsync(outsider.node.dial(target, { signal: AbortSignal.timeout(3000) }), { any: true })
  const stranger = await startRawNode(t, pnetKeyBytes(generatePnetKey()))
  await t.throwsAsync(stranger.node.dial(target, { signal: AbortSignal.timeout(3000) }), { any: true })
  t.deepEqual(importer.mesh.view().connectedPeers, [])
  // The same dial with the application's key works: what failed was the admission.
  const member = await startRawNode(t, pnetKeyBytes(importer.app.pnetKey))
  await t.notThrowsAsync(member.node.dial(target))
})

test.serial('a node with the key but a forged ownership cannot inject exports for /Tomcat VM 1/Tomcat, nor withdraw it', async t => {
  await forgeTomcat(t, await startImporter(t))
})

test.serial('a stale or reordered message never overwrites a newer one', async t => {
  const importer = await startImporter(t)
  await replayTomcat(t, importer)
  const tomcat = '/Tomcat VM 1/Tomcat'
  t.deepEqual(importer.recorder.events.filter(e => e.kind !== 'added' || e.exported.instancePath === tomcat).map(e => e.kind), ['added', 'removed', 'added'])
})

test.serial('liveness pings ride on the connection\'s own multiplexer: an owner that serves no ping protocol stays held', async t => {
  const importer = await startImporter(t)
  const { app } = importer
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  // A ping-protocol ping opens a stream (about ten frames and peer-store writes on both sides); this owner refuses one.
  await owner.node.unhandle('/ipfs/ping/1.0.0')
  await joinMesh(owner.node, importer)
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  await send(owner.node, exportsTopic(app.application, 'Tomcat'), announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.1'), importer)
  await importer.recorder.waitFor('the Tomcat import', () => importer.recorder.imports('Tomcat')['/Tomcat VM 1/Tomcat'] !== undefined)
  // Several ping intervals, each ping answered within its timeout, or the owner would have been dropped.
  await new Promise(resolve => setTimeout(resolve, 2 * (LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS) + LIVENESS_GRACE_MS))
  t.deepEqual(importer.recorder.events.map(e => e.kind), ['added'])
  t.true(importer.mesh.view().connectedPeers.includes(owner.peerId))
})

test.serial('an owner whose process is gone (its redial refused) is withdrawn at once, not after the grace', async t => {
  const graceMs = 10_000
  const importer = await startImporter(t, { livenessGraceMs: graceMs })
  const { app } = importer
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(owner.node, importer)
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const announce = { ...announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.1'), addresses: owner.node.getMultiaddrs().map(a => a.toString()) }
  await send(owner.node, exportsTopic(app.application, 'Tomcat'), announce, importer)
  await importer.recorder.waitFor('the Tomcat import', () => importer.recorder.imports('Tomcat')['/Tomcat VM 1/Tomcat'] !== undefined)
  // As kill -9 does: connections closed, nothing listening any more, no withdraw sent.
  const stoppedAt = Date.now()
  await owner.node.stop()
  await importer.recorder.waitFor('the Tomcat import withdrawn', () => importer.recorder.imports('Tomcat')['/Tomcat VM 1/Tomcat'] === undefined, graceMs)
  t.true(Date.now() - stoppedAt < graceMs / 2, `withdrawn after ${Date.now() - stoppedAt} ms`)
})

test.serial('10 000 random and malformed messages on the topics: no crash, all rejected', async t => {
  // Every message is signed by the sender and checked by the receiver: on a loaded 2-core machine this takes minutes.
  t.timeout(600_000)
  const importer = await startImporter(t)
  const count = 10_000
  await floodThenValid(t, importer, count)
  await importer.recorder.waitFor('the valid announcement after the flood', () => '/Tomcat VM 1/Tomcat' in importer.recorder.imports('Tomcat'))
  t.is(total(importer.mesh.rejections()), count)
  t.deepEqual(importer.recorder.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '10.0.0.1' } })
  t.is(importer.recorder.events.length, 1)
})

test.serial('a restarted importer keeps its peer id and rejoins its owner from its remembered peers alone, with no bootstrap list', async t => {
  const dir = await tempDir(t)
  const app = createMeshApp()
  // The owner bootstraps from nobody, and owners do not redial their importers: once the importer is gone, only the
  // importer's remembered peers (mesh-peers.json) can bring the two together again.
  const tomcat = await startAgentMesh(t, app, join(dir, 'tomcat'), 'Tomcat VM 1', 'Tomcat', [])
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  const startApache = async (bootstrap: string[]): Promise<{ mesh: MeshServiceHandle, recorder: ImportRecorder }> => {
    const recorder = new ImportRecorder()
    const mesh = await startAgentMesh(t, app, join(dir, 'apache'), 'Apache VM', 'Apache', bootstrap, recorder)
    mesh.setInterests(new Set(['Tomcat']))
    return { mesh, recorder }
  }
  const first = await startApache(tomcat.listenAddresses())
  await first.recorder.waitFor('Tomcat', () => '/Tomcat VM 1/Tomcat' in first.recorder.imports('Tomcat'))
  await first.mesh.stop()

  const second = await startApache([])
  t.is(second.mesh.peerId, first.mesh.peerId)
  await second.recorder.waitFor('Tomcat back', () => '/Tomcat VM 1/Tomcat' in second.recorder.imports('Tomcat'))
  t.deepEqual(second.mesh.view().held.map(h => h.peerId), [tomcat.peerId])
})

test.serial('a bootstrap peer down at start is redialled with backoff, and joined when it comes up, with no restart', async t => {
  const dir = await tempDir(t)
  const app = createMeshApp()
  const tomcatDir = join(dir, 'tomcat')
  const tomcatId = (await loadOrCreatePeerIdentity(tomcatDir)).peerId
  const tomcatAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
  const refused: string[] = []
  const recorder = new ImportRecorder()
  const apache = await startAgentMesh(t, app, join(dir, 'apache'), 'Apache VM', 'Apache', [`${tomcatAddress}/p2p/${tomcatId}`], recorder, {
    log: lineLogger((_level, message) => { if (message.startsWith(`dial ${tomcatId} failed`)) refused.push(message) })
  })
  apache.setInterests(new Set(['Tomcat']))
  await waitFor('three failed dials of the Tomcat', () => refused.length >= 3, { state: () => refused, timeoutMs: 30_000 })
  // Up at last, at the address of the bootstrap list; it bootstraps from nobody, so the importer has to dial it.
  const tomcat = await startAgentMesh(t, app, tomcatDir, 'Tomcat VM 1', 'Tomcat', [], new ImportRecorder(), { listen: [tomcatAddress] })
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await recorder.waitFor('the Tomcat import', () => '/Tomcat VM 1/Tomcat' in recorder.imports('Tomcat'))
  t.deepEqual(apache.view().connectedPeers, [tomcat.peerId])
})

test.serial('a restarted agent listens on the port of its last run (peers remember it), or on a free one when it is taken', async t => {
  const importer = await startImporter(t)
  const start = await tomcatOf(importer, 'tomcat-port')
  const portOf = (mesh: MeshServiceHandle): number => Number(mesh.listenAddresses()[0].match(/\/tcp\/(\d+)/)?.[1])
  const first = await start()
  const port = portOf(first)
  await first.stop()
  const second = await start()
  t.is(portOf(second), port)
  // While it runs, the port is taken: a third node on the same state folder takes another one.
  const third = await start()
  t.teardown(async () => { await Promise.all([second.stop(), third.stop()]) })
  t.not(portOf(third), port)
  t.true(portOf(third) > 0)
})

test.serial('a connection whose peer never sends its gossip subscriptions is aborted after the grace; a gossiping one stays', async t => {
  const { app, mesh } = await startImporter(t, { viewSignal: null, gossipStreamGraceMs: 800 })
  const target = mesh.listenAddresses().map(a => multiaddr(a))
  // Both run gossipsub; only the second subscribes to the application's control topic, as every agent does.
  const silent = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const gossiping = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  gossiping.node.services.pubsub.subscribe(controlTopic(app.application))
  await silent.node.dial(target)
  await gossiping.node.dial(target)
  await waitFor('the silent peer dropped', () => silent.node.getConnections().length === 0, { state: () => mesh.view().connectedPeers, timeoutMs: 5000 })
  t.true(gossiping.node.getConnections().some(c => c.status === 'open'), 'the gossiping peer is still connected')
  t.true(mesh.view().connectedPeers.includes(gossiping.peerId))
})

test.serial('on SIGUSR2 an agent prints its view as JSON: what it holds, from which peer, how old', async t => {
  const importer = await startImporter(t)
  const tomcat = await (await tomcatOf(importer, 'tomcat'))()
  t.teardown(async () => { await tomcat.stop() })
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await importer.recorder.waitFor('Tomcat', () => Object.keys(importer.recorder.imports('Tomcat')).length === 1)
  const printed: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => { printed.push(String(chunk)); return true }) as typeof process.stdout.write
  try {
    process.emit('SIGUSR2', 'SIGUSR2')
  } finally {
    process.stdout.write = write
  }
  // Only the importer listens (the Tomcat node was started without a signal handler).
  t.is(printed.length, 1)
  const view = JSON.parse(printed[0])
  t.is(view.peerId, importer.mesh.peerId)
  t.deepEqual(view.held.map((h: { instancePath: string, peerId: string, variables: unknown }) => [h.instancePath, h.peerId, h.variables]),
    [['/Tomcat VM 1/Tomcat', tomcat.peerId, { 'Tomcat.ip': '127.0.0.2' }]])
  t.true(typeof view.held[0].ageMs === 'number' && view.held[0].ageMs >= 0)
})
