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
