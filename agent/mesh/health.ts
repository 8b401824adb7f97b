// Local health (after Lifeguard, memberlist's extension of SWIM): how late this process's own timers run. An agent
// starved of CPU answers and reads pings late; it must not take its own slowness for the death of its peers, or a
// loaded host drops live owners, redials them (handshakes cost more CPU) and flaps.
// Every agent of a process shares its event loop, so they share one probe (LocalHealth.acquire): the scale benchmark
// packs 50 agents in a process, which ran 50 timers measuring the same lag.
import { LOCAL_HEALTH_LAG_FACTOR, LOCAL_HEALTH_PROBE_MS, LOCAL_HEALTH_WINDOW_MS } from './constants.js'

export class LocalHealth {
  /** The process's shared probe while someone uses it (acquire / release). */
  private static shared: LocalHealth | undefined
  private users = 0
  private readonly timer: NodeJS.Timeout
  private expectedAt = performance.now() + LOCAL_HEALTH_PROBE_MS
  /** Lags seen within the window, as [when, lag ms], oldest first. */
  private readonly lags: Array<[number, number]> = []

  constructor () {
    this.timer = setInterval(() => { this.probe() }, LOCAL_HEALTH_PROBE_MS)
    this.timer.unref()
  }

  /** The process's probe, started by its first user; each user calls `release` once when done. */
  static acquire (): LocalHealth {
    const health = LocalHealth.shared ?? (LocalHealth.shared = new LocalHealth())
    health.users++
    return health
  }

  /** A user of `acquire` is done: the probe stops with its last user. */
  release (): void {
    if (this.users === 0) return
    if (--this.users > 0) return
    this.stop()
    if (LocalHealth.shared === this) LocalHealth.shared = undefined
  }

  /** The largest delay of this process's timers over the last LOCAL_HEALTH_WINDOW_MS, in whole ms (0 when healthy). */
  lagMs (): number {
    this.forgetOld(performance.now())
    return Math.round(this.lags.reduce((max, [, lag]) => Math.max(max, lag), 0))
  }

  /** A timeout or grace of `ms` stretched by LOCAL_HEALTH_LAG_FACTOR times our recent lag, in whole ms. */
  stretch (ms: number): number {
    return Math.round(ms + LOCAL_HEALTH_LAG_FACTOR * this.lagMs())
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private probe (): void {
    const now = performance.now()
    const lag = Math.max(0, now - this.expectedAt)
    this.expectedAt = now + LOCAL_HEALTH_PROBE_MS
    if (lag > 0) this.lags.push([now, lag])
    this.forgetOld(now)
  }

  private forgetOld (now: number): void {
    while (this.lags.length > 0 && this.lags[0][0] < now - LOCAL_HEALTH_WINDOW_MS) this.lags.shift()
  }
}
