// The one way tests and benchmarks wait for something to become true: poll a probe until it gives a value, or give up
// with what was waited for, the probe's last error and the state at the end.

export interface WaitForOptions {
  /** How long to wait before giving up, in ms (default 30 000). */
  timeoutMs?: number
  /** Pause between two probes, in ms (default 50). */
  everyMs?: number
  /** What to show with the timeout error (e.g. the view probed), read once at the end. */
  state?: () => unknown
}

/** The probe's value once it is not `undefined` nor `false`: `true` for a predicate, the value for a lookup. */
export type Found<T> = Exclude<Awaited<T>, undefined | false>

export class WaitTimeoutError extends Error {
  constructor (what: string, timeoutMs: number, detail: string) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`)
    this.name = 'WaitTimeoutError'
  }
}

/**
 * Resolves with the first value of `probe` that is neither `undefined` nor `false`. A probe that throws is probed
 * again (the thing may not be up yet); its last error is part of the timeout error.
 */
export async function waitFor<T> (what: string, probe: () => T, options: WaitForOptions = {}): Promise<Found<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const everyMs = options.everyMs ?? 50
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value as Found<T>
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) break
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  let detail = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`
  if (options.state !== undefined) {
    try {
      detail += `; state: ${JSON.stringify(await options.state())}`
    } catch (err) {
      detail += `; state unreadable: ${(err as Error).message}`
    }
  }
  throw new WaitTimeoutError(what, timeoutMs, detail)
}
