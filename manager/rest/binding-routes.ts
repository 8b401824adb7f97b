// REST routes of inter-application bindings (reference §5: /app/{name}/bind, /unbind, /bind-x, GET /bind): which
// applications an application imports each external prefix from. Roboconf's query names are the body's fields:
// `bound-tpl` is `prefix`, `bound-app` is `application`, bind-x's `app` list is `applications`.
import type { DeploymentManager } from '../dm.js'
import { answer, type RouteSpec } from './server.js'
import * as s from './schemas.js'

type AppParams = { app: string }

const prefix = { type: 'string', minLength: 1, maxLength: 200, description: 'the external exports prefix (exports-prefix of the exporting template; Roboconf\'s bound-tpl)' } as const

const bindBody = {
  type: 'object', additionalProperties: false, required: ['prefix', 'application'],
  properties: { prefix, application: { ...s.applicationName, description: 'the exporting application (Roboconf\'s bound-app)' } }
} as const

const bindXBody = {
  type: 'object', additionalProperties: false, required: ['prefix', 'applications'],
  properties: { prefix, applications: { type: 'array', maxItems: 1000, items: s.applicationName, description: 'every exporting application (empty: none)' } }
} as const

const bindingsView = {
  type: 'object',
  properties: {
    application: { type: 'string' },
    prefixes: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'object', properties: { application: { type: 'string' }, bound: { type: 'boolean' } } } }
    }
  }
} as const

export function bindingRoutes (dm: DeploymentManager): RouteSpec[] {
  return [
    {
      method: 'GET', url: '/api/applications/:app/bindings',
      summary: 'for each external prefix the application imports: the applications exporting it, and whether each is bound',
      params: s.applicationParams, responses: { 200: bindingsView },
      handler: async (request) => dm.bindings((request.params as AppParams).app)
    },
    {
      method: 'POST', url: '/api/applications/:app/bind',
      summary: 'the application imports a prefix from one more application (403 when that application does not exist or does not export the prefix)',
      params: s.applicationParams, body: bindBody, responses: { 200: bindingsView },
      handler: async (request) => {
        const { app } = request.params as AppParams
        const body = request.body as { prefix: string, application: string }
        dm.bind(app, body.prefix, body.application)
        return dm.bindings(app)
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/unbind',
      summary: 'the application no longer imports a prefix from an application: its importers drop those imports at once',
      params: s.applicationParams, body: bindBody, responses: { 200: bindingsView },
      handler: async (request) => {
        const { app } = request.params as AppParams
        const body = request.body as { prefix: string, application: string }
        dm.unbind(app, body.prefix, body.application)
        return dm.bindings(app)
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/bind-x',
      summary: 'the application imports a prefix from exactly these applications (replaces the set)',
      params: s.applicationParams, body: bindXBody, responses: { 200: bindingsView },
      handler: async (request, reply) => {
        const { app } = request.params as AppParams
        const body = request.body as { prefix: string, applications: string[] }
        dm.replaceBindings(app, body.prefix, body.applications)
        return answer(reply, 200, dm.bindings(app))
      }
    }
  ]
}
