// Liveness of the owners an agent imports from, SWIM-style (memberlist's probe, with Lifeguard's local health): each
// owner gets a direct ping every interval; one unanswered after a short timeout is not accused at once: a few other
// connected peers are asked to ping it (a ping-req). It counts as lost only when neither our ping nor theirs is
// answered, and as "confirmed" lost (no grace) only when some of them answered that they could not reach it either: a
// starved agent, whose helpers' answers come late too, does not accuse its owners but falls back to the grace. A cut
// TCP link sends no reset, so these probes are what notice a partition.
// Transport-free: libp2p.ts gives it pings, helpers and streams; tests give it a clock.
import {
  LIVENESS_ABORT_MS, LIVENESS_MAX_PING_INTERVAL_MS, LIVENESS_OWNER_PINGS_PER_SECOND, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS,
  MAX_PROBES_PER_REQUESTER, PROBE_HELPERS, PROBE_HELPER_PING_TIMEOUT_MS, PROBE_HINTED_TIMEOUT_MS, PROBE_INDIRECT_TIMEOUT_MS,
  PROBE_REQUESTS_PER_SECOND
} from './constants.js'

/** A helper's answer: the target answered its ping, did not in time, or is not connected to it (no evidence). */
export type ProbeAnswer = 'ack' | 'nack' | 'unknown'

/** Timers, injectable so that tests run on a simulated clock. */
export interface ProbeClock {
  now: () => number
  /** Runs `fn` after `ms`; returns what cancels it. */
  after: (ms: number, fn: () => void) => () => void
}

export const realClock: ProbeClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms)
    return () => { clearTimeout(timer) }
  }
}

/** A direct ping in flight: settles when answered (resolves) or when its connection closes (rejects). */
export interface DirectPing {
  answered: Promise<unknown>
  /** Whether the pinged connection is still open. */
  isOpen: () => boolean
}

export interface OwnerLivenessComponents {
  /** Pings the owner on its open connection (cancelled by `signal`); undefined when not connected. */
  ping: (peer: string, signal: AbortSignal) => DirectPing | undefined
  /** Connected peers that could ping `target` for us, best first (never `target` itself). */
  helpers: (target: string) => string[]
  /** Asks `helper` to ping `target` (a ping-req); cancelled by `signal`. */
  ask: (helper: string, target: string, signal: AbortSignal) => Promise<ProbeAnswer>
  /** `ms` stretched by this agent's own recent lag (LocalHealth). */
  stretch: (ms: number) => number
  /** The owner is lost; `confirmed`: helpers could not reach it either (no grace needed). */
  lost: (peer: string, confirmed: boolean) => void
  /** An owner counted as lost answers again. */
  back: (peer: string) => void
  /** The owner has been silent for LIVENESS_ABORT_MS: drop its connection (it is redialled). */
  abort: (peer: string) => void
  clock?: ProbeClock
  /** Uniform in [0, 1): the phase of an owner's pings once its interval grows; default Math.random. */
  random?: () => number
  log?: { info: (line: string) => void }
}

export interface OwnerLivenessOptions {
  /** Timeout of the direct ping before helpers are asked, in ms (stretched by our lag); default LIVENESS_PING_TIMEOUT_MS. */
  directTimeoutMs?: number
  /** Longest wait for the helpers' answers, in ms (stretched by our lag); default PROBE_INDIRECT_TIMEOUT_MS. */
  indirectTimeoutMs?: number
  /** Helpers asked per probe; default PROBE_HELPERS. */
  helpers?: number
  /** Interval of the pings (and of `tick`), in ms, unless an owner asks for a longer one; default LIVENESS_PING_INTERVAL_MS. */
  intervalMs?: number
}

/**
 * The ping interval an owner with `importers` connected importers asks for, in ms: the base interval while they ping
 * it at most LIVENESS_OWNER_PINGS_PER_SECOND times a second in all, then doubled as often as needed (powers of two, so
 * that it changes only as the count doubles), up to LIVENESS_MAX_PING_INTERVAL_MS. 100 importers: 1 s; 1 000: 16 s.
 */
export function ownerPingIntervalMs (importers: number, baseMs = LIVENESS_PING_INTERVAL_MS): number {
  const wanted = importers * 1000 / LIVENESS_OWNER_PINGS_PER_SECOND
  let interval = baseMs
  while (interval < wanted && interval < LIVENESS_MAX_PING_INTERVAL_MS) interval *= 2
  return Math.min(interval, Math.max(baseMs, LIVENESS_MAX_PING_INTERVAL_MS))
}

/** How an owner's advertised interval travels: its decimal text (a direct frame on LIVENESS_TOPIC). */
export function encodePingInterval (ms: number): Uint8Array {
  return new TextEncoder().encode(String(Math.round(ms)))
}

/** An advertised interval, in ms; undefined when it is not a whole number of ms of at most 9 digits. */
export function decodePingInterval (bytes: Uint8Array): number | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength > 9) return undefined
  let ms = 0
  for (const b of bytes) {
    if (b < 0x30 || b > 0x39) return undefined
    ms = ms * 10 + b - 0x30
  }
  return ms
}

/** What the probes did since the start (the view and the benchmark read them). */
export interface ProbeCounts {
  /** Direct pings sent. */
  pings: number
  /** Probes that went indirect (direct ping late), ping-reqs sent, and the verdicts. */
  indirect: number
  requests: number
  rescued: number
  lostConfirmed: number
  lostUnconfirmed: number
}

interface InFlight {
  cancel: AbortController
  timers: Array<() => void>
  /** When the ping was sent (clock's ms). */
  sentAt: number
  /** Another peer asked us about this owner: judge our pending ping sooner (set once the ping is sent). */
  hinted?: () => void
}

interface ProbeOptions {
  /** Judge the ping after PROBE_HINTED_TIMEOUT_MS (another peer asked us about this owner). */
  hinted?: boolean
}

/** Pings owners, asks helpers when a ping is late, and reports owners lost and back. */
export class OwnerLiveness {
  private readonly inFlight = new Map<string, InFlight>()
  /**
   * When each owner last sent us something on its connection (clock's ms). A busy owner answers pings late but still
   * writes its announces: any frame is evidence of life (Lifeguard's "any message refutes"), a cut sends none.
   */
  private readonly lastHeard = new Map<string, number>()
  /** Owners counted as lost whose ping is still pending: back when it is answered. */
  private readonly unresponsive = new Set<string>()
  /** When each owner was last pinged (clock's ms). */
  private readonly lastPinged = new Map<string, number>()
  /** The ping interval each owner asked for (ownerPingIntervalMs), when longer than ours. */
  private readonly intervals = new Map<string, number>()
  private readonly clock: ProbeClock
  private readonly random: () => number
  private readonly intervalMs: number
  private readonly directTimeoutMs: number
  private readonly indirectTimeoutMs: number
  private readonly helperCount: number
  private stopped = false
  readonly counts: ProbeCounts = { pings: 0, indirect: 0, requests: 0, rescued: 0, lostConfirmed: 0, lostUnconfirmed: 0 }

  constructor (private readonly components: OwnerLivenessComponents, options: OwnerLivenessOptions = {}) {
    this.clock = components.clock ?? realClock
    this.random = components.random ?? Math.random
    this.intervalMs = options.intervalMs ?? LIVENESS_PING_INTERVAL_MS
    this.directTimeoutMs = options.directTimeoutMs ?? LIVENESS_PING_TIMEOUT_MS
    this.indirectTimeoutMs = options.indirectTimeoutMs ?? PROBE_INDIRECT_TIMEOUT_MS
    this.helperCount = options.helpers ?? PROBE_HELPERS
  }

  /** Whether the owner is counted as lost (its ping late) though its connection is open. */
  isUnresponsive (peer: string): boolean {
    return this.unresponsive.has(peer)
  }

  /**
   * How long our ping of this owner has gone unanswered, in ms; undefined when none is in flight. A helper with a ping
   * unanswered for longer than its timeout has its answer to a ping-req already.
   */
  unansweredForMs (peer: string): number | undefined {
    const flight = this.inFlight.get(peer)
    return flight === undefined ? undefined : this.clock.now() - this.silentSince(peer, flight.sentAt)
  }

  /** The owner sent us a frame on its connection: it is alive, whatever its pings say. */
  heard (peer: string): void {
    if (this.stopped) return
    this.lastHeard.set(peer, this.clock.now())
    if (!this.unresponsive.delete(peer)) return
    this.components.log?.info(`owner ${peer} answers again (a frame on its connection)`)
    this.components.back(peer)
  }

  /**
   * The owner asks to be pinged every `ms` (it has many importers: ownerPingIntervalMs), clamped to our interval and
   * LIVENESS_MAX_PING_INTERVAL_MS. When it grows, the next ping comes at a random point of the new interval, so that
   * its importers' pings spread over it. A cut is still noticed soon: the first importer to ping it asks helpers, and
   * each helper asked pings it at once (`hint`), so the suspicion spreads.
   */
  setPingInterval (peer: string, ms: number): void {
    if (this.stopped) return
    const interval = Math.min(Math.max(ms, this.intervalMs), Math.max(this.intervalMs, LIVENESS_MAX_PING_INTERVAL_MS))
    const before = this.pingIntervalMs(peer)
    if (interval === this.intervalMs) this.intervals.delete(peer)
    else this.intervals.set(peer, interval)
    if (interval > before) this.lastPinged.set(peer, this.clock.now() - this.random() * interval)
  }

  /** The interval at which this owner is pinged, in ms. */
  pingIntervalMs (peer: string): number {
    return this.intervals.get(peer) ?? this.intervalMs
  }

  /** Whether the owner sent us a frame (or answered a ping) within the last `ms`. */
  heardWithin (peer: string, ms: number): boolean {
    const at = this.lastHeard.get(peer)
    return at !== undefined && this.clock.now() - at <= ms
  }

  /** The later of `since` and the last frame heard from the owner. */
  private silentSince (peer: string, since: number): number {
    return Math.max(since, this.lastHeard.get(peer) ?? since)
  }

  /**
   * Another peer's ping to this owner went unanswered (it asked us to ping it): if ours is pending too, it is judged
   * PROBE_HINTED_TIMEOUT_MS after it was sent instead of after the direct timeout (as SWIM's suspicion spreads; the
   * verdict still needs the helpers' nacks). The first importer to notice a cut thus hastens the others.
   */
  hint (peer: string): void {
    // Not stretched by our lag: another peer's silence is evidence that does not depend on our timers (a starved
    // importer stretching it by twice its lag noticed a cut 1.5 s after the others), and the helpers stretch theirs.
    const flight = this.inFlight.get(peer)
    if (flight === undefined) {
      // No ping in flight for an owner that asked to be pinged seldom (many importers): one now, judged as soon,
      // unless it wrote to us within that time; its importers' pings are too far apart to notice a cut otherwise.
      // Bounded by the helper's own bounds on ping-reqs. An owner pinged every base interval is pinged soon anyway:
      // no cascade of pings towards an owner that may only be busy.
      if (!this.stopped && this.pingIntervalMs(peer) > this.intervalMs && !this.heardWithin(peer, PROBE_HINTED_TIMEOUT_MS)) {
        this.probe(peer, { hinted: true })
      }
      return
    }
    if (flight.hinted === undefined) return
    const hinted = flight.hinted
    flight.hinted = undefined
    hinted()
  }

  /**
   * One round (every base interval): pings each owner that has no ping in flight and that neither was pinged nor sent
   * us anything within its interval (a frame is an answer already). Due half a round early rather than a round late.
   */
  tick (owners: Iterable<string>): void {
    if (this.stopped) return
    const now = this.clock.now()
    for (const peer of owners) {
      if (this.inFlight.has(peer)) continue
      const last = Math.max(this.lastPinged.get(peer) ?? -Infinity, this.lastHeard.get(peer) ?? -Infinity)
      if (now - last >= this.pingIntervalMs(peer) - this.intervalMs / 2) this.probe(peer)
    }
  }

  /** The owner's connections are all closed: what was in flight for it ends (the transport reports the loss). */
  forget (peer: string): void {
    this.unresponsive.delete(peer)
    this.lastHeard.delete(peer)
    this.lastPinged.delete(peer)
    this.intervals.delete(peer)
    this.inFlight.get(peer)?.cancel.abort()
  }

  stop (): void {
    this.stopped = true
    for (const f of this.inFlight.values()) f.cancel.abort()
  }

  private probe (peer: string, options: ProbeOptions = {}): void {
    const cancel = new AbortController()
    const direct = this.components.ping(peer, cancel.signal)
    if (direct === undefined) return
    this.counts.pings++
    const flight: InFlight = { cancel, timers: [], sentAt: this.clock.now() }
    this.inFlight.set(peer, flight)
    this.lastPinged.set(peer, flight.sentAt)
    let answered = false
    // A ping cancelled by a deadline forgets its id, and its late answer then aborts the whole yamux connection: the
    // ping stays pending until answered, and is cancelled only once its connection is closed or is aborted here.
    const closed = (): boolean => {
      if (direct.isOpen()) return false
      cancel.abort()
      return true
    }
    const directTimeoutMs = this.components.stretch(this.directTimeoutMs)
    // Lowered to PROBE_HINTED_TIMEOUT_MS by a hint (another peer's silence is evidence that needs no stretch).
    let timeoutMs = options.hinted === true ? PROBE_HINTED_TIMEOUT_MS : directTimeoutMs
    let judged = false
    const judge = (): void => {
      if (judged || this.stopped || answered || closed() || this.unresponsive.has(peer)) return
      // Heard from since the ping was sent: the silence counts from its last frame.
      const silentForMs = this.clock.now() - this.silentSince(peer, flight.sentAt)
      if (silentForMs < timeoutMs) {
        flight.timers.push(this.clock.after(timeoutMs - silentForMs, judge))
        return
      }
      judged = true
      const indirectFrom = this.clock.now()
      void this.indirect(peer, cancel.signal, () => answered || this.silentSince(peer, indirectFrom) > indirectFrom).then(verdict => {
        if (this.stopped || answered || cancel.signal.aborted || verdict === 'alive') return
        if (verdict === 'confirmed') this.counts.lostConfirmed++
        else this.counts.lostUnconfirmed++
        this.unresponsive.add(peer)
        this.components.log?.info(`owner ${peer} answered neither our ping (${timeoutMs} ms) nor its helpers' ` +
          `(${verdict}): counted as lost until it answers`)
        this.components.lost(peer, verdict === 'confirmed')
      })
    }
    const clearJudge = this.clock.after(timeoutMs, judge)
    flight.timers.push(clearJudge)
    if (options.hinted !== true) {
      flight.hinted = () => {
        clearJudge()
        timeoutMs = Math.min(timeoutMs, PROBE_HINTED_TIMEOUT_MS)
        flight.timers.push(this.clock.after(Math.max(0, flight.sentAt + timeoutMs - this.clock.now()), judge))
      }
    }
    flight.timers.push(this.clock.after(LIVENESS_ABORT_MS, () => {
      if (this.stopped || closed()) return
      this.components.log?.info(`owner ${peer} did not answer a ping for ${LIVENESS_ABORT_MS} ms: dropping its connection`)
      this.components.abort(peer)
      cancel.abort()
    }))
    direct.answered
      .then(() => {
        answered = true
        if (this.stopped) return
        // An answer is a frame heard: a helper asked about this owner just now acks without a ping of its own.
        this.lastHeard.set(peer, this.clock.now())
        if (!this.unresponsive.delete(peer)) return
        this.components.log?.info(`owner ${peer} answers again`)
        this.components.back(peer)
      }, () => {
        // Its connection closed or was aborted: the transport reports the disconnection; another connection, if any,
        // is pinged next round.
      })
      .finally(() => {
        for (const clear of flight.timers) clear()
        // Only the helpers' asks listen once the ping has settled (the muxer's own listener is gone with its answer):
        // an abort makes a DOMException and an event, once a second per owner, a few % of an idle agent's CPU.
        if (judged) cancel.abort()
        if (this.inFlight.get(peer) === flight) this.inFlight.delete(peer)
      })
  }

  /**
   * Asks helpers to ping the owner, and waits until one of them, or our own pending ping, gets an answer ('alive'),
   * until every helper answered without reaching it ('confirmed' if one said so), or the timeout ('confirmed' if some
   * helper said it could not reach it, else 'unconfirmed': no evidence but our own silence).
   */
  private async indirect (peer: string, flightSignal: AbortSignal, directAnswered: () => boolean): Promise<'alive' | 'confirmed' | 'unconfirmed'> {
    this.counts.indirect++
    // A helper not connected to the owner answers "unknown" at once: the next candidate is asked in its place, up to
    // twice the count in all.
    const candidates = this.components.helpers(peer).filter(h => h !== peer).slice(0, 2 * this.helperCount)
    const helpers = candidates.splice(0, this.helperCount)
    const asks = new AbortController()
    const onFlightEnd = (): void => { asks.abort() }
    flightSignal.addEventListener('abort', onFlightEnd, { once: true })
    let nacks = 0
    let pending = helpers.length
    try {
      return await new Promise(resolve => {
        const stopWaiting = this.clock.after(this.components.stretch(this.indirectTimeoutMs), () => {
          resolve(directAnswered() ? 'alive' : nacks > 0 ? 'confirmed' : 'unconfirmed')
        })
        const settle = (verdict: 'alive' | 'confirmed' | 'unconfirmed'): void => { stopWaiting(); resolve(verdict) }
        flightSignal.addEventListener('abort', () => { settle('alive') }, { once: true })
        const ask = (helper: string): void => {
          this.counts.requests++
          this.components.ask(helper, peer, asks.signal)
            .catch((): ProbeAnswer => 'unknown')
            .then(answer => {
              if (answer === 'unknown' && candidates.length > 0 && !asks.signal.aborted) return ask(candidates.shift() as string)
              pending--
              if (answer === 'ack') {
                this.counts.rescued++
                return settle('alive')
              }
              if (answer === 'nack') nacks++
              // Everyone answered: no need to wait for the timeout (our own ping still counts until then).
              if (pending === 0 && nacks > 0 && !directAnswered()) settle('confirmed')
            })
        }
        for (const helper of helpers) ask(helper)
      })
    } finally {
      flightSignal.removeEventListener('abort', onFlightEnd)
      asks.abort()
    }
  }
}

// ------------------------------------------------------------------------------------------------ the helper's side

/** Why a ping-req was refused (counted with the mesh's rejections). */
export type ProbeRejection = 'probe-malformed' | 'probe-limit' | 'liveness-malformed'

/** A ping-req that cannot be read: not a peer id, or too long. */
export class ProbeRequestError extends Error {
  constructor (detail: string) {
    super(`unreadable ping-req: ${detail}`)
    this.name = 'ProbeRequestError'
  }
}

/** Longest ping-req, in bytes: one length byte and a peer id's text (an Ed25519 peer id is 52 characters). */
export const MAX_PROBE_REQUEST_BYTES = 1 + 128
const PEER_ID_TEXT = /^[1-9A-HJ-NP-Za-km-z]{16,128}$/
const ANSWER_BYTES: Record<ProbeAnswer, number> = { ack: 1, nack: 2, unknown: 3 }
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A ping-req asking to ping `target`: its length in one byte, then its peer id's text. */
export function encodeProbeRequest (target: string): Uint8Array {
  const id = encoder.encode(target)
  if (!PEER_ID_TEXT.test(target)) throw new ProbeRequestError(`${JSON.stringify(target.slice(0, 40))} is not a peer id`)
  return Uint8Array.of(id.byteLength, ...id)
}

/**
 * The target of a ping-req read so far: undefined while incomplete; throws ProbeRequestError for what can never be one.
 */
export function decodeProbeRequest (bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0) return undefined
  const length = bytes[0]
  if (bytes.byteLength > 1 + length) throw new ProbeRequestError(`${bytes.byteLength} bytes for a ${length}-byte peer id`)
  if (bytes.byteLength < 1 + length) return undefined
  let text: string
  try {
    text = decoder.decode(bytes.subarray(1))
  } catch {
    throw new ProbeRequestError('not UTF-8')
  }
  if (!PEER_ID_TEXT.test(text)) throw new ProbeRequestError(`${JSON.stringify(text.slice(0, 40))} is not a peer id`)
  return text
}

export function encodeProbeAnswer (answer: ProbeAnswer): Uint8Array {
  return Uint8Array.of(ANSWER_BYTES[answer])
}

/** A helper's one-byte answer; anything else counts as no evidence. */
export function decodeProbeAnswer (bytes: Uint8Array): ProbeAnswer {
  return bytes[0] === ANSWER_BYTES.ack ? 'ack' : bytes[0] === ANSWER_BYTES.nack ? 'nack' : 'unknown'
}

export interface ProbeHelperComponents {
  /** Pings a peer we are connected to (undefined when we are not: we only ping peers we know). */
  ping: (peer: string, signal: AbortSignal) => DirectPing | undefined
  /** How long our own ping of the peer has gone unanswered, in ms (OwnerLiveness); undefined when none is pending. */
  unansweredForMs?: (peer: string) => number | undefined
  /** A ping-req about this peer was served (OwnerLiveness.hint). */
  hint?: (peer: string) => void
  /** Whether the peer sent us a frame within the last `ms` (OwnerLiveness.heardWithin): an answer without a ping. */
  heardWithin?: (peer: string, ms: number) => boolean
  stretch: (ms: number) => number
  rejected: (reason: ProbeRejection, detail: string) => void
  clock?: ProbeClock
}

/**
 * Serves other peers' ping-reqs, bounded: at most MAX_PROBES_PER_REQUESTER at once per requester and
 * PROBE_REQUESTS_PER_SECOND in all (a token bucket), only towards peers we are connected to, never towards the
 * requester or ourselves. What is refused is counted.
 */
export class ProbeHelper {
  private readonly clock: ProbeClock
  private readonly perRequester = new Map<string, number>()
  private tokens = PROBE_REQUESTS_PER_SECOND
  private refilledAt: number
  served = 0

  constructor (private readonly self: string, private readonly components: ProbeHelperComponents) {
    this.clock = components.clock ?? realClock
    this.refilledAt = this.clock.now()
  }

  /** The answer to `requester`'s ping-req for `target`; undefined when refused (the stream is then reset). */
  async serve (requester: string, target: string): Promise<ProbeAnswer | undefined> {
    if (target === requester || target === this.self) {
      this.components.rejected('probe-malformed', `ping-req from ${requester} about ${target === requester ? 'itself' : 'us'}`)
      return undefined
    }
    const running = this.perRequester.get(requester) ?? 0
    if (running >= MAX_PROBES_PER_REQUESTER) {
      this.components.rejected('probe-limit', `ping-req from ${requester}: ${running} already in progress`)
      return undefined
    }
    if (!this.take()) {
      this.components.rejected('probe-limit', `ping-req from ${requester}: over ${PROBE_REQUESTS_PER_SECOND} per second`)
      return undefined
    }
    // It wrote to us just now (a busy owner answers pings late but still sends its announces).
    if (this.components.heardWithin?.(target, this.components.stretch(PROBE_HELPER_PING_TIMEOUT_MS)) === true) {
      this.served++
      return 'ack'
    }
    const cancel = new AbortController()
    const ping = this.components.ping(target, cancel.signal)
    if (ping === undefined) return 'unknown'
    this.served++
    this.components.hint?.(target)
    // Our own ping of the target (we import from it too), unanswered for a while already, counts towards the wait: on
    // a cut, most helpers answer at once.
    const waitMs = this.components.stretch(PROBE_HELPER_PING_TIMEOUT_MS) - (this.components.unansweredForMs?.(target) ?? 0)
    if (waitMs <= 0) return 'nack'
    this.perRequester.set(requester, running + 1)
    try {
      return await new Promise<ProbeAnswer>(resolve => {
        const stop = this.clock.after(waitMs, () => { resolve('nack') })
        ping.answered.then(() => { stop(); resolve('ack') }, () => { stop(); resolve('nack') })
      })
    } finally {
      // A yamux ping piggybacks on one in flight and is not cancelled (see OwnerLiveness.probe): only ours is dropped.
      if (!ping.isOpen()) cancel.abort()
      const left = (this.perRequester.get(requester) ?? 1) - 1
      if (left <= 0) this.perRequester.delete(requester)
      else this.perRequester.set(requester, left)
    }
  }

  private take (): boolean {
    const now = this.clock.now()
    this.tokens = Math.min(PROBE_REQUESTS_PER_SECOND, this.tokens + (now - this.refilledAt) * PROBE_REQUESTS_PER_SECOND / 1000)
    this.refilledAt = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}
