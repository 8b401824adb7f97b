// The agent's probes (reference §6.4): every probe period, for each DEPLOYED_STARTED instance whose component has a
// `<Component>.measures`, each check runs; a match sends an autonomic event to the DM. Events made while the DM is
// away wait in a bounded queue (oldest dropped first) and leave with their age once the link is back. A script probe
// runs its program directly (no shell), with arguments from the template, never from a peer.
import { execFile } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { toDm, type AgentToDmMessage } from '../protocol/messages.js'
import { compare, effectiveProbePeriodMs, parseMeasures, type ProbeCheck } from '../protocol/model/probes.js'
import type { Agent } from './agent.js'
import { errorMessage } from '../protocol/errors.js'
import type { Logger } from '../common/log.js'
import { isoTime } from '../common/clock.js'

/** Events kept while the DM is away; the oldest go first beyond it. */
export const MAX_QUEUED_PROBE_EVENTS = 100
/** Largest answer read from a rest probe or a script probe's output, in bytes. */
const MAX_PROBE_OUTPUT_BYTES = 64 * 1024

export interface ProbesComponents {
  agent: Pick<Agent, 'instances' | 'identity' | 'probeFiles' | 'probePeriodMs' | 'exportsOf'>
  send: (message: AgentToDmMessage) => void
  connected: () => boolean
  log: Pick<Logger, 'warn'>
  now?: () => number
}

interface Pending { instancePath: string, eventName: string, value?: number, measuredAt: number }

/** The first number in a text, or undefined. */
function firstNumber (text: string): number | undefined {
  const m = /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(text)
  return m === null ? undefined : Number(m[0])
}

/** `key: value` lines (Roboconf's reading of a REST answer, braces and quotes dropped), or a flat JSON object. */
function fieldOf (body: string, field: string): number | undefined {
  try {
    const json = JSON.parse(body) as unknown
    if (typeof json === 'object' && json !== null && field in json) {
      const value = Number((json as Record<string, unknown>)[field])
      return Number.isFinite(value) ? value : undefined
    }
  } catch { /* not JSON: key: value lines */ }
  for (const line of body.replace(/[{}]/g, ' ').split('\n')) {
    const [key, value] = line.split(':')
    if (value !== undefined && key.replace(/"/g, ' ').trim() === field) return firstNumber(value)
  }
  return undefined
}

export function createProbes (components: ProbesComponents) {
  const now = components.now ?? Date.now
  const queue: Pending[] = []
  let dropped = 0
  let timer: NodeJS.Timeout | undefined
  let running = false
  const warned = new Set<string>()

  const warnOnce = (key: string, message: string): void => {
    if (warned.has(key)) return
    warned.add(key)
    components.log.warn(message)
  }

  /** Runs a check; resolves with the measure when it matched (NaN for a file probe), undefined otherwise. */
  async function evaluate (check: ProbeCheck, timeoutMs: number): Promise<number | undefined> {
    switch (check.handler) {
      case 'file': {
        const exists = existsSync(check.path)
        if (check.mode === 'notify-if-not-exists') return exists ? undefined : NaN
        if (!exists) return undefined
        if (check.mode === 'delete-if-exists') rmSync(check.path, { recursive: true, force: true })
        return NaN
      }
      case 'rest': {
        let response: Response
        try {
          response = await fetch(check.url, { signal: AbortSignal.timeout(timeoutMs) })
        } catch (err) {
          // fetch says only "fetch failed": its cause says why (refused, unknown host, timeout)
          const cause = (err as { cause?: unknown }).cause
          throw new Error(`GET ${check.url}: ${errorMessage(cause ?? err)}`)
        }
        if (!response.ok) {
          await response.body?.cancel()
          throw new Error(`GET ${check.url} answered HTTP ${response.status}: no measure`)
        }
        const body = (await response.text()).slice(0, MAX_PROBE_OUTPUT_BYTES)
        const value = fieldOf(body, check.field)
        return value !== undefined && compare(value, check.operator, check.threshold) ? value : undefined
      }
      case 'script': {
        const output = await new Promise<string>((resolve, reject) => {
          execFile(check.program, check.args, { timeout: timeoutMs, maxBuffer: MAX_PROBE_OUTPUT_BYTES, shell: false }, (err, stdout) => {
            if (err !== null) reject(err); else resolve(stdout)
          })
        })
        const value = firstNumber(output)
        return value !== undefined && compare(value, check.operator, check.threshold) ? value : undefined
      }
    }
  }

  function flush (): void {
    if (!components.connected()) return
    const identity = components.agent.identity()
    if (identity === undefined) return
    if (dropped > 0) {
      components.log.warn(`${dropped} probe event(s) dropped while the DM was away (at most ${MAX_QUEUED_PROBE_EVENTS} are kept)`)
      dropped = 0
    }
    for (const event of queue.splice(0)) {
      components.send(toDm({
        kind: 'autonomic', application: identity.application, scopedInstancePath: identity.scopedInstancePath,
        instancePath: event.instancePath, eventName: event.eventName, measuredAt: isoTime(event.measuredAt),
        ageMs: Math.max(0, now() - event.measuredAt), ...(event.value === undefined || Number.isNaN(event.value) ? {} : { value: event.value })
      }))
    }
  }

  async function round (periodMs: number): Promise<void> {
    for (const instance of components.agent.instances()) {
      if (instance.status !== 'DEPLOYED_STARTED') continue
      const files = components.agent.probeFiles(instance.component)
      if (files.measures === undefined) continue
      const { checks, problems } = parseMeasures(files.measures, files.properties, components.agent.exportsOf(instance.path))
      for (const p of problems) warnOnce(`${instance.component}:${p}`, `probes of ${instance.component}: ${p}`)
      for (const check of checks) {
        try {
          const value = await evaluate(check, periodMs)
          if (value === undefined) continue
          queue.push({ instancePath: instance.path, eventName: check.eventName, value, measuredAt: now() })
          if (queue.length > MAX_QUEUED_PROBE_EVENTS) { queue.shift(); dropped++ }
        } catch (err) {
          warnOnce(`${instance.path}:${check.eventName}:${errorMessage(err)}`, `probe ${check.eventName} of ${instance.path}: ${errorMessage(err)}`)
        }
      }
    }
    flush()
  }

  function schedule (): void {
    const periodMs = effectiveProbePeriodMs(components.agent.probePeriodMs())
    timer = setTimeout(() => {
      if (running) return schedule()
      running = true
      round(periodMs).catch(err => components.log.warn(`probes: ${errorMessage(err)}`)).finally(() => {
        running = false
        if (timer !== undefined) schedule()
      })
    }, periodMs)
    timer.unref()
  }

  return {
    start (): void { if (timer === undefined) schedule() },
    stop (): void { clearTimeout(timer); timer = undefined },
    /** The probe period changed: the next round comes one new period from now (a round under way finishes first). */
    reschedule (): void {
      if (timer === undefined) return
      clearTimeout(timer)
      if (!running) schedule()
    },
    /** Sends what waited while the DM was away (called when the link is back; the next round does it too). */
    flush,
    /** Events waiting for the DM (a metric). */
    queued: () => queue.length
  }
}
