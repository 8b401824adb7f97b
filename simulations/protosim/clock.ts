// Simulated time for the protocol simulation: a discrete-event scheduler behind the mesh's Clock component
// (common/clock.ts). Nothing waits: the next event's time becomes "now", so hours of a mesh's life run in seconds.
import type { Clock, ClockTimer } from '../../common/clock.js'
import { seededRandom } from '../../fixtures/random.js'

interface SimEvent extends ClockTimer {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/** Node's timers never fire sooner than 1 ms; the simulated ones neither (network deliveries use `at`). */
const MIN_TIMER_MS = 1
/** Events run between two yields to the microtask queue (the mesh's publish promises settle there). */
const EVENTS_PER_YIELD = 10_000

export class SimClock implements Clock {
  private elapsed = 0
  private seq = 0
  private readonly heap: SimEvent[] = []
  /** Events run so far (a measure of the simulation's own work). */
  eventsRun = 0
  readonly random: () => number

  /** `startMs`: the wall time (ms since 1970) at simulated time 0; `seed`: of random(). */
  constructor (readonly startMs: number, seed: number) {
    this.random = seededRandom(seed)
  }

  readonly now = (): number => this.startMs + this.elapsed
  readonly monotonicMs = (): number => this.elapsed
  /** Simulated ms since the start. */
  get elapsedMs (): number { return this.elapsed }

  readonly setTimeout = (fn: () => void, ms: number): ClockTimer => this.at(this.elapsed + Math.max(MIN_TIMER_MS, Number.isFinite(ms) ? ms : MIN_TIMER_MS), fn)
  readonly clearTimeout = (timer: ClockTimer | undefined): void => {
    if (timer !== undefined) (timer as SimEvent).cancelled = true
  }

  /** Runs `fn` at simulated time `atMs` (not before now). */
  at (atMs: number, fn: () => void): ClockTimer {
    const event: SimEvent = { at: Math.max(this.elapsed, atMs), seq: this.seq++, fn, cancelled: false, unref: () => event }
    this.push(event)
    return event
  }

  /**
   * Runs events in time order until `done()` holds after one, the simulated time would pass `untilMs`, or no event
   * is left; then time stands at the last event run (or at untilMs). True when `done()` held.
   */
  async runUntil (done: () => boolean, untilMs: number): Promise<boolean> {
    let sinceYield = 0
    while (this.heap.length > 0 && this.heap[0].at <= untilMs) {
      const event = this.pop()
      if (event.cancelled) continue
      this.elapsed = event.at
      this.eventsRun++
      event.fn()
      if (done()) return true
      if (++sinceYield >= EVENTS_PER_YIELD) {
        sinceYield = 0
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    if (done()) return true
    this.elapsed = Math.max(this.elapsed, untilMs)
    return false
  }

  private before (a: SimEvent, b: SimEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push (event: SimEvent): void {
    const h = this.heap
    h.push(event)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  private pop (): SimEvent {
    const h = this.heap
    const top = h[0]
    const last = h.pop() as SimEvent
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.before(h[l], h[m])) m = l
        if (r < h.length && this.before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}
