// How an agent tells its own slowness from its peers' death: the lag of its own timers (local health), and which
// failed dials prove an owner gone (refused) rather than slow (timed out).
import '../agent/polyfill.js'
import { createServer, type Socket } from 'node:net'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { LocalHealth } from '../agent/mesh/health.js'
import { createMeshNode } from '../agent/mesh/node.js'
import { isRefusal } from '../agent/mesh/connection.js'
import { LOCAL_HEALTH_LAG_FACTOR, LOCAL_HEALTH_PROBE_MS } from '../agent/mesh/constants.js'
import { freePort } from '../common/net.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

// Serial: another test's libp2p start-up would block the loop and read as lag on a busy host.
test.serial('local health: no lag while the event loop is free, the length of a block once it was blocked; one probe per process', async t => {
  // The agents of one process (the scale benchmark packs 50) share one probe of their common event loop.
  const other = LocalHealth.acquire()
  const health = LocalHealth.acquire()
  t.is(health, other, 'one timer per process, not one per agent')
  other.release()
  t.teardown(() => { health.release() })
  await sleep(LOCAL_HEALTH_PROBE_MS * 3)
  t.true(health.lagMs() < 150, `lag ${health.lagMs()} ms on an idle loop`)
  const blockedUntil = performance.now() + 800
  while (performance.now() < blockedUntil) { /* a starved agent: no timer runs */ }
  await sleep(LOCAL_HEALTH_PROBE_MS * 2)
  const lag = health.lagMs()
  t.true(lag >= 500 && lag < 1500, `lag ${lag} ms after an 800 ms block`)
  t.true(Number.isInteger(lag), 'whole ms (AbortSignal.timeout refuses fractions)')
  // Timeouts and graces stretch by twice that lag.
  t.is(health.stretch(2000), 2000 + LOCAL_HEALTH_LAG_FACTOR * lag)
  health.release()
  const next = LocalHealth.acquire()
  t.not(next, health, 'the probe stopped with its last user; a new one starts with the next')
  next.release()
})

test('a dial refused by the owner\'s address proves it gone; a dial that times out does not', async t => {
  const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519') })
  // A listener that accepts and never answers: the handshake hangs until the timeout, as with a starved owner.
  const silent: Socket[] = []
  const server = createServer(socket => { silent.push(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of silent) socket.destroy()
    server.close()
    await node.stop()
  })
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

  const closedPort = await freePort()
  const refused = await node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${closedPort}/p2p/${peer}`), { signal: AbortSignal.timeout(3000) })
    .then(() => undefined, (err: unknown) => err)
  t.truthy(refused, 'nothing listens there')
  t.true(isRefusal(refused), `refused: ${String(refused)}`)

  const { port } = server.address() as { port: number }
  const timedOut = await node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${peer}`), { signal: AbortSignal.timeout(500) })
    .then(() => undefined, (err: unknown) => err)
  t.truthy(timedOut, 'the listener never answers')
  t.false(isRefusal(timedOut), `timed out, not refused: ${String(timedOut)}`)
})
