// Ping-reqs (agent/mesh/probe.ts) over real libp2p on loopback: an agent answers a peer's ping-req about a peer it
// is connected to, says "unknown" about one it is not, and refuses (and counts) garbage, questions about the
// requester itself, and a flood over PROBE_REQUESTS_PER_SECOND.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection } from '@libp2p/interface'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import { PROBE_PROTOCOL, PROBE_REQUESTS_PER_SECOND } from '../agent/mesh/constants.js'
import { decodeProbeAnswer, encodeProbeRequest, type ProbeAnswer } from '../agent/mesh/probe.js'
import { createMeshApp } from '../fixtures/mesh-app.js'
import { pnetKeyBytes } from '../protocol/mesh.js'
import { silentLogger } from '../common/log.js'
import { startRawNode } from './helpers/mesh-wire.js'

/** Sends one ping-req's bytes; the helper's answer, or 'refused' when it resets the stream without one. */
async function ask (connection: Connection, bytes: Uint8Array): Promise<ProbeAnswer | 'refused'> {
  const stream = await connection.newStream(PROBE_PROTOCOL)
  try {
    return await new Promise(resolve => {
      stream.addEventListener('message', evt => { resolve(decodeProbeAnswer(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray())) }, { once: true })
      stream.addEventListener('close', () => { resolve('refused') }, { once: true })
      stream.send(bytes)
    })
  } finally {
    // As a requester does: its stream ends with the answer (a stream left open counts against the helper's limit).
    stream.abort(new Error('answered'))
  }
}

test('an agent answers ping-reqs about peers it knows, and refuses and counts hostile ones', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-partition-probe-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const app = createMeshApp()
  const identity = await loadOrCreatePeerIdentity(join(dir, 'apache'))
  const { model, parameters } = app.agent('Apache VM', 'Apache', identity.peerId, [])
  const helper = await startLibp2pMesh(model, parameters, new ImportRecorder(), { stateDir: join(dir, 'apache'), privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
  t.teardown(async () => { await helper.stop() })
  const addresses = helper.listenAddresses().map(a => multiaddr(a))

  const requester = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const known = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const stranger = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const connection = await requester.node.dial(addresses)
  await known.node.dial(addresses)

  t.is(await ask(connection, encodeProbeRequest(known.peerId)), 'ack', 'a peer it is connected to answers its ping')
  t.is(await ask(connection, encodeProbeRequest(stranger.peerId)), 'unknown', 'it never dials for a ping-req')
  t.is(await ask(connection, encodeProbeRequest(requester.peerId)), 'refused')
  t.is(await ask(connection, Uint8Array.of(3, 0x2f, 0x2e, 0x2e)), 'refused')
  t.deepEqual(helper.rejections(), { 'probe-malformed': 2 })

  // A flood, one request at a time: at most the bucket's burst plus its refill is served.
  const started = performance.now()
  const count = 3 * PROBE_REQUESTS_PER_SECOND
  let refused = 0
  for (let i = 0; i < count; i++) if (await ask(connection, encodeProbeRequest(stranger.peerId)) === 'refused') refused++
  const elapsedS = (performance.now() - started) / 1000
  const servable = PROBE_REQUESTS_PER_SECOND + Math.ceil(PROBE_REQUESTS_PER_SECOND * elapsedS)
  t.true(refused >= count - servable, `${refused} refused of ${count} in ${elapsedS.toFixed(2)} s`)
  t.is(helper.rejections()['probe-limit'] ?? 0, refused)
  t.is(helper.rejections()['probe-malformed'], 2)
})
