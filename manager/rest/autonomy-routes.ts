// REST routes of elasticity: scale, commands files and their history, autonomic rules, scheduled jobs.
import type { DeploymentManager } from '../dm.js'
import { MAX_SCALE_COUNT } from '../autonomy/scale.js'
import { answer, type RouteSpec } from './server.js'
import * as s from './schemas.js'

type AppParams = { app: string }

const scaleBody = {
  type: 'object', additionalProperties: false, required: ['component', 'count'],
  properties: {
    component: { type: 'string', minLength: 1, maxLength: 200 },
    count: { type: 'integer', minimum: 1, maximum: MAX_SCALE_COUNT, description: 'machines carrying the component wanted' },
    root: { ...s.instancePath, description: 'the root instance to replicate, and whose likes are counted (needed when the component alone is ambiguous)' },
    dryRun: { type: 'boolean', description: 'only answer the plan (default false)' }
  }
} as const

const scaleResult = {
  type: 'object',
  properties: {
    application: { type: 'string' }, component: { type: 'string' }, machines: { type: 'array', items: { type: 'string' } },
    from: { type: 'integer' }, to: { type: 'integer' }, model: { type: 'string' },
    add: { type: 'array', items: { type: 'string' } }, remove: { type: 'array', items: { type: 'string' } }, dryRun: { type: 'boolean' }
  }
} as const

const pageQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    offset: { type: 'string', pattern: '^\\d{1,9}$', description: 'entries skipped, newest first (default 0)' },
    limit: { type: 'string', pattern: '^\\d{1,4}$', description: 'entries per page, 1 to 1000 (default 50)' }
  }
} as const

const historyPage = {
  type: 'object',
  properties: {
    total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' }, command: { type: 'string' }, instruction: { type: 'string' }, line: { type: 'integer' },
          source: { type: 'string', enum: ['user', 'rule', 'schedule'] }, sourceName: { type: 'string' },
          outcome: { type: 'string', enum: ['ok', 'error', 'skipped', 'missed'] }, detail: { type: 'string' },
          startedAt: { type: 'string' }, durationMs: { type: 'integer' }, executionId: { type: 'string' }
        }
      }
    }
  }
} as const

/** Default and largest page of the history. */
const DEFAULT_PAGE = 50
const MAX_PAGE = 1000

const commandsParams = {
  type: 'object', required: ['app', 'name'], properties: { app: s.applicationName, name: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^/\\\\]+$' } }
} as const

const runBody = {
  type: 'object', additionalProperties: false, properties: { dryRun: { type: 'boolean', description: 'validate and list the instructions, run nothing (default false)' } }
} as const

const modelErrors = { type: 'array', items: { type: 'object', additionalProperties: true } } as const

const commandsExecution = {
  type: 'object',
  properties: {
    application: { type: 'string' }, command: { type: 'string' }, executionId: { type: 'string' }, dryRun: { type: 'boolean' }, ok: { type: 'boolean' },
    instructions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          line: { type: 'integer' }, kind: { type: 'string' }, text: { type: 'string' },
          outcome: { type: 'string', enum: ['ok', 'error', 'skipped'] }, detail: { type: 'string' }, durationMs: { type: 'integer' }
        }
      }
    },
    warnings: modelErrors
  }
} as const

const jobView = {
  type: 'object',
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, application: { type: 'string' }, command: { type: 'string' }, cron: { type: 'string' },
    createdAt: { type: 'string' }, lastRunAt: { type: 'string' }, nextRunAt: { type: 'string' }
  }
} as const

const jobBody = {
  type: 'object', additionalProperties: false, required: ['application', 'command', 'cron'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    application: s.applicationName,
    command: { type: 'string', minLength: 1, maxLength: 200, description: 'commands file name, without .commands' },
    cron: { type: 'string', minLength: 1, maxLength: 200, description: '5 fields (minute hour day month weekday), or 6 with seconds first' }
  }
} as const

export function autonomyRoutes (dm: DeploymentManager): RouteSpec[] {
  type CommandsParams = { app: string, name: string }
  return [
    {
      method: 'GET', url: '/api/schedules', summary: 'scheduled jobs (cron -> commands file), with their next run',
      querystring: { type: 'object', additionalProperties: false, properties: { application: s.applicationName } },
      responses: { 200: { type: 'array', items: jobView } },
      handler: async (request) => dm.autonomy.schedules.list((request.query as { application?: string }).application)
    },
    {
      method: 'POST', url: '/api/schedules', summary: 'schedule a commands file on a cron expression (kept across DM restarts; missed runs are not replayed)',
      body: jobBody, responses: { 201: jobView },
      handler: async (request, reply) => answer(reply, 201, dm.autonomy.schedules.add(request.body as { name?: string, application: string, command: string, cron: string }))
    },
    {
      method: 'DELETE', url: '/api/schedules/:id', summary: 'delete a scheduled job',
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } }, responses: { 204: null },
      handler: async (request, reply) => { dm.autonomy.schedules.delete((request.params as { id: string }).id); return answer(reply, 204) }
    },
    {
      method: 'GET', url: '/api/applications/:app/rules', summary: 'the autonomic rules (rules.autonomic/*.drl): each with its last firing and why it last fired or did not',
      params: s.applicationParams, responses: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } } },
      handler: async (request) => {
        const { app } = request.params as AppParams
        dm.getApplication(app)
        return dm.autonomy.rules.list(app)
      }
    },
    {
      method: 'GET', url: '/api/applications/:app/commands', summary: 'the commands files of the application, validated against its instances now',
      params: s.applicationParams,
      responses: { 200: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, instructions: { type: 'integer' }, errors: modelErrors } } } },
      handler: async (request) => dm.autonomy.listCommands((request.params as AppParams).app)
    },
    {
      method: 'GET', url: '/api/applications/:app/commands/:name', summary: 'one commands file: its text and what validating it finds',
      params: commandsParams, responses: { 200: { type: 'object', properties: { name: { type: 'string' }, text: { type: 'string' }, errors: modelErrors } } },
      handler: async (request) => {
        const { app, name } = request.params as CommandsParams
        return dm.autonomy.readCommands(app, name)
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/commands/:name/execute',
      summary: 'execute a commands file in sequence (409 with the findings when it does not validate; each instruction goes to the history); dryRun lists them only',
      params: commandsParams, body: runBody, responses: { 200: commandsExecution },
      handler: async (request) => {
        const { app, name } = request.params as CommandsParams
        return await dm.autonomy.runCommands(app, name, { dryRun: (request.body as { dryRun?: boolean } | undefined)?.dryRun === true })
      }
    },
    {
      method: 'POST', url: '/api/applications/:app/scale',
      summary: 'add or remove whole machines carrying a component (replicating one; a removal undeploys first); dryRun answers the plan only',
      params: s.applicationParams, body: scaleBody, responses: { 200: scaleResult },
      handler: async (request) => dm.autonomy.scale((request.params as AppParams).app,
        request.body as { component: string, count: number, root?: string, dryRun?: boolean })
    },
    {
      method: 'GET', url: '/api/applications/:app/history', summary: 'what commands, scales, rules and schedules did, newest first, paged',
      params: s.applicationParams, querystring: pageQuery, responses: { 200: historyPage },
      handler: async (request, reply) => {
        const query = request.query as { offset?: string, limit?: string }
        const offset = Number(query.offset ?? 0)
        const limit = Number(query.limit ?? DEFAULT_PAGE)
        if (limit < 1 || limit > MAX_PAGE) return answer(reply, 400, { error: { code: 'REST_VALIDATION', message: `limit ${limit} is out of range: ask for 1 to ${MAX_PAGE} entries per page` } })
        return { ...dm.autonomy.history((request.params as AppParams).app, { offset, limit }), offset, limit }
      }
    }
  ]
}
