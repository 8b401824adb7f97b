// Retry delays: exponential backoff, and jitter so that many agents retrying at once do not act in step.

export interface BackoffOptions {
  /** Delay of attempt 0, in ms. */
  initialMs: number
  /** Largest delay, in ms. */
  maxMs: number
  /** Spread as a fraction of the delay: 0.2 gives ±20 % (default 0.2). */
  jitter?: number
}

/** `ms` spread uniformly by ±`fraction` of itself; `random` is the uniform [0, 1) source (default Math.random). */
export function jittered (ms: number, fraction = 0.2, random: () => number = Math.random): number {
  return ms * (1 - fraction + 2 * fraction * random())
}

/** `initialMs`·2^attempt (attempt 0-based), up to `maxMs`, without jitter. */
export function exponentialMs (attempt: number, options: Pick<BackoffOptions, 'initialMs' | 'maxMs'>): number {
  // the exponent is capped: 2^attempt overflows to Infinity after ~1 000 attempts, and maxMs is long reached by then
  return Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(0, attempt), 30))
}

/** The delay before retry `attempt` (0-based): the exponential delay, jittered, in whole ms. */
export function backoffMs (attempt: number, options: BackoffOptions): number {
  return Math.round(jittered(exponentialMs(attempt, options), options.jitter))
}
