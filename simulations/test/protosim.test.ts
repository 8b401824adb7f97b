// The protocol simulation at a small N: real MeshService instances in simulated time converge, still converge (within
// the anti-entropy bound) when a fifth of the frames are dropped, and give the same figures for the same seed.
import test from 'ava'
import { ANTI_ENTROPY_MAX_INTERVAL_MS, LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS } from '../../agent/mesh/constants.js'
import { SimClock } from '../protosim/clock.js'
import { CONDITIONS, runProtosim } from '../protosim/protosim.js'

const AGENTS = 50

test('the simulated clock runs events in time order (ties in scheduling order), skips cancelled ones, and stops at its bound', async t => {
  const clock = new SimClock(1_000_000, 7)
  const seen: string[] = []
  clock.setTimeout(() => seen.push('b'), 20)
  clock.at(5, () => seen.push('a1'))
  clock.at(5, () => seen.push('a2'))
  clock.clearTimeout(clock.setTimeout(() => seen.push('cancelled'), 10))
  clock.setTimeout(() => seen.push('late'), 500)
  t.false(await clock.runUntil(() => false, 100))
  t.deepEqual(seen, ['a1', 'a2', 'b'])
  t.is(clock.now(), 1_000_100)
  t.true(await clock.runUntil(() => seen.includes('late'), 1000))
  t.is(clock.monotonicMs(), 500)
})

test(`${AGENTS} agents on a clean network: every importer holds a change within a hop, a withdraw too, a lost host after ping timeout and grace`, async t => {
  const r = await runProtosim({ agents: AGENTS, network: CONDITIONS.clean, seed: 3 })
  t.true(r.coldStart.converged)
  for (const phase of [...r.changes, r.withdraw]) {
    t.true(phase.converged)
    // One direct frame from the owner to each importer it is connected to (all of them): a hop of 0.2 ms ±20 %.
    t.true((phase.allMs as number) <= 0.25, `${phase.allMs} ms`)
    // Each importer handles that one message; owners none.
    t.is(phase.messagesPerAgent, Math.round(10 * (AGENTS - r.exporters) / AGENTS) / 10)
  }
  t.true(r.crash.converged)
  const crashBoundMs = LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + LIVENESS_GRACE_MS
  t.true((r.crash.allMs as number) >= LIVENESS_PING_TIMEOUT_MS + LIVENESS_GRACE_MS && (r.crash.allMs as number) <= crashBoundMs + 1, `${r.crash.allMs} ms`)
  // Importers dial the owners they import from: an owner is connected to (nearly) every agent.
  t.true(r.ownerConnections >= AGENTS - 5)
})

test(`${AGENTS} agents, 20 % of frames dropped: anti-entropy still brings every importer the change, within a bound of digest rounds`, async t => {
  const r = await runProtosim({ agents: AGENTS, network: CONDITIONS.loss, seed: 3, changes: 1 })
  t.true(r.framesDropped > 0)
  const change = r.changes[0]
  t.true(change.converged)
  // Most get the direct frame at once; the rest wait for digests: at most ANTI_ENTROPY_MAX_INTERVAL_MS (×1.2 jitter)
  // apart once backed off, and a handful of rounds reach everyone at 80 % a frame.
  t.true((change.p50Ms as number) < 1)
  t.true((change.allMs as number) > 1000, 'some importer missed the direct frame and waited for a digest')
  t.true((change.allMs as number) < 12 * ANTI_ENTROPY_MAX_INTERVAL_MS * 1.2, `${change.allMs} ms`)
  t.true(r.withdraw.converged)
})

test('the same seed gives the same run', async t => {
  const run = async (seed: number): Promise<unknown> => {
    const { cpuMs, heapBytesPerAgent, ...figures } = await runProtosim({ agents: 30, network: CONDITIONS.loss, seed, changes: 1 })
    return figures
  }
  const first = await run(5)
  t.deepEqual(await run(5), first)
  t.notDeepEqual(await run(6), first)
})
