// The owners' liveness probes (agent/mesh/probe.ts) on a simulated clock: a late direct ping rescued by a helper's
// ping-req is no loss; an owner no one reaches is lost within interval + direct timeout + indirect wait; a starved
// agent (Lifeguard's local health) waits longer; a helper's side is bounded against hostile requesters.
import test from 'ava'
import {
  OwnerLiveness, ProbeHelper, ProbeRequestError, decodePingInterval, decodeProbeAnswer, decodeProbeRequest, encodePingInterval, encodeProbeAnswer,
  encodeProbeRequest, ownerPingIntervalMs, type DirectPing, type ProbeAnswer, type ProbeClock, type ProbeRejection
} from '../agent/mesh/probe.js'
import {
  LIVENESS_MAX_PING_INTERVAL_MS, LIVENESS_OWNER_PINGS_PER_SECOND, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS, MAX_PROBES_PER_REQUESTER,
  PROBE_HELPER_PING_TIMEOUT_MS, PROBE_HINTED_TIMEOUT_MS, PROBE_INDIRECT_TIMEOUT_MS, PROBE_REQUESTS_PER_SECOND
} from '../agent/mesh/constants.js'
import { seededRandom } from '../fixtures/random.js'

const OWNER = '12D3KooWTomcat'.padEnd(52, 't')
const HELPERS = ['12D3KooWApacheA', '12D3KooWApacheB', '12D3KooWApacheC'].map(h => h.padEnd(52, 'x'))
const SELF = '12D3KooWMe'.padEnd(52, 'y')

/** A clock whose timers run only when the test advances it (promises settle between timers). */
class SimulatedClock implements ProbeClock {
  private at = 0
  private readonly timers: Array<{ at: number, fn: () => void, live: boolean }> = []
  now = (): number => this.at
  after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.at + ms, fn, live: true }
    this.timers.push(timer)
    return () => { timer.live = false }
  }

  async advanceTo (until: number): Promise<void> {
    for (let guard = 0; guard < 10_000; guard++) {
      await settle()
      const next = this.timers.filter(t => t.live).sort((a, b) => a.at - b.at)[0]
      if (next === undefined || next.at > until) break
      next.live = false
      this.at = next.at
      next.fn()
    }
    this.at = Math.max(this.at, until)
    await settle()
  }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve))
}

/** A peer that answers pings after `delayMs` (never when cut) on the simulated clock. */
class SimulatedPeer {
  cut = false
  delayMs = 1
  constructor (private readonly clock: SimulatedClock) {}
  ping (): DirectPing {
    const answered = new Promise<void>(resolve => {
      const answer = (): void => { if (!this.cut) resolve() }
      if (!this.cut) this.clock.after(this.delayMs, answer)
    })
    return { answered, isOpen: () => true }
  }
}

interface Harness {
  clock: SimulatedClock
  owner: SimulatedPeer
  liveness: OwnerLiveness
  events: Array<{ at: number, event: 'lost' | 'back', confirmed?: boolean }>
  asked: string[]
  /** Runs the ping rounds every LIVENESS_PING_INTERVAL_MS until `until`. */
  runUntil: (until: number) => Promise<void>
}

/** An importer watching OWNER, whose helpers answer `helperAnswer` after `helperDelayMs` (undefined: never). */
function harness (helperAnswer: (owner: SimulatedPeer) => ProbeAnswer | undefined, options: { lagMs?: number, helperDelayMs?: number, random?: () => number } = {}): Harness {
  const clock = new SimulatedClock()
  const owner = new SimulatedPeer(clock)
  const events: Harness['events'] = []
  const asked: string[] = []
  const liveness = new OwnerLiveness({
    clock,
    random: options.random,
    ping: () => owner.ping(),
    helpers: () => HELPERS,
    ask: async helper => {
      asked.push(helper)
      return await new Promise(resolve => {
        clock.after(options.helperDelayMs ?? PROBE_HELPER_PING_TIMEOUT_MS, () => {
          const answer = helperAnswer(owner)
          if (answer !== undefined) resolve(answer)
        })
      })
    },
    stretch: ms => ms + 2 * (options.lagMs ?? 0),
    lost: (_, confirmed) => { events.push({ at: clock.now(), event: 'lost', confirmed }) },
    back: () => { events.push({ at: clock.now(), event: 'back' }) },
    abort: () => {}
  })
  let nextTick = 0
  const runUntil = async (until: number): Promise<void> => {
    while (nextTick <= until) {
      await clock.advanceTo(nextTick)
      liveness.tick([OWNER])
      nextTick += LIVENESS_PING_INTERVAL_MS
    }
    await clock.advanceTo(until)
  }
  return { clock, owner, liveness, events, asked, runUntil }
}

test('an owner that answers its pings is never probed indirectly', async t => {
  const h = harness(() => 'nack')
  await h.runUntil(10_000)
  t.deepEqual(h.events, [])
  t.deepEqual(h.asked, [])
  t.true(h.liveness.counts.pings >= 10)
})

test('a ping answered in time leaves its signal alone (no abort, no DOMException per ping); one answered during its indirect probe ends the helpers\' asks', async t => {
  const clock = new SimulatedClock()
  const owner = new SimulatedPeer(clock)
  const signals: AbortSignal[] = []
  const asks: AbortSignal[] = []
  const liveness = new OwnerLiveness({
    clock,
    ping: (_, signal) => { signals.push(signal); return owner.ping() },
    helpers: () => HELPERS,
    ask: async (_, __, signal) => { asks.push(signal); return await new Promise<ProbeAnswer>(() => {}) },
    stretch: ms => ms,
    lost: () => {},
    back: () => {},
    abort: () => {}
  })
  liveness.tick([OWNER])
  await clock.advanceTo(LIVENESS_PING_INTERVAL_MS - 1)
  t.is(signals.length, 1)
  t.false(signals[0].aborted, 'an answered ping is not aborted')
  // The next ping is answered after the direct timeout, while the helpers are asked: their asks end with it.
  owner.delayMs = LIVENESS_PING_TIMEOUT_MS + 100
  liveness.tick([OWNER])
  await clock.advanceTo(LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + 50)
  t.is(asks.length, 3)
  t.false(asks.some(a => a.aborted))
  await clock.advanceTo(LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + 150)
  t.true(signals[1].aborted, 'the late ping ends its indirect probe')
  t.true(asks.every(a => a.aborted))
  liveness.stop()
})

test('a late direct ping that a helper gets answered is no loss (the link between two peers, not the owner, failed)', async t => {
  // Our own pings go unanswered, but the helpers reach the owner.
  const h = harness(() => 'ack')
  h.owner.cut = true
  await h.runUntil(10_000)
  t.deepEqual(h.events, [], 'no withdrawal')
  t.true(h.asked.length >= 3)
  t.true(h.liveness.counts.rescued >= 1)
  t.false(h.liveness.isUnresponsive(OWNER))
})

test('an owner nobody reaches is lost, confirmed, within interval + direct timeout + the helpers\' answers, and back when it answers', async t => {
  const h = harness(owner => owner.cut ? 'nack' : 'ack')
  await h.runUntil(5000)
  const cutAt = 5001 // just after a ping was answered: the worst phase
  await h.runUntil(cutAt)
  h.owner.cut = true
  await h.runUntil(cutAt + 5000)
  const lost = h.events.filter(e => e.event === 'lost')
  t.is(lost.length, 1, JSON.stringify(h.events))
  t.true(lost[0].confirmed === true)
  const detectMs = lost[0].at - cutAt
  t.true(detectMs <= LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_HELPER_PING_TIMEOUT_MS, `${detectMs} ms`)
  t.true(detectMs <= 2500, `${detectMs} ms`)
  t.is(h.liveness.counts.lostConfirmed, 1)
  t.true(h.liveness.isUnresponsive(OWNER))
  // Healed: the pending ping is answered late (the link delivers it), the owner is back at once.
  h.owner.cut = false
  h.liveness.forget(OWNER)
  await h.runUntil(cutAt + 8000)
  t.false(h.liveness.isUnresponsive(OWNER))
})

test('when no helper knows the owner, the loss is unconfirmed (the service then applies its grace) and comes at the indirect timeout', async t => {
  const h = harness(() => 'unknown')
  h.owner.cut = true
  await h.runUntil(3000)
  const lost = h.events.filter(e => e.event === 'lost')
  t.is(lost.length, 1)
  t.false(lost[0].confirmed)
  t.is(lost[0].at, LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS)
})

test('helpers that never answer (this agent is the unhealthy one) give no confirmation', async t => {
  const h = harness(() => undefined)
  h.owner.cut = true
  await h.runUntil(3000)
  const lost = h.events.filter(e => e.event === 'lost')
  t.is(lost.length, 1)
  t.false(lost[0].confirmed)
})

test('a slow owner answering within the direct timeout plus the helpers\' wait is no loss', async t => {
  const h = harness(() => 'nack', { helperDelayMs: PROBE_INDIRECT_TIMEOUT_MS - 1 })
  h.owner.delayMs = LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS - 100
  await h.runUntil(10_000)
  t.deepEqual(h.events, [])
  t.true(h.liveness.counts.indirect >= 1)
})

test('a starved agent (its own timers late, after Lifeguard) stretches both waits and accuses later', async t => {
  const lagMs = 300
  const h = harness(() => 'unknown', { lagMs })
  h.owner.cut = true
  await h.runUntil(4000)
  const lost = h.events.filter(e => e.event === 'lost')
  t.is(lost.length, 1)
  t.is(lost[0].at, LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS + 4 * lagMs)
})

// ------------------------------------------------------------------------------------------------ the helper's side

function helperHarness (clock: SimulatedClock, connected: (peer: string) => SimulatedPeer | undefined): { helper: ProbeHelper, rejected: ProbeRejection[] } {
  const rejected: ProbeRejection[] = []
  const helper = new ProbeHelper(SELF, {
    clock,
    ping: peer => connected(peer)?.ping(),
    stretch: ms => ms,
    rejected: reason => { rejected.push(reason) }
  })
  return { helper, rejected }
}

test('a helper answers ack for a live peer, nack after its timeout for a silent one, unknown for a peer it is not connected to', async t => {
  const clock = new SimulatedClock()
  const live = new SimulatedPeer(clock)
  const silent = new SimulatedPeer(clock)
  silent.cut = true
  const { helper, rejected } = helperHarness(clock, peer => peer === HELPERS[0] ? live : peer === HELPERS[1] ? silent : undefined)
  const answers = [helper.serve(OWNER, HELPERS[0]), helper.serve(HELPERS[2], HELPERS[1]), helper.serve(OWNER, '12D3KooWStranger'.padEnd(52, 'z'))]
  await clock.advanceTo(PROBE_HELPER_PING_TIMEOUT_MS - 1)
  t.is(await answers[0], 'ack')
  t.is(await answers[2], 'unknown')
  await clock.advanceTo(PROBE_HELPER_PING_TIMEOUT_MS)
  t.is(await answers[1], 'nack')
  t.deepEqual(rejected, [])
})

test('a helper refuses ping-reqs about the requester or itself, beyond its per-requester and per-second bounds, and counts them', async t => {
  const clock = new SimulatedClock()
  const silent = new SimulatedPeer(clock)
  silent.cut = true
  const { helper, rejected } = helperHarness(clock, () => silent)
  t.is(await helper.serve(OWNER, OWNER), undefined)
  t.is(await helper.serve(OWNER, SELF), undefined)
  t.deepEqual(rejected, ['probe-malformed', 'probe-malformed'])
  rejected.length = 0
  // One requester: MAX_PROBES_PER_REQUESTER at once.
  const running = Array.from({ length: MAX_PROBES_PER_REQUESTER + 2 }, () => helper.serve(OWNER, HELPERS[0]))
  await settle()
  t.deepEqual(rejected, ['probe-limit', 'probe-limit'])
  await clock.advanceTo(PROBE_HELPER_PING_TIMEOUT_MS)
  t.deepEqual(await Promise.all(running), [...Array(MAX_PROBES_PER_REQUESTER).fill('nack'), undefined, undefined])
  // Many requesters: PROBE_REQUESTS_PER_SECOND in all (the tokens spent above are back after a second).
  await clock.advanceTo(PROBE_HELPER_PING_TIMEOUT_MS + 1000)
  rejected.length = 0
  const flood = Array.from({ length: PROBE_REQUESTS_PER_SECOND + 5 }, (_, i) => helper.serve(`12D3KooWRequester${i}`.padEnd(52, 'r'), HELPERS[0]))
  await settle()
  t.is(rejected.length, 5)
  t.true(rejected.every(r => r === 'probe-limit'))
  await clock.advanceTo(PROBE_HELPER_PING_TIMEOUT_MS * 2 + 1000)
  t.is((await Promise.all(flood)).filter(a => a === 'nack').length, PROBE_REQUESTS_PER_SECOND)
})

test('ping-req framing: a peer id round-trips; what is not a peer id, or too long, is refused', t => {
  const bytes = encodeProbeRequest(OWNER)
  t.is(decodeProbeRequest(bytes.subarray(0, 10)), undefined, 'incomplete')
  t.is(decodeProbeRequest(bytes), OWNER)
  t.throws(() => decodeProbeRequest(Uint8Array.of(...bytes, 1)), { instanceOf: ProbeRequestError })
  t.throws(() => decodeProbeRequest(Uint8Array.of(3, 0x2f, 0x2e, 0x2e)), { instanceOf: ProbeRequestError })
  t.throws(() => decodeProbeRequest(Uint8Array.of(2, 0xff, 0xfe)), { instanceOf: ProbeRequestError })
  t.throws(() => encodeProbeRequest('../etc/passwd'), { instanceOf: ProbeRequestError })
  for (const answer of ['ack', 'nack', 'unknown'] as const) t.is(decodeProbeAnswer(encodeProbeAnswer(answer)), answer)
  t.is(decodeProbeAnswer(Uint8Array.of(42)), 'unknown')
})

test('a helper whose own ping of the target has gone unanswered for its timeout already answers nack at once', async t => {
  const clock = new SimulatedClock()
  const silent = new SimulatedPeer(clock)
  silent.cut = true
  const rejected: ProbeRejection[] = []
  const helper = new ProbeHelper(SELF, {
    clock,
    ping: () => silent.ping(),
    unansweredForMs: () => PROBE_HELPER_PING_TIMEOUT_MS - 100,
    stretch: ms => ms,
    rejected: reason => { rejected.push(reason) }
  })
  const answer = helper.serve(OWNER, HELPERS[0])
  await clock.advanceTo(99)
  t.is(await Promise.race([answer, Promise.resolve('pending')]), 'pending')
  await clock.advanceTo(100)
  t.is(await answer, 'nack', 'after the rest of the timeout only')
  const helper2 = new ProbeHelper(SELF, { clock, ping: () => silent.ping(), unansweredForMs: () => PROBE_HELPER_PING_TIMEOUT_MS, stretch: ms => ms, rejected: () => {} })
  t.is(await helper2.serve(OWNER, HELPERS[0]), 'nack', 'at once')
})

test('a helper not connected to the owner is replaced by the next candidate', async t => {
  const clock = new SimulatedClock()
  const owner = new SimulatedPeer(clock)
  owner.cut = true
  const candidates = ['A', 'B', 'C', 'D', 'E', 'F', 'G'].map(c => `12D3KooW${c}`.padEnd(52, 'k'))
  const asked: string[] = []
  const lost: boolean[] = []
  const liveness = new OwnerLiveness({
    clock,
    ping: () => owner.ping(),
    helpers: () => candidates,
    // The first three know nothing of the owner; the next ones could not reach it.
    ask: async helper => { asked.push(helper); return candidates.indexOf(helper) < 3 ? 'unknown' : 'nack' },
    stretch: ms => ms,
    lost: (_, confirmed) => { lost.push(confirmed) },
    back: () => {},
    abort: () => {}
  })
  liveness.tick([OWNER])
  await clock.advanceTo(LIVENESS_PING_TIMEOUT_MS)
  t.deepEqual(lost, [true], 'confirmed at once by the replacements')
  t.deepEqual(asked, candidates.slice(0, 6), 'at most twice PROBE_HELPERS asked')
})

test('an importer asked about an owner it also pings judges its own pending ping sooner (the first to notice a cut hastens the others)', async t => {
  const h = harness(owner => owner.cut ? 'nack' : 'ack', { helperDelayMs: 1 })
  await h.runUntil(1500) // the ping of 1000 was answered
  h.owner.cut = true
  await h.runUntil(2000) // a ping is sent at 2000 and goes unanswered
  const hintedAt = 2000 + PROBE_HINTED_TIMEOUT_MS / 2
  await h.clock.advanceTo(hintedAt)
  h.liveness.hint(OWNER)
  await h.clock.advanceTo(2000 + PROBE_HINTED_TIMEOUT_MS + 1)
  const lost = h.events.filter(e => e.event === 'lost')
  t.is(lost.length, 1, 'judged at PROBE_HINTED_TIMEOUT_MS, not LIVENESS_PING_TIMEOUT_MS')
  t.true(lost[0].at <= 2000 + PROBE_HINTED_TIMEOUT_MS + 1, `lost at ${lost[0].at}`)
  t.true(lost[0].confirmed === true)
  // Without its helpers' nacks, a hint alone accuses no one.
  const alive = harness(() => 'ack', { helperDelayMs: 1 })
  alive.owner.cut = true
  await alive.runUntil(100)
  alive.liveness.hint(OWNER)
  await alive.runUntil(5000)
  t.deepEqual(alive.events, [])
})

test('a busy owner whose pings are late but who keeps writing frames is not probed nor lost; once silent, it is', async t => {
  // Every helper would confirm the loss: only the frames keep it alive.
  const h = harness(() => 'nack')
  h.owner.delayMs = 3 * LIVENESS_PING_TIMEOUT_MS
  // Frames every 200 ms until 6 s (a Tomcat sending its announces to many importers), then nothing.
  for (let at = 100; at <= 6000; at += 200) h.clock.after(at, () => { h.liveness.heard(OWNER) })
  await h.runUntil(6000)
  t.deepEqual(h.events, [], 'heard from all along: no loss')
  t.is(h.liveness.counts.indirect, 0, 'no helper asked while frames come')
  h.owner.cut = true
  await h.runUntil(6000 + LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS + PROBE_HELPER_PING_TIMEOUT_MS)
  t.is(h.events[0]?.event, 'lost', 'silent after its last frame: lost')
  t.true((h.events[0]?.at ?? Infinity) <= 5900 + LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS)
})

test('an owner counted as lost is back at its first frame; a helper that heard from the target just now answers ack without a ping', async t => {
  const h = harness(() => 'nack')
  h.owner.cut = true
  await h.runUntil(LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS)
  t.is(h.events.at(-1)?.event, 'lost')
  h.liveness.heard(OWNER)
  t.is(h.events.at(-1)?.event, 'back')

  const clock = new SimulatedClock()
  let pinged = 0
  const helper = new ProbeHelper(SELF, {
    clock,
    ping: () => { pinged++; return new SimulatedPeer(clock).ping() },
    heardWithin: (_, ms) => ms >= PROBE_HELPER_PING_TIMEOUT_MS,
    stretch: ms => ms,
    rejected: () => {}
  })
  t.is(await helper.serve(OWNER, HELPERS[0]), 'ack')
  t.is(pinged, 0)
})

// ------------------------------------------------------------------------------------- owners with many importers

test('an owner asks for a longer ping interval as its importers double past LIVENESS_OWNER_PINGS_PER_SECOND; the frame round-trips, garbage does not', t => {
  t.is(ownerPingIntervalMs(0), LIVENESS_PING_INTERVAL_MS)
  t.is(ownerPingIntervalMs(LIVENESS_OWNER_PINGS_PER_SECOND), LIVENESS_PING_INTERVAL_MS)
  t.is(ownerPingIntervalMs(LIVENESS_OWNER_PINGS_PER_SECOND + 1), 2 * LIVENESS_PING_INTERVAL_MS)
  t.is(ownerPingIntervalMs(1000), 16_000, '1 000 importers: 62 pings a second in all')
  t.is(ownerPingIntervalMs(1_000_000), LIVENESS_MAX_PING_INTERVAL_MS)
  for (let importers = 1; importers <= 5000; importers += 37) {
    const interval = ownerPingIntervalMs(importers)
    t.true(importers * 1000 / interval <= Math.max(importers, LIVENESS_OWNER_PINGS_PER_SECOND) || interval === LIVENESS_MAX_PING_INTERVAL_MS)
  }
  t.is(decodePingInterval(encodePingInterval(16_000)), 16_000)
  for (const garbage of ['', 'abc', '-1', '1.5', '1234567890', '16 000']) t.is(decodePingInterval(new TextEncoder().encode(garbage)), undefined, garbage)
})

test('an owner that asked for 8 s is pinged about every 8 s (at a random phase); what it asks is clamped', async t => {
  const h = harness(() => 'nack', { random: seededRandom(7) })
  h.liveness.setPingInterval(OWNER, 8000)
  t.is(h.liveness.pingIntervalMs(OWNER), 8000)
  await h.runUntil(80_000)
  t.true(h.liveness.counts.pings >= 9 && h.liveness.counts.pings <= 11, `${h.liveness.counts.pings} pings in 80 s`)
  t.deepEqual(h.events, [])
  h.liveness.setPingInterval(OWNER, 1e9)
  t.is(h.liveness.pingIntervalMs(OWNER), LIVENESS_MAX_PING_INTERVAL_MS)
  h.liveness.setPingInterval(OWNER, 10)
  t.is(h.liveness.pingIntervalMs(OWNER), LIVENESS_PING_INTERVAL_MS)
})

test('an owner that wrote to us within the interval is not pinged (its frame is an answer already)', async t => {
  const h = harness(() => 'nack')
  for (let at = 300; at <= 10_000; at += 300) h.clock.after(at, () => { h.liveness.heard(OWNER) })
  await h.runUntil(10_000)
  t.is(h.liveness.counts.pings, 1, 'only the first round, before any frame')
  t.deepEqual(h.events, [])
})

test('asked about an owner it has no ping in flight for (pinged seldom), an importer pings it at once and judges it at the hinted timeout', async t => {
  const h = harness(owner => owner.cut ? 'nack' : 'ack', { helperDelayMs: 1, random: seededRandom(3) })
  h.liveness.setPingInterval(OWNER, LIVENESS_MAX_PING_INTERVAL_MS)
  await h.runUntil(3000)
  const pings = h.liveness.counts.pings
  h.owner.cut = true
  h.liveness.hint(OWNER)
  t.is(h.liveness.counts.pings, pings + 1, 'pinged at the hint')
  await h.runUntil(3000 + PROBE_HINTED_TIMEOUT_MS + 1)
  t.deepEqual(h.events, [{ at: 3000 + PROBE_HINTED_TIMEOUT_MS + 1, event: 'lost', confirmed: true }])
  // A live owner that answers is not accused by a hint.
  const alive = harness(owner => owner.cut ? 'nack' : 'ack', { helperDelayMs: 1, random: seededRandom(3) })
  alive.liveness.setPingInterval(OWNER, LIVENESS_MAX_PING_INTERVAL_MS)
  await alive.runUntil(3000)
  alive.liveness.hint(OWNER)
  await alive.runUntil(6000)
  t.deepEqual(alive.events, [])
  // An owner pinged every second gets no extra ping from a hint (it is pinged within a second anyway).
  const often = harness(() => 'nack', { helperDelayMs: 1 })
  await often.runUntil(1500)
  const before = often.liveness.counts.pings
  often.liveness.hint(OWNER)
  t.is(often.liveness.counts.pings, before)
})

test('the suspicion spreads: 40 importers pinging a cut owner every 16 s all withdraw it within a few seconds, none while it lives', async t => {
  const clock = new SimulatedClock()
  const owner = new SimulatedPeer(clock)
  owner.delayMs = 2
  const random = seededRandom(11)
  const ids = Array.from({ length: 40 }, (_, i) => `12D3KooWApache${i}`.padEnd(52, 'z'))
  const lost = new Map<string, number>()
  const helpers = new Map<string, ProbeHelper>()
  const importers = ids.map(id => {
    const liveness: OwnerLiveness = new OwnerLiveness({
      clock,
      random,
      ping: () => owner.ping(),
      // Others, shuffled (libp2p.ts picks helpers among the peers importing what we import).
      helpers: () => ids.filter(other => other !== id).sort(() => random() - 0.5),
      ask: async (helper, target) => await helpers.get(helper)?.serve(id, target) ?? 'unknown',
      stretch: ms => ms,
      lost: (_, confirmed) => { if (confirmed && !lost.has(id)) lost.set(id, clock.now()) },
      back: () => {},
      abort: () => {}
    })
    helpers.set(id, new ProbeHelper(id, {
      clock,
      ping: () => owner.ping(),
      unansweredForMs: peer => liveness.unansweredForMs(peer),
      hint: peer => { liveness.hint(peer) },
      heardWithin: (peer, ms) => liveness.heardWithin(peer, ms),
      stretch: ms => ms,
      rejected: () => {}
    }))
    liveness.setPingInterval(OWNER, 16_000)
    return liveness
  })
  const runUntil = async (until: number): Promise<void> => {
    for (let at = Math.ceil(clock.now() / 1000) * 1000; at <= until; at += 1000) {
      await clock.advanceTo(at)
      for (const liveness of importers) liveness.tick([OWNER])
    }
    await clock.advanceTo(until)
  }
  await runUntil(40_000)
  t.is(lost.size, 0, 'no withdrawal while it answers')
  const pings = importers.reduce((sum, l) => sum + l.counts.pings, 0)
  t.true(pings <= 40 * (40 / 16 + 1), `${pings} pings in 40 s from 40 importers (2.5 each at 16 s)`)
  const cutAt = 40_001
  await runUntil(cutAt)
  owner.cut = true
  await runUntil(cutAt + 16_000)
  t.is(lost.size, ids.length, `${lost.size} of ${ids.length} withdrew it`)
  const delays = [...lost.values()].map(at => at - cutAt).sort((a, b) => a - b)
  t.log(`withdrawn after ${delays[0]} ms (first), ${delays[delays.length >> 1]} ms (p50), ${delays[delays.length - 1]} ms (last)`)
  t.true(delays[delays.length - 1] <= 6000, `the last after ${delays[delays.length - 1]} ms, against 16 s between two of its own pings`)
})
