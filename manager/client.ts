// A typed client of the DM's REST API and of its WebSocket events (contract: the DM's REST API table).
import { EventEmitter } from 'node:events'
import WebSocket from 'ws'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { AgentLogLine, InstanceProblem } from '../protocol/messages.js'
import type {
  ApplicationBindingsView, ApplicationDetails, ApplicationSettings, ApplicationSummary, DmAction as ApplicationAction, InstanceView as InstanceNode,
  LoadedTemplate as TemplateLoadResult, NewInstance, RequestableStatus, TargetDefinition, TargetDetails,
  TargetScope, TemplateDetails, TemplateRef, TemplateSummary
} from './dto.js'
import type { ModelError } from '../protocol/model/types.js'
import type { ScaleRequest, ScaleResult } from './autonomy/scale.js'
import type { HistoryEntry, ScheduledJob } from './autonomy/store.js'
import type { RuleView } from './autonomy/rules.js'
import type { CommandsExecution, CommandsFileView } from './autonomy/commands-runner.js'

/** How long one REST request may take before the client gives up, in milliseconds. */
export const REQUEST_TIMEOUT_MS = 30_000
/** Template uploads may carry up to 20 MB: give them longer, in milliseconds. */
export const UPLOAD_TIMEOUT_MS = 120_000
/** Largest template ZIP the DM accepts, in bytes (the REST contract). */
export const MAX_TEMPLATE_ZIP_BYTES = 20 * 1024 * 1024
/** Events kept for an events stream that has no listener yet, at most. */
export const MAX_EARLY_EVENTS = 10_000
/** How long opening the events WebSocket may take, in milliseconds. */
export const EVENTS_CONNECT_TIMEOUT_MS = 10_000

export type {
  ApplicationDetails, ApplicationSettings, ApplicationSummary, DmAction as ApplicationAction, InstanceView as InstanceNode,
  LoadedTemplate as TemplateLoadResult, NewInstance, RequestableStatus, TargetDefinition, TargetDetails, TargetScope,
  TemplateDetails, TemplateRef, TemplateSummary
} from './dto.js'

/** `{ type: "instance", application, path, status, at }` */
export interface InstanceEvent {
  type: 'instance'
  application: string
  path: string
  status: InstanceStatus
  at: string | number
  /** The history id (absent from DMs before the event history). */
  id?: number
  /** Present when the change came with a failure. */
  problem?: InstanceProblem
}

/** Application-level events (created, deleted, …): fields beyond `type` and `application` vary. */
export interface ApplicationEvent {
  type: 'application'
  application: string
  [field: string]: unknown
}

/** Other events of the history (machines, templates, REST writes): `type` and `id`, the rest varies. */
export interface OtherEvent {
  type: 'machine' | 'template' | 'request' | 'autonomic'
  id?: number
  application?: string
  [field: string]: unknown
}

export type DmEvent = InstanceEvent | ApplicationEvent | OtherEvent

export interface EventStreamOptions {
  application?: string
  /** Replay the stored events whose id is above this one, then follow. */
  after?: number
  /** Replay the stored events since then (`10m`, `2h`, an ISO time), then follow. */
  since?: string
}

/** An entry of the DM's event history (GET /api/events): declared once, by the store that keeps it. */
import type { StoredEvent as HistoryEvent } from './store.js'
export type { HistoryEvent }

/** A machine's log lines, with the cursor of the next read; `kept`: what the DM kept of a terminated machine. */
export interface MachineLogs {
  lines: AgentLogLine[]
  lastSeq: number
  kept: boolean
}

/** An instance described by the DM: declared once, where the DM builds it. */
import type { InstanceDescription } from './dm/describe.js'
export type { InstanceDescription }

/** Base of the errors a DM request ends with. */
export class DmClientError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DmClientError'
  }
}

/** No HTTP answer at all: nothing listens at the URL, DNS failed, or the request timed out. */
export class DmUnreachableError extends DmClientError {
  readonly code = 'CLI_DM_UNREACHABLE'
  constructor (readonly url: string, reason: string) {
    super(`cannot reach the DM at ${url}: ${reason} (start it with \`meshconf dm start\`, or pass --dm)`)
    this.name = 'DmUnreachableError'
  }
}

/** 401: no token, or a token the DM does not know. */
export class DmUnauthorizedError extends DmClientError {
  readonly code = 'CLI_UNAUTHORIZED'
  constructor (readonly url: string, readonly hadToken: boolean) {
    super(`the DM at ${url} ${hadToken ? 'refused the token' : 'needs a token'} (401): pass it with --token T, ` +
      'the MESHCONF_TOKEN environment variable, or a context (`meshconf context add NAME --dm URL --token T`); ' +
      '`meshconf dm start` prints it at first start and keeps it in <data-dir>/token')
    this.name = 'DmUnauthorizedError'
  }
}

/** The DM answered with an error document (4xx/5xx other than 401). */
export class DmRequestError extends DmClientError {
  constructor (
    readonly status: number,
    /** `REST_*` or a model error code. */
    readonly code: string,
    readonly detail: string,
    readonly details: unknown[] = []
  ) {
    super(`${detail} (${code}, HTTP ${status})`)
    this.name = 'DmRequestError'
  }

  /** The model errors carried by a refused template, when there are any. */
  get modelErrors (): ModelError[] {
    return this.details.filter(isModelError)
  }
}

function isModelError (value: unknown): value is ModelError {
  const v = value as Partial<ModelError>
  return v !== null && typeof v === 'object' && typeof v.code === 'string' && typeof v.message === 'string' &&
    (v.level === 'SEVERE' || v.level === 'WARNING')
}

/** A stream of DM events: emits `event` (DmEvent), `error` (Error) and `close`. */
export interface DmEventStream extends EventEmitter {
  close: () => void
}

export interface DmClientComponents {
  /** Base URL, e.g. `http://127.0.0.1:7400` (no trailing slash). */
  url: string
  /** Bearer token; requests without one get 401 from the DM. */
  token?: string
  /** Error code -> advice appended to the DM's message (the CLI names its own commands); default none. */
  hints?: Record<string, string>
  /** How long one request may take, in milliseconds; default REQUEST_TIMEOUT_MS (uploads: UPLOAD_TIMEOUT_MS). */
  requestTimeoutMs?: number
}

export interface DmClient {
  readonly url: string
  listTemplates: () => Promise<TemplateSummary[]>
  /** Uploads a template ZIP (at most MAX_TEMPLATE_ZIP_BYTES). */
  loadTemplateZip: (zip: Uint8Array) => Promise<TemplateLoadResult>
  /** Asks the DM to load a folder or ZIP from its own disk. */
  loadTemplateFromPath: (path: string) => Promise<TemplateLoadResult>
  getTemplate: (template: TemplateRef) => Promise<TemplateDetails>
  deleteTemplate: (template: TemplateRef) => Promise<void>
  /** `probePeriodMs`: how often its agents evaluate their probes (default: the DM's). */
  createApplication: (app: { name: string, template: TemplateRef, description?: string, probePeriodMs?: number }) => Promise<ApplicationSummary>
  listApplications: () => Promise<ApplicationSummary[]>
  getApplication: (app: string) => Promise<ApplicationDetails>
  /** Changes an application's settings (its probe period; null: back to the DM's default). */
  updateApplication: (app: string, settings: ApplicationSettings) => Promise<ApplicationSummary>
  deleteApplication: (app: string) => Promise<void>
  getInstances: (app: string) => Promise<InstanceNode[]>
  addInstance: (app: string, instance: NewInstance) => Promise<InstanceNode>
  /** Copies a root instance and its subtree under a new name. */
  replicateInstance: (app: string, path: string, newName: string) => Promise<InstanceNode>
  deleteInstance: (app: string, path: string) => Promise<void>
  renameInstance: (app: string, path: string, newName: string) => Promise<InstanceNode>
  changeInstanceState: (app: string, path: string, state: RequestableStatus) => Promise<void>
  runAction: (app: string, action: { action: ApplicationAction, path?: string, component?: string }) => Promise<void>
  /** The params (user data) to hand the agent of a machine of the existing target (agent/params.ts). */
  getAgentParams: (app: string, machinePath: string) => Promise<Record<string, unknown>>
  listTargets: () => Promise<TargetDefinition[]>
  getTarget: (id: string) => Promise<TargetDetails>
  createTarget: (target: TargetDefinition) => Promise<TargetDefinition>
  deleteTarget: (id: string) => Promise<void>
  /** Associates a target with the application (default), one machine path or one machine component. */
  associateTarget: (app: string, association: { targetId: string, path?: string, component?: string }) => Promise<void>
  targetAssociations: (app: string) => Promise<Array<{ scope: TargetScope, targetId: string }>>
  /** Opens the events WebSocket; resolves once it is open, so no event after that moment is missed. */
  /**
   * Opens the events WebSocket; resolves once it is open, so no event after that moment is missed. With `after` (an
   * event id) or `since` (`10m`, an ISO time), the DM first replays the stored events after that point.
   */
  openEvents: (options?: EventStreamOptions) => Promise<DmEventStream>
  /** A machine's recent log (or what the DM kept of a terminated one: `kept`). */
  machineLogs: (app: string, machinePath: string, query?: { tail?: number, after?: number, instance?: string }) => Promise<MachineLogs>
  /** Why an instance is where it is (GET .../instances/describe). */
  describeInstance: (app: string, path: string) => Promise<InstanceDescription>
  /** The event history, oldest first: the `limit` most recent matching events. */
  listEvents: (query?: { application?: string, path?: string, since?: string, limit?: number }) => Promise<HistoryEvent[]>
  /** Scales through the DM; resolves once added machines are asked for and removed ones undeployed and deleted. */
  scale: (app: string, request: ScaleRequest, timeoutMs?: number) => Promise<ScaleResult>
  /** For each external prefix the application imports: the exporting applications and whether each is bound. */
  bindings: (app: string) => Promise<ApplicationBindingsView>
  bind: (app: string, prefix: string, exporter: string) => Promise<ApplicationBindingsView>
  unbind: (app: string, prefix: string, exporter: string) => Promise<ApplicationBindingsView>
  /** bind-x: the application imports `prefix` from exactly these applications. */
  replaceBindings: (app: string, prefix: string, exporters: string[]) => Promise<ApplicationBindingsView>
  /** The application's history of commands, scales, rules and schedules, newest first. */
  history: (app: string, page?: { offset?: number, limit?: number }) => Promise<HistoryPage>
  listCommands: (app: string) => Promise<Array<{ name: string, instructions: number, errors: ModelError[] }>>
  readCommands: (app: string, name: string) => Promise<CommandsFileView>
  /** Executes a commands file (dryRun: validates and lists only); resolves once every instruction ran. */
  runCommands: (app: string, name: string, options?: { dryRun?: boolean, timeoutMs?: number }) => Promise<CommandsExecution>
  listRules: (app: string) => Promise<RuleView[]>
  listSchedules: (app?: string) => Promise<Array<ScheduledJob & { nextRunAt?: string }>>
  addSchedule: (job: { name?: string, application: string, command: string, cron: string }) => Promise<ScheduledJob>
  deleteSchedule: (id: string) => Promise<void>
}

export type { CommandsExecution, CommandsFileView }

export type { ScaleRequest, ScaleResult }
export type { ApplicationBindingsView }
export interface HistoryPage { total: number, offset: number, limit: number, entries: HistoryEntry[] }

interface RequestOptions {
  body?: unknown
  /** Raw body sent as application/zip. */
  zip?: Uint8Array
  query?: Record<string, string>
  timeoutMs?: number
}

function describeNetworkError (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time'
  const cause = e?.cause
  if (cause?.code !== undefined) return `${cause.code}${cause.message !== undefined && !cause.message.includes(cause.code) ? ` ${cause.message}` : ''}`
  return cause?.message ?? e?.message ?? String(err)
}

export function createDmClient (components: DmClientComponents): DmClient {
  const base = components.url.replace(/\/+$/, '')
  const token = components.token

  async function request<T> (method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(base + path)
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    let body: RequestInit['body']
    if (options.zip !== undefined) {
      headers['content-type'] = 'application/zip'
      body = options.zip
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    let response: Response
    let text: string
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? components.requestTimeoutMs ?? REQUEST_TIMEOUT_MS) })
      text = await response.text()
    } catch (err) {
      throw new DmUnreachableError(base, describeNetworkError(err))
    }
    if (response.status === 401) throw new DmUnauthorizedError(base, token !== undefined)
    let parsed: unknown
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text)
      } catch {
        if (response.ok) throw new DmRequestError(response.status, 'REST_BAD_ANSWER', `the DM answered ${method} ${path} with something that is not JSON: ${text.slice(0, 200)}`)
      }
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: unknown, message?: unknown, details?: unknown } } | undefined)?.error
      const details = Array.isArray(error?.details)
        ? error.details
        : Array.isArray((parsed as { errors?: unknown } | undefined)?.errors) ? (parsed as { errors: unknown[] }).errors : []
      const code = typeof error?.code === 'string' ? error.code : 'REST_HTTP_ERROR'
      const message = typeof error?.message === 'string' ? error.message : `${method} ${path} failed: ${response.statusText || text.slice(0, 200)}`
      const hint = components.hints?.[code]
      throw new DmRequestError(response.status, code, hint !== undefined ? `${message}; ${hint}` : message, details)
    }
    return parsed as T
  }

  const appPath = (app: string): string => `/api/applications/${encodeURIComponent(app)}`

  return {
    url: base,
    listTemplates: async () => await request('GET', '/api/templates'),
    loadTemplateZip: async (zip) => await request('POST', '/api/templates', { zip, timeoutMs: UPLOAD_TIMEOUT_MS }),
    loadTemplateFromPath: async (path) => await request('POST', '/api/templates', { body: { path }, timeoutMs: UPLOAD_TIMEOUT_MS }),
    getTemplate: async (t) => await request('GET', `/api/templates/${encodeURIComponent(t.name)}/${encodeURIComponent(t.version)}`),
    deleteTemplate: async (t) => { await request('DELETE', `/api/templates/${encodeURIComponent(t.name)}/${encodeURIComponent(t.version)}`) },
    createApplication: async (app) => await request('POST', '/api/applications', { body: app }),
    listApplications: async () => await request('GET', '/api/applications'),
    getApplication: async (app) => await request('GET', appPath(app)),
    updateApplication: async (app, settings) => await request('PATCH', appPath(app), { body: settings }),
    deleteApplication: async (app) => { await request('DELETE', appPath(app)) },
    getInstances: async (app) => await request('GET', `${appPath(app)}/instances`),
    addInstance: async (app, instance) => await request('POST', `${appPath(app)}/instances`, { body: instance }),
    replicateInstance: async (app, path, newName) => await request('POST', `${appPath(app)}/instances/replicate`, { body: { path, newName } }),
    deleteInstance: async (app, path) => { await request('DELETE', `${appPath(app)}/instances`, { query: { path } }) },
    renameInstance: async (app, path, newName) => await request('POST', `${appPath(app)}/instances/rename`, { body: { path, newName } }),
    listTargets: async () => await request('GET', '/api/targets'),
    getTarget: async (id) => await request('GET', `/api/targets/${encodeURIComponent(id)}`),
    createTarget: async (target) => await request('POST', '/api/targets', { body: target }),
    deleteTarget: async (id) => { await request('DELETE', `/api/targets/${encodeURIComponent(id)}`) },
    associateTarget: async (app, association) => { await request('POST', `${appPath(app)}/targets`, { body: association }) },
    targetAssociations: async (app) => await request('GET', `${appPath(app)}/targets`),
    changeInstanceState: async (app, path, state) => { await request('POST', `${appPath(app)}/instances/state`, { body: { path, state } }) },
    runAction: async (app, action) => { await request('POST', `${appPath(app)}/actions`, { body: action }) },
    getAgentParams: async (app, machinePath) => await request('GET', `${appPath(app)}/instances/agent-params`, { query: { path: machinePath } }),
    openEvents: async (options = {}) => await openEventStream(base, token, options),
    machineLogs: async (app, machinePath, query = {}) => await request('GET', `${appPath(app)}/logs`, {
      query: {
        path: machinePath,
        ...(query.tail !== undefined ? { tail: String(query.tail) } : {}),
        ...(query.after !== undefined ? { after: String(query.after) } : {}),
        ...(query.instance !== undefined ? { instance: query.instance } : {})
      }
    }),
    describeInstance: async (app, path) => await request('GET', `${appPath(app)}/instances/describe`, { query: { path } }),
    listEvents: async (query = {}) => await request('GET', '/api/events', {
      query: {
        ...(query.application !== undefined ? { app: query.application } : {}),
        ...(query.path !== undefined ? { path: query.path } : {}),
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(query.limit !== undefined ? { limit: String(query.limit) } : {})
      }
    }),
    scale: async (app, body, timeoutMs) => await request('POST', `${appPath(app)}/scale`, { body, timeoutMs: timeoutMs ?? REQUEST_TIMEOUT_MS }),
    bindings: async (app) => await request('GET', `${appPath(app)}/bindings`),
    bind: async (app, prefix, application) => await request('POST', `${appPath(app)}/bind`, { body: { prefix, application } }),
    unbind: async (app, prefix, application) => await request('POST', `${appPath(app)}/unbind`, { body: { prefix, application } }),
    replaceBindings: async (app, prefix, applications) => await request('POST', `${appPath(app)}/bind-x`, { body: { prefix, applications } }),
    listRules: async (app) => await request('GET', `${appPath(app)}/rules`),
    listSchedules: async (app) => await request('GET', '/api/schedules', { query: app === undefined ? {} : { application: app } }),
    addSchedule: async (job) => await request('POST', '/api/schedules', { body: job }),
    deleteSchedule: async (id) => { await request('DELETE', `/api/schedules/${encodeURIComponent(id)}`) },
    listCommands: async (app) => await request('GET', `${appPath(app)}/commands`),
    readCommands: async (app, name) => await request('GET', `${appPath(app)}/commands/${encodeURIComponent(name)}`),
    runCommands: async (app, name, options = {}) => await request('POST', `${appPath(app)}/commands/${encodeURIComponent(name)}/execute`,
      { body: { dryRun: options.dryRun === true }, timeoutMs: options.timeoutMs ?? REQUEST_TIMEOUT_MS }),
    history: async (app, page = {}) => await request('GET', `${appPath(app)}/history`, {
      query: Object.fromEntries(Object.entries(page).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))
    })
  }
}

async function openEventStream (base: string, token: string | undefined, options: EventStreamOptions): Promise<DmEventStream> {
  const url = new URL(base.replace(/^http/, 'ws') + '/api/events')
  if (options.application !== undefined) url.searchParams.set('application', options.application)
  if (options.after !== undefined) url.searchParams.set('after', String(options.after))
  if (options.since !== undefined) url.searchParams.set('since', options.since)
  const socket = new WebSocket(url, {
    headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    handshakeTimeout: EVENTS_CONNECT_TIMEOUT_MS
  })
  const stream = new EventEmitter() as DmEventStream
  stream.close = () => { socket.close() }
  const early: DmEvent[] = []

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { cleanup(); reject(new DmUnreachableError(base, `events WebSocket: ${describeNetworkError(err)}`)) }
    const onUnexpected = (_req: unknown, res: { statusCode?: number }): void => {
      cleanup()
      socket.on('error', () => {}) // terminating a socket that never opened reports an error: it is expected here
      socket.terminate()
      if (res.statusCode === 401) reject(new DmUnauthorizedError(base, token !== undefined))
      else reject(new DmRequestError(res.statusCode ?? 0, 'REST_EVENTS_REFUSED', `the DM refused the events WebSocket at ${url.pathname}`))
    }
    const onOpen = (): void => { cleanup(); resolve() }
    const cleanup = (): void => {
      socket.off('error', onError)
      socket.off('unexpected-response', onUnexpected)
      socket.off('open', onOpen)
    }
    socket.on('error', onError)
    socket.on('unexpected-response', onUnexpected)
    socket.on('open', onOpen)
  })

  socket.on('message', (data) => {
    let event: unknown
    try {
      event = JSON.parse(data.toString())
    } catch {
      return // not an event: ignore rather than end the stream
    }
    const e = event as Partial<DmEvent>
    if (e === null || typeof e !== 'object' || typeof e.type !== 'string') return
    // Events that come before the caller listens (it opened the stream, then sent its requests) wait for it.
    if (stream.listenerCount('event') > 0) stream.emit('event', e)
    else if (early.length < MAX_EARLY_EVENTS) early.push(e as DmEvent)
  })
  stream.on('newListener', (name: string) => {
    if (name !== 'event') return
    queueMicrotask(() => { for (const e of early.splice(0)) stream.emit('event', e) })
  })
  // An EventEmitter throws on an unheard 'error': only forward it to a listener.
  socket.on('error', (err) => { if (stream.listenerCount('error') > 0) stream.emit('error', err) })
  socket.on('close', () => { stream.emit('close') })
  return stream
}
