// JSON schemas of the REST API's inputs and outputs (validated by fastify; also the OpenAPI document's content).
import { INSTANCE_STATUSES } from '../../protocol/lifecycle.js'

const NAME = '^[A-Za-z0-9_.-](?:[A-Za-z0-9 _.-]{0,98}[A-Za-z0-9_.-])?$'
const INSTANCE_PATH = '^(/[^/]+)+$'

export const applicationName = { type: 'string', minLength: 1, maxLength: 100, pattern: NAME, description: 'letters, digits, spaces, _ . -' } as const
export const instancePath = { type: 'string', minLength: 2, maxLength: 2048, pattern: INSTANCE_PATH, description: 'e.g. /VM 1/Tomcat' } as const
const shortString = { type: 'string', minLength: 1, maxLength: 200 } as const
const stringMap = { type: 'object', additionalProperties: { type: 'string', maxLength: 4096 }, maxProperties: 200 } as const

export const errorAnswer = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } }
    }
  }
} as const

const modelError = {
  type: 'object',
  properties: {
    code: { type: 'string' }, level: { type: 'string', enum: ['SEVERE', 'WARNING'] }, file: { type: 'string' },
    line: { type: 'integer' }, message: { type: 'string' }
  }
} as const

export const templateLoaded = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' }, errors: { type: 'array', items: modelError } }
} as const

export const templatePathBody = {
  type: 'object', additionalProperties: false, required: ['path'],
  properties: { path: { type: 'string', minLength: 1, maxLength: 4096, description: 'absolute path of a template folder or zip on the DM host' } }
} as const

export const templateParams = {
  type: 'object', required: ['name', 'version'],
  properties: { name: shortString, version: shortString }
} as const

export const templateSummary = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' } }
} as const

export const applicationParams = {
  type: 'object', required: ['app'], properties: { app: applicationName }
} as const

/** An application's probe period: the DM checks its bounds (MIN_PROBE_PERIOD_MS..MAX_PROBE_PERIOD_MS) with a clear error. */
const probePeriodMs = { type: 'integer', description: 'how often its agents evaluate their probes, in milliseconds (1000 to 3600000)' } as const

export const createApplicationBody = {
  type: 'object', additionalProperties: false, required: ['name', 'template'],
  properties: {
    name: applicationName,
    template: {
      type: 'object', additionalProperties: false, required: ['name', 'version'],
      properties: { name: shortString, version: shortString }
    },
    description: { type: 'string', maxLength: 2000 },
    probePeriodMs: probePeriodMs
  }
} as const

export const updateApplicationBody = {
  type: 'object', additionalProperties: false, minProperties: 1,
  properties: {
    probePeriodMs: { anyOf: [probePeriodMs, { type: 'null', description: 'back to the DM\'s default' }] }
  }
} as const

export const applicationSummary = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    template: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } },
    description: { type: 'string' },
    createdAt: { type: 'string' },
    probePeriodMs: { type: 'integer', description: 'how often its agents evaluate their probes, in milliseconds' },
    probePeriodIsDefault: { type: 'boolean', description: 'true when probePeriodMs is the DM\'s default' }
  }
} as const

export const instanceView = {
  type: 'object',
  description: 'an instance and its children (recursive)',
  properties: {
    name: { type: 'string' }, path: { type: 'string' }, component: { type: 'string' },
    status: { type: 'string', enum: [...INSTANCE_STATUSES] },
    data: { type: 'object', additionalProperties: { type: 'string' } },
    overriddenExports: { type: 'object', additionalProperties: { type: 'string' } },
    problem: { type: 'object', description: 'the last failure its agent reported: step, plugin, exitCode, signal, durationMs, stderr, stdout (last 4 KiB), at, message', additionalProperties: true },
    missingImports: { type: 'array', items: { type: 'string' }, description: 'mandatory import prefixes with no exporter yet' },
    since: { type: 'string', description: 'ISO time of its last change of state' },
    children: { type: 'array', items: { type: 'object' } }
  }
} as const

export const addInstanceBody = {
  type: 'object', additionalProperties: false, required: ['name', 'component'],
  properties: {
    parentPath: { type: 'string', maxLength: 2048, pattern: '^(/[^/]+)*/?$' },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    component: shortString,
    overriddenExports: stringMap
  }
} as const

export const replicateBody = {
  type: 'object', additionalProperties: false, required: ['path', 'newName'],
  properties: { path: instancePath, newName: { type: 'string', minLength: 1, maxLength: 200 } }
} as const

export const instancePathQuery = {
  type: 'object', additionalProperties: false, required: ['path'], properties: { path: instancePath }
} as const

export const changeStateBody = {
  type: 'object', additionalProperties: false, required: ['path', 'state'],
  properties: { path: instancePath, state: { type: 'string', enum: ['NOT_DEPLOYED', 'DEPLOYED_STOPPED', 'DEPLOYED_STARTED'] } }
} as const

export const actionBody = {
  type: 'object', additionalProperties: false, required: ['action'],
  properties: {
    action: { type: 'string', enum: ['deploy-and-start-all', 'stop-all', 'undeploy-all'] },
    path: instancePath,
    component: shortString
  }
} as const

export const targetBody = {
  type: 'object', additionalProperties: false, required: ['id', 'handler'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' },
    // any name: the DM answers an unknown one with the handlers it has (REST_UNKNOWN_TARGET_HANDLER)
    handler: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' },
    name: { type: 'string', maxLength: 200 },
    description: { type: 'string', maxLength: 2000 },
    properties: stringMap
  }
} as const

export const targetView = {
  type: 'object',
  properties: {
    id: { type: 'string' }, handler: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' },
    properties: { type: 'object', additionalProperties: { type: 'string' } }
  }
} as const

export const targetParams = {
  type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } }
} as const

const targetScope = {
  type: 'object', required: ['kind'],
  properties: { kind: { type: 'string', enum: ['default', 'path', 'component'] }, path: { type: 'string' }, component: { type: 'string' } }
} as const

export const targetDetails = {
  type: 'object',
  properties: {
    ...targetView.properties,
    associations: { type: 'array', items: { type: 'object', properties: { application: { type: 'string' }, scope: targetScope, label: { type: 'string' } } } },
    machines: { type: 'array', items: { type: 'object', properties: { application: { type: 'string' }, path: { type: 'string' }, status: { type: 'string' } } } }
  }
} as const

export const templateDetails = {
  type: 'object',
  properties: {
    name: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' },
    components: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' }, installer: { type: 'string' }, exports: { type: 'array', items: { type: 'string' } },
          imports: { type: 'array', items: { type: 'string' } }, children: { type: 'array', items: { type: 'string' } }
        }
      }
    },
    instances: { type: 'array', items: { type: 'string' } },
    warnings: { type: 'array', items: modelError },
    applications: { type: 'array', items: { type: 'string' } }
  }
} as const

export const renameBody = {
  type: 'object', additionalProperties: false, required: ['path', 'newName'],
  properties: { path: instancePath, newName: { type: 'string', minLength: 1, maxLength: 200 } }
} as const

export const associateTargetBody = {
  type: 'object', additionalProperties: false, required: ['targetId'],
  properties: { targetId: shortString, path: instancePath, component: shortString }
} as const

/** `10m`, `2h`, `30s`, `1d`, or an ISO time. */
export const sinceParameter = { type: 'string', maxLength: 40, description: 'a duration back from now (30s, 10m, 2h, 1d) or an ISO time' } as const

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    application: applicationName,
    app: applicationName,
    path: { type: 'string', minLength: 1, maxLength: 4096 },
    since: sinceParameter,
    limit: { type: 'string', pattern: '^[0-9]{1,9}$' },
    after: { type: 'string', pattern: '^[0-9]{1,15}$' }
  }
} as const

export const instanceDescription = {
  type: 'object',
  description: 'an instance described: component, status and since, currentProblem, lastProblem, machine (path, status, target, handler, machineId, ipAddress, peerId, agentVersion, lastHeartbeat), exports, imports (held: prefix, from, component, since, variables; missing: prefixes), events (the last 10)',
  additionalProperties: true,
  properties: {
    application: { type: 'string' }, path: { type: 'string' }, component: { type: 'string' },
    status: { type: 'string', enum: [...INSTANCE_STATUSES] }, since: { type: 'string' },
    machine: { type: 'object', additionalProperties: true },
    exports: { type: 'object', additionalProperties: true },
    imports: { type: 'object', additionalProperties: true },
    events: { type: 'array', items: { type: 'object' } }
  }
} as const

export const logsQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 4096, description: 'the machine (or an instance on it)' },
    tail: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'the last n lines' },
    after: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'the lines after this seq (a cursor)' },
    instance: { type: 'string', minLength: 1, maxLength: 4096, description: 'only the lines of this instance and its subtree' }
  }
} as const

export const storedEvent = {
  type: 'object',
  description: 'an event of the history: the live event (body) with its id, kind, reason and actor',
  properties: {
    id: { type: 'integer' }, at: { type: 'string' }, application: { type: 'string' }, path: { type: 'string' },
    kind: { type: 'string' }, reason: { type: 'string' }, actor: { type: 'string', enum: ['agent', 'dm', 'rest'] },
    body: { type: 'object', additionalProperties: true }
  }
} as const
