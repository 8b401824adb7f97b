// Live data: the events seen since login (a bounded ring, for the Events page and the drawer) and an application's
// topology kept current by the events: a state change is applied at once, anything else (a new instance, imports
// an agent reported) makes one fresh read, at most every REFRESH_MS. No polling: with no event, no request.
import { useEffect, useState } from 'preact/hooks'
import { api, enc, subscribe, type DmEvent, type Topology } from './api.js'

/** Events kept in the page (the oldest go first). */
export const MAX_EVENTS = 2000
/** Least time between two reads of a topology triggered by events, in milliseconds. */
export const REFRESH_MS = 400

export const recentEvents: DmEvent[] = []
const eventListeners = new Set<() => void>()
let unsubscribeRecorder: (() => void) | undefined

/** Starts recording the live events (at login). */
export function startRecording (): void {
  unsubscribeRecorder ??= subscribe(event => {
    recentEvents.push(event)
    if (recentEvents.length > MAX_EVENTS) recentEvents.splice(0, recentEvents.length - MAX_EVENTS)
    eventListeners.forEach(l => l())
  })
}

export function stopRecording (): void {
  unsubscribeRecorder?.()
  unsubscribeRecorder = undefined
  recentEvents.length = 0
}

/** Re-renders the caller on each recorded event, at most once per animation frame. */
export function useRecentEvents (): DmEvent[] {
  const [, setTick] = useState(0)
  useEffect(() => {
    let frame: number | undefined
    const listener = (): void => {
      frame ??= requestAnimationFrame(() => { frame = undefined; setTick(t => t + 1) })
    }
    eventListeners.add(listener)
    return () => { eventListeners.delete(listener); if (frame !== undefined) cancelAnimationFrame(frame) }
  }, [])
  return recentEvents
}

export function eventApplication (event: DmEvent): string | undefined {
  return typeof event.application === 'string' ? event.application : undefined
}

/** What an event is, in the history's words (kind and reason), for a live event as for a stored one. */
export function describeLive (e: DmEvent): { kind: string, reason: string } {
  if (typeof e.kind === 'string' && typeof e.reason === 'string') return { kind: e.kind, reason: e.reason }
  const problem = e.problem as { message?: string } | undefined
  switch (e.type) {
    case 'instance': return problem !== undefined ? { kind: 'problem', reason: `${String(e.status)}: ${problem.message ?? ''}` } : { kind: 'state', reason: String(e.status) }
    case 'template': return { kind: 'template', reason: `${String(e.name)} ${String(e.version)} ${String(e.action)}` }
    case 'request': return { kind: 'request', reason: `${String(e.method)} ${String(e.url)} ${String(e.statusCode)}` }
    case 'machine': return { kind: 'machine', reason: `${String(e.action)} ${String(e.machineId)} (${String(e.target)})` }
    case 'imports': return { kind: 'imports', reason: `holds ${Object.entries((e.held ?? {}) as Record<string, number>).map(([p, n]) => `${p} x${n}`).join(', ') || 'no import'}` }
    default: return { kind: e.type, reason: String(e.action ?? e.status ?? '') }
  }
}

/** Since when an instance is in its state, from the last state event of it seen (undefined when none was seen). */
export function stateSince (application: string, path: string): string | undefined {
  for (let i = recentEvents.length - 1; i >= 0; i--) {
    const e = recentEvents[i]
    if (e.type === 'instance' && e.application === application && e.path === path) return e.at as string
  }
  return undefined
}

/**
 * An application's topology, read once, then kept current by the live events; `error` is the last failed read.
 * `onEvent` also sees every event of this application.
 */
export function useTopology (application: string): { topology?: Topology, error?: unknown, reload: () => void } {
  const [topology, setTopology] = useState<Topology | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    let stopped = false
    let timer: number | undefined
    let inFlight = false
    let again = false
    let lastRead = 0
    const read = async (): Promise<void> => {
      if (inFlight) { again = true; return }
      inFlight = true
      lastRead = Date.now()
      try {
        const fresh = await api<Topology>('GET', `/api/applications/${enc(application)}/topology`)
        if (!stopped) { setTopology(fresh); setError(undefined) }
      } catch (err) {
        if (!stopped) setError(err)
      } finally {
        inFlight = false
        if (again && !stopped) { again = false; schedule() }
      }
    }
    const schedule = (): void => {
      if (timer !== undefined) return
      timer = window.setTimeout(() => { timer = undefined; void read() }, Math.max(0, REFRESH_MS - (Date.now() - lastRead)))
    }
    const unsubscribe = subscribe(event => {
      if (eventApplication(event) !== application) return
      if (event.type === 'instance' && typeof event.path === 'string') {
        const path = event.path
        // a known instance's new state shows at once; the read that follows brings its imports and problem
        setTopology(t => {
          if (t === undefined) return t
          const index = t.instances.findIndex(i => i.path === path)
          if (index < 0) return t
          const instances = t.instances.slice()
          instances[index] = { ...instances[index], status: event.status as Topology['instances'][number]['status'] }
          return { ...t, instances }
        })
      }
      schedule()
    })
    void read()
    return () => { stopped = true; unsubscribe(); if (timer !== undefined) clearTimeout(timer) }
  }, [application, generation])
  return { topology, error, reload: () => setGeneration(g => g + 1) }
}
