// The DM's REST API (fastify) and its live events (WebSocket at /api/events). Every input is validated by a JSON
// schema; every request but GET /openapi.json needs the bearer token. Errors answer
// `{ error: { code, message, details? } }` with a 4xx saying what is wrong and how to fix it.
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import { isAuthorized } from '../auth.js'
import { EVENTS_MAX_FRAME_BYTES } from '../messaging/limits.js'
import type { DeploymentManager, DmAction, PublishedEvent } from '../dm.js'
import type { ApplicationSettings } from '../dto.js'
import { DATA_MACHINE_ID, DATA_TARGET_HANDLER, MAX_EVENTS_PER_QUERY, MAX_JSON_BODY_BYTES, MAX_TEMPLATE_UPLOAD_BYTES } from '../constants.js'
import type { Logger } from 'pino'
import { parseSince } from '../events.js'
import type { DmMetrics } from '../metrics.js'
import { DmError, NoAgentParamsError } from '../errors.js'
import type { Store } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import { autonomyRoutes } from './autonomy-routes.js'
import { bindingRoutes } from './binding-routes.js'
import { createConsole, type ConsoleOptions } from './console.js'
import { consoleRoutes } from './console-view.js'
import * as s from './schemas.js'
import { errorMessage } from '../../protocol/errors.js'

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

/**
 * Where Prometheus scrapes the agents that serve metrics, in its HTTP service discovery format
 * (deploy/prometheus.yml): one target group per agent, labelled with its application and machine.
 */
function metricsTargets (dm: DeploymentManager): Array<{ targets: string[], labels: Record<string, string> }> {
  return dm.listApplications().flatMap(a => dm.agents(a.name)
    .filter(agent => agent.metricsAddress !== undefined)
    .map(agent => ({ targets: [agent.metricsAddress as string], labels: { application: a.name, machine: agent.scopedInstancePath } })))
}

/** WebSocket close code of an events stream whose query is wrong (a bad `since`). */
const EVENTS_BAD_QUERY_CLOSE_CODE = 4400
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

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
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
  })

  type AppParams = { app: string }
  interface EventsQuery { application?: string, app?: string, path?: string, since?: string, limit?: string, after?: string }
  const routes: RouteSpec[] = [
    {
      method: 'POST', url: '/api/templates', summary: 'load a template: a zip body (application/zip, max 20 MB) or {"path"} of a folder or zip on the DM host',
      body: s.templatePathBody, alsoAccepts: ['application/zip'], responses: { 201: s.templateLoaded },
      handler: async (request, reply) => {
        const body = request.body
        const loaded = Buffer.isBuffer(body)
          ? await dm.loadTemplateFromZip(body)
          : await dm.loadTemplateFromPath((body as { path: string }).path)
        return answer(reply, 201, { name: loaded.name, version: loaded.version, errors: loaded.errors })
      }
    },
    {
      method: 'GET', url: '/api/templates', summary: 'list templates', responses: { 200: { type: 'array', items: s.templateSummary } },
      handler: async () => dm.listTemplates().map(t => ({ name: t.name, version: t.version, description: t.description ?? '' }))
    },
    {
      method: 'GET', url: '/api/templates/:name/:version', summary: 'a template: components, declared instances, warnings, applications made from it',
      params: s.templateParams, responses: { 200: s.templateDetails },
      handler: async (request) => {
        const { name, version } = request.params as { name: string, version: string }
        return dm.getTemplate(name, version)
      }
    },
    {
      method: 'DELETE', url: '/api/templates/:name/:version', summary: 'delete a template (409 while applications use it)',
      params: s.templateParams, responses: { 204: null },
      handler: async (request, reply) => {
        const { name, version } = request.params as { name: string, version: string }
        dm.deleteTemplate(name, version)
        return answer(reply, 204)
      }
    },
    {
      method: 'POST', url: '/api/applications', summary: 'create an application from a template',
      body: s.createApplicationBody, responses: { 201: s.applicationSummary },
      handler: async (request, reply) => answer(reply, 201, dm.createApplication(request.body as Parameters<DeploymentManager['createApplication']>[0]))
    },
    {
      method: 'GET', url: '/api/applications', summary: 'list applications', responses: { 200: { type: 'array', items: s.applicationSummary } },
      handler: async () => dm.listApplications().map(a => ({ ...a, description: a.description ?? '' }))
    },
    {
      method: 'GET', url: '/api/applications/:app', summary: 'an application and its instance tree',
      params: s.applicationParams, responses: { 200: { ...s.applicationSummary, properties: { ...s.applicationSummary.properties, instances: { type: 'array', items: s.instanceView } } } },
      handler: async (request) => dm.getApplication((request.params as AppParams).app)
    },
    {
      method: 'PATCH', url: '/api/applications/:app', summary: 'change an application\'s settings: probePeriodMs (null: the DM\'s default), sent to its running agents',
      params: s.applicationParams, body: s.updateApplicationBody, responses: { 200: s.applicationSummary },
      handler: async (request) => dm.updateApplication((request.params as AppParams).app, request.body as ApplicationSettings)
    },
    {
      method: 'DELETE', url: '/api/applications/:app', summary: 'delete an application (its machines are terminated first)',
      params: s.applicationParams, responses: { 204: null },
      handler: async (request, reply) => { await dm.deleteApplication((request.params as AppParams).app); return answer(reply, 204) }
    },
    {
      method: 'GET', url: '/api/applications/:app/instances', summary: 'the instance tree with states',
      params: s.applicationParams, responses: { 200: { type: 'array', items: s.instanceView } },
      handler: async (request) => dm.instances((request.params as AppParams).app)
    },
    {
      method: 'POST', url: '/api/applications/:app/instances', summary: 'add a root instance (a machine) or a child',
      params: s.applicationParams, body: s.addInstanceBody, responses: { 201: s.instanceView },
      handler: async (request, reply) => answer(reply, 201,
        dm.addInstance((request.params as AppParams).app, request.body as Parameters<DeploymentManager['addInstance']>[1]))
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/replicate', summary: 'copy a root instance and its subtree under a new name',
      params: s.applicationParams, body: s.replicateBody, responses: { 201: s.instanceView },
      handler: async (request, reply) => {
        const { path, newName } = request.body as { path: string, newName: string }
        return answer(reply, 201, dm.replicate((request.params as AppParams).app, path, newName))
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/rename', summary: 'rename an instance (Roboconf\'s Rename; 409 unless its subtree is NOT_DEPLOYED)',
      params: s.applicationParams, body: s.renameBody, responses: { 200: s.instanceView },
      handler: async (request) => {
        const { path, newName } = request.body as { path: string, newName: string }
        return dm.renameInstance((request.params as AppParams).app, path, newName)
      }
    },
    {
      method: 'DELETE', url: '/api/applications/:app/instances', summary: 'delete an instance subtree (409 unless all NOT_DEPLOYED)',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 204: null },
      handler: async (request, reply) => {
        dm.removeInstance((request.params as AppParams).app, (request.query as { path: string }).path)
        return answer(reply, 204)
      }
    },
    {
      method: 'GET', url: '/api/applications/:app/instances/agent-params', summary: 'the params (user data) to hand the agent of a machine of the existing target',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 200: { type: 'object', additionalProperties: true } },
      handler: async (request) => {
        const application = (request.params as AppParams).app
        const { path } = request.query as { path: string }
        const { data } = dm.instance(application, path)
        const handler = targets.find(t => t.id === data[DATA_TARGET_HANDLER])
        const machineId = data[DATA_MACHINE_ID]
        const params = machineId === undefined ? undefined : await handler?.agentParams?.(machineId)
        if (params === undefined) throw new NoAgentParamsError(application, path, machineId === undefined ? undefined : data[DATA_TARGET_HANDLER])
        return params
      }
    },
    {
      method: 'GET', url: '/api/applications/:app/logs', summary: 'a machine\'s recent log through its agent (or what the DM kept of a terminated one: kept true): lines with seq, at, level, message, instance, step',
      params: s.applicationParams, querystring: s.logsQuery,
      responses: { 200: { type: 'object', properties: { lines: { type: 'array', items: { type: 'object' } }, lastSeq: { type: 'integer' }, kept: { type: 'boolean' } } } },
      handler: async (request) => {
        const query = request.query as { path: string, tail?: string, after?: string, instance?: string }
        return await dm.logs((request.params as AppParams).app, query.path, {
          ...(query.tail !== undefined ? { tail: Number(query.tail) } : {}),
          ...(query.after !== undefined ? { afterSeq: Number(query.after) } : {}),
          ...(query.instance !== undefined ? { instance: query.instance } : {})
        })
      }
    },
    {
      method: 'GET', url: '/api/metrics/targets', summary: 'where Prometheus scrapes the agents serving metrics (its HTTP service discovery format; deploy/prometheus.yml)',
      responses: { 200: { type: 'array', items: { type: 'object', properties: { targets: { type: 'array', items: { type: 'string' } }, labels: { type: 'object', additionalProperties: { type: 'string' } } } } } },
      handler: async () => metricsTargets(dm)
    },
    {
      method: 'GET', url: '/api/applications/:app/instances/describe', summary: 'why an instance is where it is: state and since when, problems, machine, exports, imports held and missing, last events',
      params: s.applicationParams, querystring: s.instancePathQuery, responses: { 200: s.instanceDescription },
      handler: async (request) => dm.describe((request.params as AppParams).app, (request.query as { path: string }).path)
    },
    {
      method: 'POST', url: '/api/applications/:app/instances/state', summary: 'ask one instance for a state',
      params: s.applicationParams, body: s.changeStateBody, responses: { 202: null },
      handler: async (request, reply) => {
        const { path, state } = request.body as { path: string, state: InstanceStatus }
        dm.changeState((request.params as AppParams).app, path, state)
        return answer(reply, 202)
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/actions', summary: 'deploy-and-start-all, stop-all or undeploy-all (whole application, a subtree, or a component)',
      params: s.applicationParams, body: s.actionBody, responses: { 202: null },
      handler: async (request, reply) => {
        dm.action((request.params as AppParams).app, request.body as { action: DmAction, path?: string, component?: string })
        return answer(reply, 202)
      }
    },
    {
      method: 'GET', url: '/api/targets', summary: 'list targets (the built-in default first)', responses: { 200: { type: 'array', items: s.targetView } },
      handler: async () => dm.listTargets().map(t => ({ id: t.id, handler: t.handler, name: t.name ?? t.id, properties: t.properties }))
    },
    {
      method: 'POST', url: '/api/targets', summary: 'create a target', body: s.targetBody, responses: { 201: s.targetView },
      handler: async (request, reply) => {
        const body = request.body as { id: string, handler: string, name?: string, description?: string, properties?: Record<string, string> }
        return answer(reply, 201, dm.createTarget({ ...body, properties: body.properties ?? {} }))
      }
    },
    {
      method: 'GET', url: '/api/targets/:id', summary: 'a target, where it is associated and the machines created with it',
      params: s.targetParams, responses: { 200: s.targetDetails },
      handler: async (request) => {
        const t = dm.targetDetails((request.params as { id: string }).id)
        return { ...t, name: t.name ?? t.id }
      }
    },
    {
      method: 'DELETE', url: '/api/targets/:id', summary: 'delete a target (409 while associated or used by a machine, naming what uses it)',
      params: s.targetParams, responses: { 204: null },
      handler: async (request, reply) => { dm.deleteTarget((request.params as { id: string }).id); return answer(reply, 204) }
    },
    {
      method: 'GET', url: '/api/applications/:app/targets', summary: 'the target associations of the application',
      params: s.applicationParams,
      responses: { 200: { type: 'array', items: { type: 'object', properties: { scope: { type: 'object' }, targetId: { type: 'string' } } } } },
      handler: async (request) => dm.targetAssociations((request.params as AppParams).app)
    },
    {
      method: 'POST', url: '/api/applications/:app/targets', summary: 'associate a target with the application (default), a machine path or a machine component',
      params: s.applicationParams, body: s.associateTargetBody, responses: { 204: null },
      handler: async (request, reply) => {
        dm.associateTarget((request.params as AppParams).app, request.body as { targetId: string, path?: string, component?: string })
        return answer(reply, 204)
      }
    },
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

    // liveness and readiness for a supervisor, with no token: they say nothing but yes or no
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

    // every REST write is an event of the history (who changed what, answered how)
    app.addHook('onResponse', async (request, reply) => {
      if ((request.method !== 'POST' && request.method !== 'PATCH' && request.method !== 'DELETE') || reply.statusCode === 401) return
      const application = (request.params as Partial<AppParams> | undefined)?.app
      dm.recordEvent({
        type: 'request', method: request.method, url: request.url.slice(0, MAX_EVENT_URL_CHARS), statusCode: reply.statusCode,
        ...(application === undefined ? {} : { application }), at: new Date().toISOString()
      })
    })

    app.get('/openapi.json', async () => document)
    webConsole.register(app)
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
    app.route({
      method: 'GET',
      url: '/api/events',
      schema: { querystring: s.eventsQuery },
      handler: async (request) => {
        const query = request.query as EventsQuery
        const limit = query.limit === undefined ? MAX_EVENTS_PER_QUERY : Math.min(Number(query.limit), MAX_EVENTS_PER_QUERY)
        return dm.history({
          application: query.app ?? query.application, path: query.path, limit,
          ...(query.since === undefined ? {} : { sinceMs: parseSince(query.since) }),
          ...(query.after === undefined ? {} : { afterId: Number(query.after) })
        })
      },
      wsHandler: (socket, request) => {
        const query = request.query as EventsQuery
        const only = query.app ?? query.application
        const wanted = (event: { type: string, application?: string }): boolean =>
          only === undefined || (event.type !== 'template' && event.application === only)
        // The replay and the subscription happen in one turn of the event loop: no event falls between them, and
        // every live one has a greater id than the replayed ones.
        if (query.after !== undefined || query.since !== undefined) {
          let sinceMs: number | undefined
          try {
            sinceMs = query.since === undefined ? undefined : parseSince(query.since)
          } catch (err) {
            socket.close(EVENTS_BAD_QUERY_CLOSE_CODE, errorMessage(err).slice(0, 120))
            return
          }
          const replay = dm.history({
            application: only,
            ...(query.after === undefined ? {} : { afterId: Number(query.after) }),
            ...(sinceMs === undefined ? {} : { sinceMs })
          })
          for (const stored of replay) socket.send(JSON.stringify({ ...stored.body, id: stored.id }))
        }
        const unsubscribe = dm.onEvent((event: PublishedEvent) => {
          if (wanted(event as { type: string, application?: string })) socket.send(JSON.stringify(event))
        })
        const entry = { close: () => socket.close() }
        sockets.add(entry)
        socket.on('close', () => { unsubscribe(); sockets.delete(entry) })
        socket.on('error', () => { unsubscribe(); sockets.delete(entry) })
      }
    })
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
