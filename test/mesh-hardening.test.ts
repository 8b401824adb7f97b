// The mesh against a stepped-back clock and a peer that floods it: an owner's epoch is a counter kept in its state
// folder; the caches a peer with the pnet key could fill with forged keys stay bounded; rejections are logged, a few
// lines per interval. Real libp2p nodes on loopback in this process; no DM.
import test, { type ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  MAX_EXPORT_STAMPS, MAX_OWNERSHIP_VERDICTS, MESH_EPOCH_FILE, REJECTION_LOG_INTERVAL_MS
} from '../agent/mesh/constants.js'
import { nextMeshEpoch } from '../agent/mesh/epoch.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { createMeshNode, type MeshNode } from '../agent/mesh/node.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { MeshServiceHandle } from '../agent/mesh/service.js'
import { encodeMeshMessage, exportsTopic, pnetKeyBytes, signOwnership, type MeshMessage } from '../protocol/mesh.js'
import { createMeshApp, type MeshApp, type MeshAppChild } from '../fixtures/mesh-app.js'
import { waitFor } from './helpers/wait.js'
import { lineLogger, silentLogger, type Logger } from '../common/log.js'

const quiet: Logger = silentLogger

interface Agents {
  app: MeshApp
  dir: string
  /** Starts the libp2p mesh of `/<vm>/<child>` on the state folder `<dir>/<vm>`, bootstrapping from `bootstrap`. */
  start (vm: string, child: MeshAppChild, recorder: ImportRecorder, bootstrap?: string[], log?: Logger): Promise<MeshServiceHandle>
}

function agents (t: ExecutionContext): Agents {
  const app = createMeshApp()
  const started: MeshServiceHandle[] = []
  let dir = ''
  t.teardown(async () => {
    await Promise.all(started.map(async m => { await m.stop() }))
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })
  return {
    app,
    get dir () { return dir },
    async start (vm, child, recorder, bootstrap = [], log = quiet) {
      if (dir === '') dir = await mkdtemp(join(tmpdir(), 'meshconf-hardening-'))
      const stateDir = join(dir, vm)
      const identity = await loadOrCreatePeerIdentity(stateDir)
      const { model, parameters } = app.agent(vm, child, identity.peerId, bootstrap)
      const mesh = await startLibp2pMesh(model, parameters, recorder, { stateDir, privateKey: identity.privateKey, log, viewSignal: null })
      started.push(mesh)
      return mesh
    }
  }
}

test('the mesh epoch is a counter in the state folder: it grows by one at each start, whatever the clock says', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-epoch-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const first = await nextMeshEpoch(dir, quiet, () => 1_000_000)
  t.is(first, 1_000_000, 'the first epoch is the clock\'s (above the clock-based epochs of older agents)')
  // The clock stepped back an hour: the counter still grows.
  t.is(await nextMeshEpoch(dir, quiet, () => 1_000_000 - 3_600_000), 1_000_001)
  t.is(await readFile(join(dir, MESH_EPOCH_FILE), 'utf8'), '1000001')

  const warnings: string[] = []
  await writeFile(join(dir, MESH_EPOCH_FILE), 'garbage')
  t.is(await nextMeshEpoch(dir, lineLogger((level, message) => { if (level === 'warn') warnings.push(message) }), () => 2_000_000), 2_000_000)
  t.regex(warnings.join('\n'), /mesh-epoch holds "garbage", not a mesh epoch: starting a new one from the clock/)
})

test.serial('an owner restarted while the clock is an hour behind is heard again by its importer', async t => {
  const a = agents(t)
  const apache = new ImportRecorder()
  const apacheMesh = await a.start('Apache VM', 'Apache', apache)
  apacheMesh.setInterests(new Set(['Tomcat']))
  const tomcat = await a.start('Tomcat VM 1', 'Tomcat', new ImportRecorder(), apacheMesh.listenAddresses())
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': 'first run' })
  await apache.waitFor('Tomcat held', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.ip'] === 'first run')
  const firstEpoch = tomcat.view().epoch
  // Gone without a word: the importer withdraws it, and keeps its stamps.
  await tomcat.stop()
  await apache.waitFor('Tomcat withdrawn', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat'] === undefined)

  const realNow = Date.now
  Date.now = () => realNow() - 3_600_000
  let again: MeshServiceHandle
  try {
    again = await a.start('Tomcat VM 1', 'Tomcat', new ImportRecorder(), apacheMesh.listenAddresses())
  } finally {
    Date.now = realNow
  }
  t.is(again.view().epoch, firstEpoch + 1)
  again.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': 'second run' })
  await apache.waitFor('the restarted Tomcat held', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.ip'] === 'second run')
  t.like(apacheMesh.view().held.find(h => h.instancePath === '/Tomcat VM 1/Tomcat'), { peerId: again.peerId, epoch: firstEpoch + 1 })
})

/** A bare libp2p node with the application's pnet key, subscribed to Tomcat's topic and connected to `target`. */
async function rogueNode (t: ExecutionContext, app: MeshApp, target: MeshServiceHandle): Promise<{ node: MeshNode, peerId: string, publish (m: MeshMessage): Promise<void> }> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createMeshNode({ privateKey, psk: pnetKeyBytes(app.pnetKey) })
  t.teardown(async () => { await node.stop() })
  const topic = exportsTopic(app.application, 'Tomcat')
  node.services.pubsub.subscribe(topic)
  await node.dial(target.listenAddresses().map(a => multiaddr(a)))
  while (!node.services.pubsub.getSubscribers(topic).some(p => p.toString() === target.peerId)) await new Promise(resolve => setTimeout(resolve, 25))
  return { node, peerId: peerIdFromPrivateKey(privateKey).toString(), publish: async m => { await node.services.pubsub.publish(topic, encodeMeshMessage(m)) } }
}

const rejected = (mesh: MeshServiceHandle): number => Object.values(mesh.rejections()).reduce((a, b) => a + (b ?? 0), 0)

test.serial('a flood of forged signatures and random withdrawn paths leaves the caches bounded; a real owner is still heard', async t => {
  t.timeout(300_000)
  const a = agents(t)
  const apache = new ImportRecorder()
  const apacheMesh = await a.start('Apache VM', 'Apache', apache)
  apacheMesh.setInterests(new Set(['Tomcat']))
  const rogue = await rogueNode(t, a.app, apacheMesh)
  const scope = signOwnership(a.app.dmKey, { peerId: rogue.peerId, application: a.app.application, scopedInstancePath: '/Rogue VM' })
  const forgedAnnounce = (seq: number): MeshMessage => ({
    v: 1, kind: 'announce', application: a.app.application, epoch: 1, seq, instancePath: '/Rogue VM/Tomcat', component: 'Tomcat',
    prefix: 'Tomcat', variables: { 'Tomcat.ip': '6.6.6.6' }, ownership: { ...scope, signature: randomBytes(64).toString('base64') }, addresses: []
  })
  const verdicts = MAX_OWNERSHIP_VERDICTS + 200
  const paths = MAX_EXPORT_STAMPS + 800
  let seq = 0
  // Paced batches (gossipsub's outbound stream has no backpressure): each ends with a forged announce, rejected once
  // every message before it on the stream was handled.
  for (let sent = 0; sent < Math.max(verdicts, paths); sent += 200) {
    const batch: MeshMessage[] = []
    for (let k = sent; k < sent + 200; k++) {
      if (k < paths) batch.push({ v: 1, kind: 'withdraw', application: a.app.application, epoch: 1, seq: ++seq, instancePath: `/Rogue VM/x${k}`, prefix: 'Tomcat' })
      if (k < verdicts) batch.push(forgedAnnounce(++seq))
    }
    const before = rejected(apacheMesh)
    await Promise.all(batch.map(rogue.publish))
    await rogue.publish(forgedAnnounce(++seq))
    await waitFor(`the batch from ${sent} handled`, () => rejected(apacheMesh) >= before + batch.filter(m => m.kind === 'announce').length + 1, { timeoutMs: 60_000 })
  }
  const { cached } = apacheMesh.view()
  t.is(cached.stamps, MAX_EXPORT_STAMPS, `${paths} withdrawn paths`)
  t.is(cached.ownershipVerdicts, MAX_OWNERSHIP_VERDICTS, `${verdicts}+ forged signatures`)
  t.deepEqual(apache.imports('Tomcat'), {})

  const tomcat = await a.start('Tomcat VM 1', 'Tomcat', new ImportRecorder(), apacheMesh.listenAddresses())
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await apache.waitFor('the real Tomcat', () => '/Tomcat VM 1/Tomcat' in apache.imports('Tomcat'))
  t.deepEqual(apache.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '127.0.0.2' } })
})

test.serial('rejected messages are logged with their reason and sender, one line per reason per interval', async t => {
  const a = agents(t)
  const lines: string[] = []
  const apacheMesh = await a.start('Apache VM', 'Apache', new ImportRecorder(), [], lineLogger((level, message) => { if (level === 'warn') lines.push(message) }))
  apacheMesh.setInterests(new Set(['Tomcat']))
  const rogue = await rogueNode(t, a.app, apacheMesh)
  const foreign = signOwnership(a.app.dmKey, { peerId: rogue.peerId, application: a.app.application, scopedInstancePath: '/Rogue VM' })
  const startedAt = Date.now()
  const count = 300
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    await rogue.publish({
      v: 1, kind: 'announce', application: a.app.application, epoch: 1, seq: i + 1, instancePath: '/Tomcat VM 1/Tomcat', component: 'Tomcat',
      prefix: 'Tomcat', variables: { 'Tomcat.ip': '6.6.6.6' }, ownership: foreign, addresses: []
    })
  }))
  await waitFor(`${count} rejections`, () => rejected(apacheMesh) === count, { timeoutMs: 60_000 })
  const logged = lines.filter(line => line.includes('outside-scope'))
  t.true(logged.length >= 1, 'logged, not only counted')
  t.regex(logged[0], new RegExp(`rejected a mesh message \\(outside-scope, 1 so far\\): announce of /Tomcat VM 1/Tomcat \\(Tomcat\\) from ${rogue.peerId}`))
  const intervals = Math.floor((Date.now() - startedAt) / REJECTION_LOG_INTERVAL_MS) + 1
  t.true(logged.length <= intervals, `${logged.length} lines for ${count} rejections in ${intervals} interval(s)`)
})
