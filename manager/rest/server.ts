// The DM's REST API (fastify) and its live events (WebSocket at /api/events). Every input is validated by a JSON
// schema; every request but GET /openapi.json needs the bearer token. Errors answer
// `{ error: { code, message, details? } }` with a 4xx saying what is wrong and how to fix it.
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { isAuthorized } from '../auth.js'
import { EVENTS_MAX_FRAME_BYTES } from '../messaging/limits.js'
import type { DeploymentManager } from '../dm.js'
import { MAX_JSON_BODY_BYTES, MAX_TEMPLATE_UPLOAD_BYTES } from '../constants.js'
import type { Logger } from 'pino'
import type { DmMetrics } from '../metrics.js'
import { DmError } from '../errors.js'
import type { Store } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import { autonomyRoutes } from './autonomy-routes.js'
import { dmRoutes } from './dm-routes.js'
import { registerEventsRoute } from './events-route.js'
import { bindingRoutes } from './binding-routes.js'
import { createConsole, type ConsoleOptions } from './console.js'
import { consoleRoutes } from './console-view.js'
import * as s from './schemas.js'

export interface RestServerComponents {
  dm: DeploymentManager
  /** The DM's target handlers: machines of the existing target give the operator their agent params; default none. */
  targets?: TargetHandler[]
  /** The bearer token every request must carry. */
  token: string
  /** The DM's store, read by the web console's topology view; without it that view is not served. */
  store?: Store
  /** The DM's metrics, served at /metrics behind the token (and REST latencies observed); default none. */
  metrics?: DmMetrics
  /** Why the DM is not ready (empty when it is): GET /readyz; default always ready. */
  notReady?: () => string[]
}

export interface RestServerOptions {
  /** TCP port; default 7400; 0 picks a free one (tests). */
  port?: number
  /** Listen address; default 127.0.0.1. */
  host?: string
  /** Largest template upload, in bytes; default 20 MB. */
  maxUploadBytes?: number
  /** The web console (files, sessions); see ConsoleOptions for the defaults. */
  console?: ConsoleOptions
  /** Where fastify logs each request (at info; manager/log.ts redacts the token); default none. */
  requestLog?: Logger
}

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  summary: string
  params?: object
  querystring?: object
  body?: object
  /** Status -> schema of the answer (OpenAPI only: answers are serialized as they are). */
  responses: Record<number, object | null>
  /** Content types accepted besides JSON (OpenAPI only). */
  alsoAccepts?: string[]
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
}

/** Probes a supervisor calls without a token. */
const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz'])

/** Longest request URL an event keeps, in characters. */
const MAX_EVENT_URL_CHARS = 300

export function answer (reply: FastifyReply, status: number, body?: unknown): FastifyReply {
  reply.code(status)
  return body === undefined ? reply.send() : reply.send(body)
}

function errorBody (code: string, message: string, details?: unknown[]): object {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/** The OpenAPI 3 document, made from the same route table that fastify serves. */
function openApi (routes: RouteSpec[]): object {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}')
    const parameters: object[] = []
    for (const [where, schema] of [['path', r.params], ['query', r.querystring]] as const) {
      const props = (schema as { properties?: Record<string, object>, required?: string[] } | undefined)
      for (const [name, p] of Object.entries(props?.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (props?.required ?? []).includes(name), schema: p })
      }
    }
    const content: Record<string, object> = {}
    if (r.body !== undefined) content['application/json'] = { schema: r.body }
    for (const type of r.alsoAccepts ?? []) content[type] = { schema: { type: 'string', format: 'binary' } }
    const responses: Record<string, object> = {}
    for (const [status, schema] of Object.entries(r.responses)) {
      responses[status] = schema === null ? { description: 'done' } : { description: 'done', content: { 'application/json': { schema } } }
    }
    responses['4XX'] = { description: 'bad request, unknown resource, conflict, no token (401)', content: { 'application/json': { schema: s.errorAnswer } } }
    ;(paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary, parameters, ...(Object.keys(content).length > 0 ? { requestBody: { required: true, content } } : {}), responses,
      security: [{ bearer: [] }]
    }
  }
  paths['/api/events'] = {
    get: {
      summary: 'the event history, oldest first (at most the `limit` most recent); with a WebSocket upgrade, live events ' +
        '({ id, type: "instance", application, path, status, at, actor, problem? }, { id, type: "application" | "machine" | "template" | "request", ... }), ' +
        'after replaying the stored ones whose id is above `after`',
      parameters: Object.entries(s.eventsQuery.properties).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
      responses: {
        101: { description: 'switching to WebSocket' },
        200: { description: 'done', content: { 'application/json': { schema: { type: 'array', items: s.storedEvent } } } }
      },
      security: [{ bearer: [] }]
    }
  }
  return {
    openapi: '3.0.3',
    info: { title: 'meshconf deployment manager', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths
  }
}

/** Every error answered as `{ error: { code, message, details? } }`: the DM's own with their code and status. */
function errorHandler (maxUpload: number) {
  return async (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (error instanceof DmError) return answer(reply, error.statusCode, errorBody(error.code, error.message, error.details))
    if (error.validation !== undefined) {
      return answer(reply, 400, errorBody('REST_VALIDATION', `invalid request: ${error.message}; see GET /openapi.json for the expected input`))
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE': {
        const limit = request.headers['content-type']?.includes('json') === true ? MAX_JSON_BODY_BYTES : maxUpload
        return answer(reply, 413, errorBody('REST_PAYLOAD_TOO_LARGE',
          `the request body is larger than ${Math.round(limit / 1024 / 1024 * 10) / 10} MB: remove what the template does not need (build outputs, archives), or load it from a folder on the DM host with {"path": ...}`))
      }
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return answer(reply, 415, errorBody('REST_UNSUPPORTED_MEDIA_TYPE',
          `content type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted here: send application/json${request.url === '/api/templates' ? ' or application/zip' : ''}`))
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return answer(reply, 400, errorBody('REST_VALIDATION', 'the JSON body is empty: see GET /openapi.json for the expected input'))
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return answer(reply, error.statusCode, errorBody('REST_BAD_REQUEST', `bad request: ${error.message}`))
    }
    request.log.error(error)
    return answer(reply, 500, errorBody('REST_INTERNAL', `the DM failed on ${request.method} ${request.url.split('?')[0]}: ${error.message}`))
  }
}

/** Every request needs the token or the console's session (a write, its CSRF header too), but the probes'. */
function requireAccess (app: FastifyInstance, webConsole: ReturnType<typeof createConsole>, token: string): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'GET' && (request.url === '/openapi.json' || PROBES.has(request.url))) return
    if (webConsole.isPublic(request) || isAuthorized(request.headers.authorization, token)) return
    const verdict = webConsole.verdict(request)
    if (verdict === 'csrf') {
      await reply.code(403).send(errorBody('REST_CSRF',
        'a write authenticated by the session cookie needs the header X-Meshconf-Csrf with the meshconf_csrf cookie\'s value, and the live events must be opened from the console\'s own origin'))
    } else if (verdict === 'none') {
      await reply.code(401).send(errorBody('REST_UNAUTHORIZED',
        'this request needs the DM token: send the header "Authorization: Bearer <token>" (the token is in <data-dir>/token of the DM)'))
    }
  })
}

/** Liveness and readiness for a supervisor, with no token (they say nothing but yes or no); the metrics, if any. */
function registerProbes (app: FastifyInstance, components: RestServerComponents): void {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const reasons = components.notReady?.() ?? []
    return answer(reply, reasons.length === 0 ? 200 : 503, { status: reasons.length === 0 ? 'ready' : 'not ready' })
  })
  const metrics = components.metrics
  if (metrics !== undefined) {
    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', metrics.contentType)
      return await metrics.text()
    })
    app.addHook('onResponse', async (request, reply) => {
      metrics.observeRequest(request.method, request.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime)
    })
  }
}

/** Every REST write is an event of the history (who changed what, answered how). */
function recordWrites (app: FastifyInstance, dm: DeploymentManager): void {
  app.addHook('onResponse', async (request, reply) => {
    if ((request.method !== 'POST' && request.method !== 'PATCH' && request.method !== 'DELETE') || reply.statusCode === 401) return
    const application = (request.params as { app?: string } | undefined)?.app
    dm.recordEvent({
      type: 'request', method: request.method, url: request.url.slice(0, MAX_EVENT_URL_CHARS), statusCode: reply.statusCode,
      ...(application === undefined ? {} : { application }), at: new Date().toISOString()
    })
  })
}

/** Serves the route table, each input checked by its schemas. */
function registerRoutes (app: FastifyInstance, routes: RouteSpec[], maxUpload: number): void {
  for (const r of routes) {
    app.route({
      method: r.method, url: r.url, handler: r.handler,
      ...(r.url === '/api/templates' && r.method === 'POST' ? { bodyLimit: maxUpload } : {}),
      schema: {
        ...(r.params !== undefined ? { params: r.params } : {}),
        ...(r.querystring !== undefined ? { querystring: r.querystring } : {}),
        ...(r.body !== undefined ? { body: r.url === '/api/templates' ? { content: { 'application/json': { schema: r.body } } } : r.body } : {})
      }
    })
  }
}

export function createRestServer (components: RestServerComponents, options: RestServerOptions = {}) {
  const { dm, token } = components
  const targets = components.targets ?? []
  const maxUpload = options.maxUploadBytes ?? MAX_TEMPLATE_UPLOAD_BYTES
  const webConsole = createConsole({ token }, options.console)
  const app: FastifyInstance = Fastify({
    ...(options.requestLog === undefined ? {} : { loggerInstance: options.requestLog.child({ component: 'rest' }) as FastifyBaseLogger }),
    bodyLimit: MAX_JSON_BODY_BYTES,
    // reject rather than silently drop unknown properties or coerce wrong types
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  })

  // JSON and zip only: a text body would otherwise reach the handlers as a string
  app.removeContentTypeParser('text/plain')
  app.addContentTypeParser(['application/zip', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: maxUpload },
    (_request, body, done) => { done(null, body) })

  app.setNotFoundHandler(async (request, reply) => answer(reply, 404,
    errorBody('REST_NOT_FOUND', `no ${request.method} ${request.url.split('?')[0]} in this API: see GET /openapi.json`)))

  app.setErrorHandler(errorHandler(maxUpload))

  const routes: RouteSpec[] = [
    ...dmRoutes(dm, targets),
    ...autonomyRoutes(dm),
    ...bindingRoutes(dm),
    ...consoleRoutes(components.store),
  ]

  const document = openApi(routes)
  const sockets = new Set<{ close: () => void }>()

  async function register (): Promise<void> {
    // The events stream only sends: what a client writes to it is never read, so any frame but a tiny one is refused.
    await app.register(fastifyWebsocket, { options: { maxPayload: EVENTS_MAX_FRAME_BYTES } })
    // after the WebSocket plugin's own hooks, so that a refused upgrade's socket is closed by it
    requireAccess(app, webConsole, token)
    registerProbes(app, components)
    recordWrites(app, dm)
    app.get('/openapi.json', async () => document)
    webConsole.register(app)
    registerRoutes(app, routes, maxUpload)
    registerEventsRoute(app, dm, sockets)
  }

  let registered: Promise<void> | undefined
  return {
    /** The fastify instance (tests use `inject`). */
    fastify: app,
    async ready (): Promise<void> {
      await (registered ??= register())
      await app.ready()
    },
    /** Listens; resolves with the base URL, e.g. `http://127.0.0.1:7400`. */
    async start (): Promise<string> {
      await (registered ??= register())
      await app.listen({ port: options.port ?? 7400, host: options.host ?? '127.0.0.1' })
      const address = app.server.address()
      const port = typeof address === 'object' && address !== null ? address.port : options.port
      const host = options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
    },
    async stop (): Promise<void> {
      for (const socket of sockets) socket.close()
      await app.close()
    }
  }
}

export type RestServer = ReturnType<typeof createRestServer>
