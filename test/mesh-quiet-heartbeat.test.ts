// Gossipsub's heartbeat stretches while the mesh is quiet and comes back to its normal interval as soon as something
// happens (agent/mesh/quiet-heartbeat.ts), on two real libp2p nodes.
import '../agent/polyfill.js'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode, type MeshNode } from '../agent/mesh/node.js'
import { QuietHeartbeat } from '../agent/mesh/quiet-heartbeat.js'
import { waitFor } from './helpers/wait.js'

const TOPIC = 'quiet-heartbeat-test'
/** Short intervals, so that the test takes seconds; the ratio is the agent's (GOSSIP_HEARTBEAT_INTERVAL_MS 1 s to 8 s). */
const INTERVAL_MS = 200
const MAX_INTERVAL_MS = 1600
const QUIET_HEARTBEATS = 3

async function twoNodes (): Promise<[MeshNode, MeshNode]> {
  const a = await createMeshNode({ privateKey: await generateKeyPair('Ed25519') })
  const b = await createMeshNode({ privateKey: await generateKeyPair('Ed25519') })
  a.services.pubsub.subscribe(TOPIC)
  b.services.pubsub.subscribe(TOPIC)
  await a.dial(b.getMultiaddrs()[0])
  await waitFor('both nodes subscribed to each other',
    () => a.services.pubsub.getSubscribers(TOPIC).length > 0 && b.services.pubsub.getSubscribers(TOPIC).length > 0 ? true : undefined,
    { timeoutMs: 20_000 })
  return [a, b]
}

test('the heartbeat stretches while nothing happens, and is back to normal at once when a message comes', async t => {
  const [a, b] = await twoNodes()
  const quiet = new QuietHeartbeat(a.services.pubsub, { intervalMs: INTERVAL_MS, maxIntervalMs: MAX_INTERVAL_MS, quietHeartbeats: QUIET_HEARTBEATS })
  const beats: number[] = []
  const onBeat = (): void => { beats.push(performance.now()) }
  a.services.pubsub.addEventListener('gossipsub:heartbeat', onBeat)
  t.teardown(async () => {
    quiet.stop()
    a.services.pubsub.removeEventListener('gossipsub:heartbeat', onBeat)
    await Promise.all([a.stop(), b.stop()])
  })
  t.is(quiet.currentIntervalMs(), INTERVAL_MS)

  // Quiet: the interval doubles after each heartbeat past the third, up to the ceiling.
  await waitFor('the longest interval', () => quiet.currentIntervalMs() === MAX_INTERVAL_MS ? true : undefined, { timeoutMs: 30_000 })
  const stretchedFrom = beats.length
  await waitFor('two stretched heartbeats', () => beats.length >= stretchedFrom + 2 ? true : undefined, { timeoutMs: 30_000 })
  const gap = beats[beats.length - 1] - beats[beats.length - 2]
  t.true(gap >= MAX_INTERVAL_MS * 0.25 && gap > 2 * INTERVAL_MS, `a quiet heartbeat ${gap.toFixed(0)} ms after the last one`)

  // A message: the normal interval, and the next heartbeat within it rather than the stretched one.
  const received = new Promise<number>(resolve => {
    a.services.pubsub.addEventListener('message', () => { resolve(performance.now()) }, { once: true })
  })
  await b.services.pubsub.publish(TOPIC, new TextEncoder().encode('a change'))
  const at = await received
  t.is(quiet.currentIntervalMs(), INTERVAL_MS)
  await waitFor('a heartbeat after the message', () => beats.some(beat => beat > at) ? true : undefined, { timeoutMs: 30_000 })
  const next = (beats.find(beat => beat > at) ?? Infinity) - at
  // The stretched heartbeat would have come up to 1.25 x MAX_INTERVAL_MS later; timers run late on a loaded host.
  t.true(next < MAX_INTERVAL_MS * 0.75, `next heartbeat ${next.toFixed(0)} ms after the message`)

  // Quiet again: stretched again.
  await waitFor('stretched again', () => quiet.currentIntervalMs() > INTERVAL_MS ? true : undefined, { timeoutMs: 30_000 })
  t.true(quiet.currentIntervalMs() > INTERVAL_MS)
})
