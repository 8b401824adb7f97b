// The load of `meshconf simulate lamp-elastic`: GET requests to Apache at a rate the story sets and changes, every
// answer checked (HTTP 200 and the value Tomcat read from MySQL) and counted, failures kept with what went wrong.
// Bounded: a number of requests, a duration and requests in flight; it only ever targets 127.0.0.1 or an address of
// the simulation's own network namespaces, never a host taken from elsewhere.
import { errorMessage } from '../../protocol/errors.js'

/** Most requests in flight at once: beyond it a request due is counted as failed (the service is not keeping up). */
export const MAX_REQUESTS_IN_FLIGHT = 64
/** How long one request may take, in milliseconds. */
const LOAD_REQUEST_TIMEOUT_MS = 5_000
/** Failures kept with their detail (the count goes on). */
const KEPT_FAILURES = 10

export interface LoadOptions {
  /** Apache's URL: `http://127.0.0.1:<port>`, or with `allowedSubnet` an address in it. */
  url: string
  /** With --target netns: the simulation's namespaces' /24 (`10.214.7`), whose addresses may be targeted too. */
  allowedSubnet?: string
  /** What a good answer's `value` is (MySQL's, through Tomcat). */
  expectedValue: string
  /** Most requests sent in all; then the load stops by itself. */
  maxRequests: number
  /** Most time the load runs, in milliseconds; then it stops by itself. */
  maxDurationMs: number
}

export interface LoadStats {
  sent: number
  ok: number
  failed: number
  /** The first failures: when and what (status and body, or the error). */
  failures: Array<{ at: string, detail: string }>
  /** Answers by Tomcat (instance path), and when each first answered (epoch ms). */
  byTomcat: Record<string, { answers: number, firstAt: number }>
  /** Why the load stopped before stop() was called: its request or time bound. */
  bounded?: string
}

/** A target the load generator refuses: not loopback, nor an address of the simulation's namespaces. */
export class LoadTargetRefusedError extends Error {
  constructor (url: string, allowed: string) {
    super(`the load generator only sends to ${allowed}, not to ${url}`)
    this.name = 'LoadTargetRefusedError'
  }
}

export function startLoad (options: LoadOptions) {
  const { hostname, protocol } = new URL(options.url)
  const allowed = options.allowedSubnet === undefined ? '127.0.0.1' : `127.0.0.1 or ${options.allowedSubnet}.0/24`
  const inSubnet = options.allowedSubnet !== undefined && hostname.startsWith(`${options.allowedSubnet}.`) &&
    /^\d{1,3}$/.test(hostname.slice(options.allowedSubnet.length + 1))
  if (protocol !== 'http:' || (hostname !== '127.0.0.1' && !inSubnet)) throw new LoadTargetRefusedError(options.url, allowed)
  const begin = Date.now()
  const stats: LoadStats = { sent: 0, ok: 0, failed: 0, failures: [], byTomcat: {} }
  let rate = 0
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const inFlight = new Set<Promise<void>>()

  const fail = (detail: string): void => {
    stats.failed++
    if (stats.failures.length < KEPT_FAILURES) stats.failures.push({ at: new Date().toISOString(), detail })
  }

  async function one (): Promise<void> {
    try {
      const reply = await fetch(`${options.url}/`, { signal: AbortSignal.timeout(LOAD_REQUEST_TIMEOUT_MS) })
      const text = await reply.text()
      let body: { name?: unknown, value?: unknown } = {}
      try { body = JSON.parse(text) } catch { /* checked below */ }
      if (reply.status !== 200 || body.value !== options.expectedValue || typeof body.name !== 'string') {
        fail(`HTTP ${reply.status} ${text.slice(0, 200)}`)
        return
      }
      stats.ok++
      const tomcat = stats.byTomcat[body.name] ??= { answers: 0, firstAt: Date.now() }
      tomcat.answers++
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause
      fail(errorMessage(cause ?? err))
    }
  }

  function send (): void {
    stats.sent++
    if (inFlight.size >= MAX_REQUESTS_IN_FLIGHT) {
      fail(`not sent: ${MAX_REQUESTS_IN_FLIGHT} requests already waiting for an answer`)
      return
    }
    const request = one().finally(() => inFlight.delete(request))
    inFlight.add(request)
  }

  /** Sends at `rate`, each request due one interval after the previous one was due (no drift, no bursts). */
  function schedule (dueAt: number): void {
    clearTimeout(timer)
    timer = undefined
    if (stopped || rate <= 0) return
    timer = setTimeout(() => {
      if (stats.sent >= options.maxRequests) { stats.bounded = `${options.maxRequests} requests sent`; stopped = true; return }
      if (Date.now() - begin >= options.maxDurationMs) { stats.bounded = `${options.maxDurationMs} ms of load`; stopped = true; return }
      send()
      // behind by more than a second (a busy host): start again from now rather than catch up in a burst
      const next = dueAt + 1000 / rate
      schedule(next < Date.now() - 1000 ? Date.now() : next)
    }, Math.max(0, dueAt - Date.now()))
  }

  return {
    /** Requests per second from now on (0: none). */
    setRate (requestsPerSecond: number): void {
      rate = Math.max(0, requestsPerSecond)
      schedule(Date.now())
    },
    rate: () => rate,
    /** The counts so far (a copy). */
    stats: (): LoadStats => structuredClone(stats),
    /** Stops sending and waits for the requests in flight; returns the final counts. */
    async stop (): Promise<LoadStats> {
      stopped = true
      clearTimeout(timer)
      await Promise.all([...inFlight])
      return structuredClone(stats)
    }
  }
}

export type Load = ReturnType<typeof startLoad>
