// What the application's mesh (service.ts) and the domain exchange (domain.ts) both keep about the peers they hear
// from: the owners lost, each with the timer that withdraws its exports after a grace, and the messages refused,
// counted by reason and logged at a bounded rate.
import { realClock, type Clock, type ClockTimer } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import { REJECTION_LOG_INTERVAL_MS } from './constants.js'

/**
 * Owners lost (disconnected, not answering, or heard of but not connected yet): after its grace, `expired` is called
 * for an owner still suspected (it decides whether the owner is back after all). A shorter grace replaces a longer one
 * already running (an owner heard through the mesh whose dial then fails is lost, not just far).
 */
export class LostOwners {
  private readonly suspects = new Map<string, { timer: ClockTimer, deadline: number }>()

  constructor (private readonly expired: (peerId: string, graceMs: number) => void, private readonly clock: Clock = realClock) {}

  suspect (peerId: string, graceMs: number): void {
    const deadline = this.clock.now() + graceMs
    const known = this.suspects.get(peerId)
    if (known !== undefined) {
      if (known.deadline <= deadline) return
      this.clock.clearTimeout(known.timer)
    }
    const timer = this.clock.setTimeout(() => {
      this.suspects.delete(peerId)
      this.expired(peerId, graceMs)
    }, graceMs)
    this.suspects.set(peerId, { timer, deadline })
  }

  /** The owner is back, or its exports were withdrawn already: its grace ends. */
  clear (peerId: string): void {
    const known = this.suspects.get(peerId)
    if (known === undefined) return
    this.clock.clearTimeout(known.timer)
    this.suspects.delete(peerId)
  }

  peers (): string[] {
    return [...this.suspects.keys()]
  }

  stop (): void {
    for (const { timer } of this.suspects.values()) this.clock.clearTimeout(timer)
    this.suspects.clear()
  }
}

/** Messages refused, counted by reason; one of each reason logged per REJECTION_LOG_INTERVAL_MS at most (forgers are endless). */
export class RejectionCounter<Reason extends string> {
  private readonly counted = new Map<Reason, number>()
  private readonly loggedAt = new Map<Reason, number>()

  /** `what`: the messages' name in the log line, e.g. `mesh message`. */
  constructor (private readonly log: Logger, private readonly what: string, private readonly now: () => number) {}

  reject (reason: Reason, detail: string): void {
    const count = (this.counted.get(reason) ?? 0) + 1
    this.counted.set(reason, count)
    const now = this.now()
    if (now - (this.loggedAt.get(reason) ?? -Infinity) < REJECTION_LOG_INTERVAL_MS) return
    this.loggedAt.set(reason, now)
    this.log.warn(`rejected a ${this.what} (${reason}, ${count} so far): ${detail}`)
  }

  counts (): Partial<Record<Reason, number>> {
    return Object.fromEntries(this.counted) as Partial<Record<Reason, number>>
  }
}
