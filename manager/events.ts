// The DM's event history: every event the DM emits (state changes, problems, machines made or terminated,
// applications, templates, REST writes) is stored in SQLite with an id before it is published, so that the REST
// API and the WebSocket replay from a cursor what a client missed, a DM killed -9 included. Retention is bounded by
// a count and an age.
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { InstanceProblem } from '../protocol/messages.js'
import { DEFAULT_EVENT_MAX_AGE_MS, DEFAULT_MAX_EVENTS, EVENT_PRUNE_EVERY } from './constants.js'
import { InvalidSinceError } from './errors.js'
import type { EventQuery, Store, StoredEvent } from './store.js'

/** Who made an event happen: an agent's report, the DM itself, or a REST request. */
export type EventActor = 'agent' | 'dm' | 'rest'

export type DmEvent =
  | { type: 'instance', application: string, path: string, status: InstanceStatus, at: string, actor?: EventActor,
    /** Present when the change came with a failure (a recipe that failed, a machine that could not be made). */
    problem?: InstanceProblem }
  | { type: 'application', application: string, action: 'created' | 'updated' | 'deleted', at: string }
  | { type: 'template', name: string, version: string, action: 'created' | 'deleted', at: string }
  | { type: 'machine', application: string, path: string, action: 'created' | 'terminated', machineId: string, target: string, at: string }
  | { type: 'request', method: string, url: string, statusCode: number, application?: string, at: string }
  /** An autonomic rule fired, or was suppressed (sleeping, too old, stabilizing, over the VM limit...), and why. */
  | { type: 'autonomic', application: string, rule: string, eventName: string, path?: string, fired: boolean, reason: string, at: string,
    /** The probe's measure, when it has one (rest and script probes). */
    value?: number }
  /** What an instance holds changed with no state change (a Tomcat came or went for Apache): prefix -> exporters. */
  | { type: 'imports', application: string, path: string, held: Record<string, number>, at: string }

/** An event as published: with the id of its history entry. */
export type PublishedEvent = DmEvent & { id: number }

export interface EventLogOptions {
  /** Most events kept; default 100 000. */
  maxEvents?: number
  /** Oldest event kept, in ms; default 30 days. */
  maxAgeMs?: number
}

export interface EventLog {
  /** Stores the event and returns it with its id. */
  record (event: DmEvent): PublishedEvent
  query (query: EventQuery): StoredEvent[]
  /** Events stored now (a metric). */
  count (): number
}

/** What an event is in the history's words: kind, reason, actor, application and path. */
export function describeEvent (event: DmEvent): Omit<StoredEvent, 'id' | 'body'> {
  switch (event.type) {
    case 'instance':
      return {
        at: event.at,
        application: event.application,
        path: event.path,
        kind: event.problem !== undefined ? 'problem' : 'state',
        reason: event.problem !== undefined ? `${event.status}: ${firstLine(event.problem.message)}` : event.status,
        actor: event.actor ?? 'dm'
      }
    case 'application':
      return { at: event.at, application: event.application, kind: 'application', reason: event.action, actor: 'dm' }
    case 'template':
      return { at: event.at, kind: 'template', reason: `${event.name} ${event.version} ${event.action}`, actor: 'dm' }
    case 'machine':
      return { at: event.at, application: event.application, path: event.path, kind: 'machine', reason: `${event.action} ${event.machineId} (${event.target})`, actor: 'dm' }
    case 'imports':
      return {
        at: event.at, application: event.application, path: event.path, kind: 'imports', actor: 'agent',
        reason: Object.keys(event.held).length === 0 ? 'holds no import' : `holds ${Object.entries(event.held).map(([prefix, n]) => `${prefix} x${n}`).join(', ')}`
      }
    case 'autonomic':
      return {
        at: event.at, application: event.application, ...(event.path === undefined ? {} : { path: event.path }), kind: 'autonomic',
        reason: `rule ${event.rule} on ${event.eventName}: ${event.fired ? 'fired' : 'suppressed'}: ${event.reason}`, actor: 'dm'
      }
    case 'request':
      return {
        at: event.at,
        ...(event.application === undefined ? {} : { application: event.application }),
        kind: 'request',
        reason: `${event.method} ${event.url} ${event.statusCode}`,
        actor: 'rest'
      }
  }
}

export function firstLine (text: string): string {
  const end = text.indexOf('\n')
  return end === -1 ? text : text.slice(0, end)
}

export function createEventLog (components: { store: Store }, options: EventLogOptions = {}): EventLog {
  const { store } = components
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_EVENT_MAX_AGE_MS
  let sincePrune = 0
  store.pruneEvents(maxEvents, maxAgeMs)
  return {
    record (event) {
      const stored = store.appendEvent({ ...describeEvent(event), body: event as unknown as Record<string, unknown> })
      // pruning every so many events keeps the cost of retention off each append
      if (++sincePrune >= EVENT_PRUNE_EVERY) {
        sincePrune = 0
        store.pruneEvents(maxEvents, maxAgeMs)
      }
      return { ...event, id: stored.id }
    },
    query: query => store.events(query),
    count: () => store.eventCount()
  }
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `10m` (back from `nowMs`) or an ISO time -> ms since the epoch; InvalidSinceError otherwise. */
export function parseSince (since: string, nowMs = Date.now()): number {
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(since.trim())
  if (duration !== null) return nowMs - Number(duration[1]) * DURATION_UNITS_MS[duration[2]]
  const at = /^\d{4}-\d{2}-\d{2}/.test(since) ? Date.parse(since) : Number.NaN
  if (Number.isNaN(at)) throw new InvalidSinceError(since)
  return at
}
