// The direct stream (agent/mesh/direct.ts): an owner's announces and withdraws written straight to connected importers.
// Its framing against cut and hostile input, a real importer taking an owner's frames (the sender is the connection's
// peer: a frame signed for another peer is refused) and dropping a stream that sends garbage, and yamux window updates
// sent once half the window is read rather than after each frame; Noise's frames cut from the connection's bytes
// without an error thrown per frame.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { DirectFrameError, DirectFrameReader, MAX_DIRECT_FRAME_BYTES, encodeDirectFrame } from '../agent/mesh/direct.js'
import { DIRECT_PROTOCOL, LIVENESS_TOPIC } from '../agent/mesh/constants.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import { createMeshApp } from '../fixtures/mesh-app.js'
import { encodeMeshMessage, exportsTopic, pnetKeyBytes, signOwnership } from '../protocol/mesh.js'
import { announceOf, startRawNode } from './helpers/mesh-wire.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'

test('frames read back whole however the stream cuts them, and several per chunk', t => {
  const frames = [encodeDirectFrame('/t/a', new Uint8Array([1, 2, 3])), encodeDirectFrame('/t/é', new Uint8Array(0)), encodeDirectFrame('/t/b', new Uint8Array(5000).fill(7))]
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0))
  let at = 0
  for (const f of frames) { bytes.set(f, at); at += f.byteLength }
  for (const cut of [1, 3, 7, 100, bytes.byteLength]) {
    const reader = new DirectFrameReader()
    const read = []
    for (let i = 0; i < bytes.byteLength; i += cut) read.push(...reader.push(bytes.subarray(i, i + cut)))
    t.deepEqual(read.map(r => [r.topic, r.data.byteLength, r.data[0]]), [['/t/a', 3, 1], ['/t/é', 0, undefined], ['/t/b', 5000, 7]], `cut every ${cut} bytes`)
  }
})

test('a frame that cannot be read is refused with what is wrong, before its bytes are buffered', t => {
  const header = (length: number, topicLength: number): Uint8Array => {
    const b = new Uint8Array(6)
    new DataView(b.buffer).setUint32(0, length)
    new DataView(b.buffer).setUint16(4, topicLength)
    return b
  }
  const refused = (bytes: Uint8Array): string => t.throws(() => new DirectFrameReader().push(bytes), { instanceOf: DirectFrameError })?.message ?? ''
  t.regex(refused(header(MAX_DIRECT_FRAME_BYTES + 1, 4)), /over/)
  t.regex(refused(header(1, 0)), /too short/)
  t.regex(refused(new Uint8Array([...header(4, 10), 0, 0])), /topic of 10 bytes in a frame of 4/)
  t.regex(refused(new Uint8Array([...header(4, 2), 0xff, 0xfe])), /not UTF-8/)
  t.throws(() => encodeDirectFrame('x'.repeat(5000), new Uint8Array(0)), { instanceOf: DirectFrameError })
})

/** A real importer of Tomcats (an Apache's mesh) and a raw node of the application dialled to it, as its owner. */
async function importerWithRawOwner (t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-direct-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const app = createMeshApp()
  const identity = await loadOrCreatePeerIdentity(join(dir, 'apache'))
  const { model, parameters } = app.agent('Apache VM', 'Apache', identity.peerId, [])
  const recorder = new ImportRecorder()
  const importer = await startLibp2pMesh(model, parameters, recorder, { stateDir: join(dir, 'apache'), privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
  t.teardown(async () => { await importer.stop() })
  importer.setInterests(new Set(['Tomcat']))
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const connection = await owner.node.dial(importer.listenAddresses().map(a => multiaddr(a)))
  const stream: Stream = await connection.newStream(DIRECT_PROTOCOL)
  return { app, importer, recorder, owner, connection, stream }
}

test.serial('an importer takes an owner\'s frames on a direct stream, refuses one signed for another peer, and drops a stream sending garbage', async t => {
  const { app, importer, recorder, owner, connection, stream } = await importerWithRawOwner(t)
  const topic = exportsTopic(app.application, 'Tomcat')
  const frame = (message: Parameters<typeof encodeMeshMessage>[0]): Uint8Array => encodeDirectFrame(topic, encodeMeshMessage(message))
  // Signed for another peer: the connection says who sends it.
  const other = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  stream.send(frame(announceOf(app, signOwnership(app.dmKey, { peerId: other.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' }), '/Tomcat VM 1/Tomcat', 1, 1, '6.6.6.6')))
  stream.send(frame(announceOf(app, signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' }), '/Tomcat VM 1/Tomcat', 1, 2, '10.0.0.1')))
  await recorder.waitFor('the owner\'s Tomcat', () => '/Tomcat VM 1/Tomcat' in recorder.imports('Tomcat'), 20_000)
  t.deepEqual(recorder.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '10.0.0.1' } })
  t.deepEqual(importer.view().rejections, { 'wrong-peer': 1 })

  const closed = new Promise(resolve => stream.addEventListener('close', resolve, { once: true }))
  stream.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0]))
  await closed
  t.not(stream.status, 'open')
  // The importer lives on, and takes the owner's next frame on a new stream.
  const again = await connection.newStream(DIRECT_PROTOCOL)
  again.send(frame({ v: 1, kind: 'withdraw', application: app.application, epoch: 1, seq: 3, instancePath: '/Tomcat VM 1/Tomcat', prefix: 'Tomcat' }))
  await recorder.waitFor('the withdraw', () => !('/Tomcat VM 1/Tomcat' in recorder.imports('Tomcat')), 20_000)
  t.deepEqual(recorder.imports('Tomcat'), {})
})

test.serial('an owner\'s ping interval on its direct stream is taken; one that is not a number is refused and counted, the stream lives on', async t => {
  const { app, importer, recorder, owner, stream } = await importerWithRawOwner(t)
  const text = (value: string): Uint8Array => encodeDirectFrame(LIVENESS_TOPIC, new TextEncoder().encode(value))
  stream.send(text('16000'))
  stream.send(text('soon'))
  stream.send(encodeDirectFrame(exportsTopic(app.application, 'Tomcat'), encodeMeshMessage(announceOf(app,
    signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' }), '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.1'))))
  await recorder.waitFor('the owner\'s Tomcat', () => '/Tomcat VM 1/Tomcat' in recorder.imports('Tomcat'), 20_000)
  t.deepEqual(importer.view().rejections, { 'liveness-malformed': 1 })
  t.is(stream.status, 'open')
})

test('Noise\'s frames are cut from the bytes as before, without asking an empty buffer for a length (an error thrown per frame)', t => {
  // node.ts (imported by libp2p.ts above) patches the decoder Noise uses: lengths are u16 big-endian, as Noise's.
  const frame = (n: number, fill: number): Uint8Array => { const b = new Uint8Array(2 + n).fill(fill); b[0] = n >> 8; b[1] = n & 0xff; return b }
  const bytes = Uint8Array.from([...frame(3, 1), ...frame(700, 2), ...frame(1, 3)])
  for (const cut of [1, 2, 5, 705, bytes.byteLength]) {
    let thrown = 0
    const decoder = new LengthPrefixedDecoder({
      lengthDecoder: data => {
        if (data.length < 2) { thrown++; throw new RangeError('Could not decode int16BE') }
        return data.subarray(0, 2).reduce((n, b) => n * 256 + b, 0)
      },
      encodingLength: () => 2
    })
    const read: number[][] = []
    for (let i = 0; i < bytes.byteLength; i += cut) for (const f of decoder.decode(bytes.subarray(i, i + cut))) read.push([f.byteLength, f.get(0)])
    t.deepEqual(read, [[3, 1], [700, 2], [1, 3]], `cut every ${cut} bytes`)
    // Only a buffer holding one byte of a length (of two) still finds it out by the error: cut every byte, at each
    // length's first byte (3); every 2 bytes, after the first and second frames, which end at odd offsets (2).
    t.is(thrown, cut === 1 ? 3 : cut === 2 ? 2 : 0, `cut every ${cut} bytes`)
  }
})

test.serial('a stream sends its window update once half the window is read, not after every frame', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-direct-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const app = createMeshApp()
  const identity = await loadOrCreatePeerIdentity(join(dir, 'apache'))
  const { model, parameters } = app.agent('Apache VM', 'Apache', identity.peerId, [])
  const importer = await startLibp2pMesh(model, parameters, new ImportRecorder(), { stateDir: join(dir, 'apache'), privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
  t.teardown(async () => { await importer.stop() })
  const sender = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const connection = await sender.node.dial(importer.listenAddresses().map(a => multiaddr(a)))
  const stream = await connection.newStream(DIRECT_PROTOCOL)
  // yamux's own count of what the receiver still accepts (256 KiB at first), raised by the receiver's window updates.
  const credit = (): number => (stream as unknown as { sendWindowCapacity: number }).sendWindowCapacity
  // The opening's acknowledgement settles first.
  await new Promise(resolve => setTimeout(resolve, 300))
  const before = credit()
  const chunk = encodeDirectFrame(exportsTopic(app.application, 'Nobody'), new Uint8Array(1000))
  for (let i = 0; i < 50; i++) stream.send(chunk)
  // The receiver has read them all (the frames are of a topic it ignores): half a second later, no update came.
  await new Promise(resolve => setTimeout(resolve, 500))
  t.is(credit(), before - 50 * chunk.byteLength)
  // Past half the window, one update gives it all back.
  for (let i = 0; i < 150; i++) stream.send(chunk)
  await waitFor('a window update past half the window', () => credit() > before - 200 * chunk.byteLength, { timeoutMs: 10_000 })
  t.true(credit() > before - 200 * chunk.byteLength)
})
