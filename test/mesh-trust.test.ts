// The mesh against peers that hold the pnet key (a machine of the application, or its stolen key): a peer is
// counted, dialled, watched or remembered only once its DM-signed ownership is verified; one owner cannot make an
// importer hold endless made-up instances; exported values with control characters are refused. Every refusal is
// counted by reason. Real libp2p nodes on loopback in this process (the target is an Apache importing Tomcat); no DM.
// Serial: the floods saturate this process's event loop, and the other tests' handshakes would time out meanwhile.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MAX_HEARD_PEERS, MAX_HELD_EXPORTS_PER_OWNER, MAX_OWNERSHIP_VERDICTS, REMEMBERED_PEERS_FILE } from '../agent/mesh/constants.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { MeshServiceHandle } from '../agent/mesh/service.js'
import { controlTopic, exportsTopic, pnetKeyBytes, signOwnership, type MeshMessage } from '../protocol/mesh.js'
import { createMeshApp, type MeshApp } from '../fixtures/mesh-app.js'
import { announceOf, joinMesh, publishAs, send, startRawNode, total, type MeshTarget } from './helpers/mesh-wire.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'

interface Target extends MeshTarget {
  mesh: MeshServiceHandle
  recorder: ImportRecorder
  stateDir: string
}

/** An Apache agent's mesh (in this process) importing Tomcat, with its own state folder. */
async function startApache (t: ExecutionContext, app: MeshApp = createMeshApp()): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-trust-'))
  const identity = await loadOrCreatePeerIdentity(dir)
  const { model, parameters } = app.agent('Apache VM', 'Apache', identity.peerId)
  const recorder = new ImportRecorder()
  const mesh = await startLibp2pMesh(model, parameters, recorder, { stateDir: dir, privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
  t.teardown(async () => {
    await mesh.stop()
    await rm(dir, { recursive: true, force: true })
  })
  mesh.setInterests(new Set(['Tomcat']))
  return { app, mesh, recorder, stateDir: dir, peerId: mesh.peerId, addresses: mesh.listenAddresses(), view: () => mesh.view() }
}

/** Sends `count` messages made by `make(i)` in paced batches, each batch handled (counted rejected) before the next. */
async function paced (target: Target, count: number, sendOne: (i: number) => Promise<void>): Promise<void> {
  const batch = 250
  const before = total(target.mesh.rejections())
  for (let first = 0; first < count; first += batch) {
    const last = Math.min(count, first + batch)
    await Promise.all(Array.from({ length: last - first }, async (_, k) => { await sendOne(first + k) }))
    await waitFor(`${last} messages handled`, () => total(target.mesh.rejections()) - before >= last, { state: () => target.mesh.view().rejections, timeoutMs: 120_000 })
  }
}

test.serial('20 000 digests of made-up peers (a machine\'s real ownership, other peer ids): refused and counted, no peer dialled, counted or remembered', async t => {
  t.timeout(600_000)
  const target = await startApache(t)
  const { app } = target
  const rogue = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(rogue.node, target)
  const ownership = signOwnership(app.dmKey, { peerId: rogue.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const before = target.mesh.view()
  const digests = 20_000
  const authors = await Promise.all(Array.from({ length: 500 }, async () => await generateKeyPair('Ed25519')))
  await paced(target, digests, async i => {
    const digest: MeshMessage = {
      v: 1, kind: 'digest', application: app.application, epoch: 1, seq: i + 1,
      prefixes: { Tomcat: { seq: i + 1, instances: [`/Tomcat VM 1/Tomcat ${i}`] } },
      // Each made-up peer "listens" somewhere: an agent that trusted digests would dial every one of them.
      addresses: [`/ip4/127.0.0.1/tcp/${1024 + (i % 60_000)}`], ownership
    }
    // 500 authors, each used 40 times with other contents: the ownership verdicts cache sees 20 000 distinct messages.
    await publishAs(rogue.node, authors[i % authors.length], controlTopic(app.application), digest)
  })
  const view = target.mesh.view()
  t.is(view.rejections['wrong-peer'], digests, 'every digest refused: its ownership is not its sender\'s')
  t.deepEqual(view.peers, before.peers, 'no peer wanted, watched or remembered, and no dial started')
  t.is(view.cached.heardFrom, 0, 'made-up peers do not count in the mesh\'s size')
  t.true(view.cached.ownershipVerdicts <= MAX_OWNERSHIP_VERDICTS)
  t.true(view.cached.heardFrom <= MAX_HEARD_PEERS)
  t.deepEqual(view.held, [])

  // The rogue's own digest, with its own ownership, is valid: it alone may be dialled (it is connected already).
  await send(rogue.node, controlTopic(app.application), {
    v: 1, kind: 'digest', application: app.application, epoch: 1, seq: digests + 1, prefixes: { Tomcat: { seq: 1, instances: [] } },
    addresses: [], ownership
  }, target)
  await waitFor('the rogue counted', () => target.mesh.view().cached.heardFrom === 1, { state: () => target.mesh.view().cached, timeoutMs: 60_000 })
  t.is(target.mesh.view().peers?.dials, before.peers?.dials)
})

test.serial('a peer with the pnet key but no ownership is not remembered; an owner that proved its ownership is', async t => {
  const target = await startApache(t)
  const { app } = target
  const stranger = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(stranger.node, target)
  await joinMesh(owner.node, target)
  const topic = exportsTopic(app.application, 'Tomcat')
  // The stranger's request carries a forged ownership (its own key's signature): refused.
  await send(stranger.node, controlTopic(app.application), {
    v: 1, kind: 'request', application: app.application, prefixes: ['Tomcat'],
    ownership: { ...signOwnership(app.dmKey, { peerId: stranger.peerId, application: app.application, scopedInstancePath: '/Stranger' }), signature: 'AAAA' }
  }, target)
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  await send(owner.node, topic, announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.1'), target)
  await target.recorder.waitFor('the owner\'s Tomcat', () => '/Tomcat VM 1/Tomcat' in target.recorder.imports('Tomcat'))
  await waitFor('the stranger refused', () => target.mesh.rejections()['bad-signature'] === 1, { state: () => target.mesh.rejections(), timeoutMs: 60_000 })
  await target.mesh.stop()
  const remembered = JSON.parse(await readFile(join(target.stateDir, REMEMBERED_PEERS_FILE), 'utf8')) as Array<{ peerId: string }>
  t.deepEqual(remembered.map(r => r.peerId), [owner.peerId])
})

test.serial('10 000 made-up instance paths from one owner: it holds at most MAX_HELD_EXPORTS_PER_OWNER, the rest refused and counted', async t => {
  t.timeout(600_000)
  const target = await startApache(t)
  const { app } = target
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(owner.node, target)
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const topic = exportsTopic(app.application, 'Tomcat')
  const paths = 10_000
  const batch = 250
  for (let first = 0; first < paths; first += batch) {
    const last = Math.min(paths, first + batch)
    await Promise.all(Array.from({ length: last - first }, async (_, k) => {
      await send(owner.node, topic, announceOf(app, ownership, `/Tomcat VM 1/Made up ${first + k}`, 1, first + k + 1, '6.6.6.6'), target)
    }))
    await waitFor(`${last} announces handled`, () => target.mesh.view().held.length + total(target.mesh.rejections()) >= last, { state: () => ({ held: target.mesh.view().held.length, rejections: target.mesh.rejections() }), timeoutMs: 120_000 })
  }
  t.is(target.mesh.view().held.length, MAX_HELD_EXPORTS_PER_OWNER)
  t.deepEqual(target.mesh.rejections(), { 'owner-limit': paths - MAX_HELD_EXPORTS_PER_OWNER })
  t.is(Object.keys(target.recorder.imports('Tomcat')).length, MAX_HELD_EXPORTS_PER_OWNER, 'the listener heard of the held ones only')
  // Outside its scope, or of a component the application lacks: refused for that.
  await send(owner.node, topic, announceOf(app, ownership, '/Tomcat VM 2/Tomcat', 1, paths + 1, '6.6.6.6'), target)
  await send(owner.node, topic, { ...announceOf(app, ownership, '/Tomcat VM 1/Made up 0', 1, paths + 2, '6.6.6.6'), component: 'Rootkit' }, target)
  await waitFor('both refused', () => total(target.mesh.rejections()) === paths - MAX_HELD_EXPORTS_PER_OWNER + 2, { state: () => target.mesh.rejections(), timeoutMs: 60_000 })
  t.like(target.mesh.rejections(), { 'outside-scope': 1, 'unknown-component': 1 })
})

test.serial('an export with a control character is refused, counted, and never reaches the listener', async t => {
  const target = await startApache(t)
  const { app } = target
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(owner.node, target)
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const topic = exportsTopic(app.application, 'Tomcat')
  await send(owner.node, topic, announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 1, '1.2.3.4\ntouch /tmp/PWNED'), target)
  await send(owner.node, topic, announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 2, '1.2.3.4\u0000'), target)
  // Quotes and `$()` are data: held as they are (the importer's recipes quote them).
  await send(owner.node, topic, announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 3, '1.2.3.4"; $(id)'), target)
  await target.recorder.waitFor('the quoted value', () => target.recorder.imports('Tomcat')['/Tomcat VM 1/Tomcat'] !== undefined)
  t.deepEqual(target.recorder.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '1.2.3.4"; $(id)' } })
  t.deepEqual(target.mesh.rejections(), { 'control-character': 2 })
})

test.serial('an ownership of an older machine generation than one seen for its scope is refused (the machine was made again)', async t => {
  const target = await startApache(t)
  const { app } = target
  const current = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const previous = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(current.node, target)
  await joinMesh(previous.node, target)
  const sign = (peerId: string, generation?: number) => signOwnership(app.dmKey, { peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1', generation })
  const topic = exportsTopic(app.application, 'Tomcat')
  await send(current.node, topic, announceOf(app, sign(current.peerId, 2), '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.2'), target)
  await target.recorder.waitFor('generation 2\'s Tomcat', () => '/Tomcat VM 1/Tomcat' in target.recorder.imports('Tomcat'))
  // The first machine of that scope (its key kept by someone) and one signed before generations existed.
  await send(previous.node, topic, announceOf(app, sign(previous.peerId, 1), '/Tomcat VM 1/Tomcat', 9, 1, '6.6.6.6'), target)
  await send(previous.node, topic, announceOf(app, sign(previous.peerId), '/Tomcat VM 1/Other', 9, 2, '6.6.6.6'), target)
  await waitFor('both refused', () => target.mesh.rejections()['superseded-generation'] === 2, { state: () => target.mesh.rejections(), timeoutMs: 60_000 })
  t.deepEqual(target.recorder.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '10.0.0.2' } })
})
