// A run's time budget: the scale mode must finish within the 20 minutes whatever the host gives it, so every
// bounded wait of a scale run is also cut to what is left of the run, and a phase that has no time left is skipped
// with the reason (its figures null) instead of overrunning.

export class BudgetSpentError extends Error {
  constructor (what: string, neededMs: number, leftMs: number) {
    super(`not run: ${what} needs at least ${Math.round(neededMs)} ms, ${Math.max(0, Math.round(leftMs))} ms left of the run's budget`)
    this.name = 'BudgetSpentError'
  }
}

export interface Budget {
  /** ms left, never below 0. */
  leftMs: () => number
  /**
   * A wait of `ms` cut to what is left; throws BudgetSpentError when less than `minMs` (default 1) is left, so that a
   * phase that cannot run is named.
   */
  cap: (ms: number, what: string, minMs?: number) => number
}

/** A budget of `totalMs` from now (Infinity: no limit, every wait keeps its own bound). */
export function createBudget (totalMs: number, now: () => number = () => performance.now()): Budget {
  const end = now() + totalMs
  const leftMs = (): number => Math.max(0, end - now())
  return {
    leftMs,
    cap: (ms, what, minMs = 1) => {
      const left = leftMs()
      if (left < minMs) throw new BudgetSpentError(what, minMs, left)
      return Math.floor(Math.min(ms, left))
    }
  }
}

/** No limit: each wait keeps its own bound (the full benchmark's chains). */
export const UNLIMITED_BUDGET: Budget = createBudget(Infinity)
