// The console's link to the DM: REST calls authenticated by the session cookie (writes echo the CSRF cookie in
// X-Meshconf-Csrf), and one shared WebSocket on /api/events that every page listens to.
import type { ApplicationSummary, StoredEvent, Topology, TopologyInstance } from '../../manager/dto.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly details?: unknown[]) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Called when the DM answers 401: the page shows the login form. */
let onUnauthorized: () => void = () => {}
export function whenUnauthorized (fn: () => void): void { onUnauthorized = fn }

function csrfToken (): string {
  const match = /(?:^|;\s*)meshconf_csrf=([^;]*)/.exec(document.cookie)
  return match === null ? '' : match[1]
}

export async function api<T = unknown> (method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {}
  if (method !== 'GET') headers['x-meshconf-csrf'] = csrfToken()
  let payload: BodyInit | undefined
  if (body instanceof Blob) {
    headers['content-type'] = 'application/zip'
    payload = body
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' })
  const text = await response.text()
  let parsed: any
  try { parsed = text.length > 0 ? JSON.parse(text) : undefined } catch { parsed = text }
  if (response.status === 401 && path !== '/api/session') onUnauthorized()
  if (response.status >= 400) {
    const error = parsed?.error
    throw new ApiError(response.status, error?.code ?? 'HTTP_' + String(response.status),
      error?.message ?? `${method} ${path} answered ${response.status}`, error?.details)
  }
  return parsed as T
}

export const enc = encodeURIComponent

// ---- the shapes the pages read

// The REST API's shapes, declared once where the DM makes them (type-only imports: nothing of them is bundled).
export type Status = InstanceStatus
export type { ApplicationSummary, StoredEvent, Topology, TopologyInstance }

/** A live event, read loosely (manager/dm/types.ts's DmEvent is the exact union): pages read the kinds they show. */
export type DmEvent =
  | { type: 'instance', application: string, path: string, status: Status, at: string, [more: string]: unknown }
  | { type: 'application', application: string, action: string, at: string, [more: string]: unknown }
  | { type: 'template', name: string, version: string, action: string, at: string, [more: string]: unknown }
  | { type: string, application?: string, path?: string, at?: string, [more: string]: unknown }

// ---- live events: one socket for the page, reopened after a drop (bounded backoff) while someone listens

type Listener = (event: DmEvent) => void
const listeners = new Set<Listener>()
const connectionListeners = new Set<(open: boolean) => void>()
let socket: WebSocket | undefined
/** Id of the last event received: a reopened socket replays from it, so that a drop loses nothing. */
let lastId: number | undefined
let retryMs = 500
let retryTimer: number | undefined
const MAX_RETRY_MS = 10_000

function openSocket (): void {
  if (socket !== undefined || listeners.size === 0) return
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/events${lastId === undefined ? '' : `?after=${lastId}`}`
  const ws = new WebSocket(url)
  socket = ws
  ws.onopen = () => {
    if (socket !== ws) return retryMs = 500; connectionListeners.forEach(l => l(true)) }
  ws.onmessage = message => {
    let event: DmEvent
    try { event = JSON.parse(String(message.data)) } catch { return }
    if (typeof event.id === 'number') {
      if (lastId !== undefined && event.id <= lastId) return // replayed twice
      lastId = event.id
    }
    for (const l of listeners) l(event)
  }
  ws.onclose = () => {
    if (socket !== ws) return // closed on purpose (closeEvents), or replaced
    socket = undefined
    connectionListeners.forEach(l => l(false))
    if (listeners.size === 0) return
    retryTimer = window.setTimeout(() => { retryTimer = undefined; openSocket() }, retryMs)
    retryMs = Math.min(MAX_RETRY_MS, retryMs * 2)
  }
}

/** Listens to every DM event; returns the unsubscribe function. */
export function subscribe (listener: Listener): () => void {
  listeners.add(listener)
  openSocket()
  return () => {
    listeners.delete(listener)
    if (listeners.size === 0) closeEvents()
  }
}

export function onConnection (listener: (open: boolean) => void): () => void {
  connectionListeners.add(listener)
  return () => connectionListeners.delete(listener)
}

export function closeEvents (): void {
  lastId = undefined
  if (retryTimer !== undefined) { clearTimeout(retryTimer); retryTimer = undefined }
  const s = socket
  socket = undefined
  s?.close()
}

export function isEventsOpen (): boolean { return socket?.readyState === WebSocket.OPEN }

// ---- what this DM offers beyond the console's own routes, from its OpenAPI document (no request for a missing route)

let paths: Promise<Set<string>> | undefined
/** Whether the DM serves `method path` (OpenAPI form, e.g. `/api/applications/{app}/scale`). */
export async function dmHas (method: string, path: string): Promise<boolean> {
  paths ??= fetch('/openapi.json').then(r => r.json()).then((doc: { paths?: Record<string, Record<string, unknown>> }) => {
    const found = new Set<string>()
    for (const [p, methods] of Object.entries(doc.paths ?? {})) for (const m of Object.keys(methods)) found.add(`${m.toUpperCase()} ${p}`)
    return found
  }, () => new Set<string>())
  return (await paths).has(`${method} ${path}`)
}
