// Time and chance as a component: production code uses the real ones (realClock); a simulation injects a discrete-
// event clock and a seeded generator (simulations/protosim) to run thousands of meshes in simulated time.

/** A timer handle of a Clock; unref lets the process exit while it is pending (a no-op in simulated time). */
export interface ClockTimer {
  unref (): unknown
}

export interface Clock {
  /** Wall time, in ms since 1970. */
  now (): number
  /** Monotonic time in ms (any origin): for intervals between two readings. */
  monotonicMs (): number
  /** Runs `fn` once after `ms` ms. */
  setTimeout (fn: () => void, ms: number): ClockTimer
  /** Cancels a timer of this clock; undefined is ignored. */
  clearTimeout (timer: ClockTimer | undefined): void
  /** A uniform number in [0, 1), for jitter. */
  random (): number
}

/** The process's clock, timers and Math.random. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: timer => { clearTimeout(timer as NodeJS.Timeout | undefined) },
  random: () => Math.random()
}

/**
 * `new Date(ms).toISOString()` (2024-05-01T12:00:00.000Z), from the UTC getters: V8's toISOString makes the process open
 * ICU's time zone data, 0.8 MB more of the node binary mapped into every agent (docs/tuning.md). Throws a RangeError
 * for an invalid time, as toISOString does.
 */
export function isoTime (ms: number): string {
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  if (Number.isNaN(year)) throw new RangeError(`invalid time: ${ms}`)
  if (year < 0 || year > 9999) return d.toISOString()
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${String(year).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:` +
    `${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}Z`
}
