// The agent's params file: what a cloud hands a VM in its user data, and `meshconf agent --params FILE` reads at
// boot (deploy/cloud-init-user-data.yaml writes it, deploy/meshconf-agent.service starts the agent). JSON:
//
// {
//   "application": "Legacy LAMP",             required: the application's name
//   "scopedInstancePath": "/Apache VM",       required: the scoped instance (machine) this agent manages
//   "stateDir": "/var/lib/meshconf/agent",    required: the agent's local state (model, states, peer key, recipes)
//   "messaging": {                            required: the DM's `agentEndpoint(application)`, one of
//     "kind": "embedded", "url": "wss://10.0.0.2:7401/agents", "token": "<agent token>"
//     | "kind": "amqp", "url": "amqp://user:password@10.0.0.2:5672", "domain": "meshconf"
//   },
//   "ipAddress": "10.0.0.5",                  optional: this machine's address (value of exported `ip` variables,
//                                             reported in heartbeats); default: the first non-loopback IPv4 address
//   "meshListenHost": "10.0.0.5",             optional: address the libp2p mesh listens on; default: ipAddress
//   "meshListenPort": 4001,                   optional: TCP port of the mesh; default 0 (any free port)
//   "meshMdns": false,                        optional: also find the application's agents on the LAN with mDNS
//                                             (multicast); default false (the DM's bootstrap list and the peers
//                                             remembered from the last run suffice)
//   "meshDebounceMs": 0,                      optional: ms the mesh gathers import changes before the instances'
//                                             `update` runs once for all of them; default 0 (every change runs
//                                             `update`, as in Roboconf), at most 60000. A window coalesces bursts
//                                             (a scale-out of many machines) at the cost of that much delay
//   "heartbeatPeriodMs": 5000,                optional: ms between two heartbeats; default 5000, at least 100
//   "recipeTimeoutMs": 300000,                optional: ms a script or puppet run may take; default 5 minutes
//   "logFile": "/var/log/meshconf-agent.log", optional: also append the log here (stderr always gets it)
//   "metricsPort": 9464,                      optional: serve Prometheus metrics at http://<metricsHost>:<port>/metrics
//                                             (0: any free port, reported to the DM); default none (no metrics)
//   "metricsHost": "10.0.0.5",                optional: address the metrics listen on; default meshListenHost
//   "logLevel": "info"                        optional: least level logged (info, warn or error); default info
// }
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { isIP } from 'node:net'
import { MalformedMessageError } from './checks.js'
import { parseAgentEndpoint, type AgentEndpoint } from './agent-endpoint.js'
import { errorMessage } from './errors.js'

/** Default period between two heartbeats, in ms. */
export const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000
/** Shortest heartbeat period accepted, in ms (a smaller one would flood the DM). */
export const MIN_HEARTBEAT_PERIOD_MS = 100
/** Longest mesh debounce window accepted, in ms: a longer one would leave instances on stale imports for minutes. */
export const MAX_MESH_DEBOUNCE_MS = 60_000

export interface AgentParams {
  application: string
  scopedInstancePath: string
  stateDir: string
  messaging: AgentEndpoint
  ipAddress: string
  meshListenHost: string
  meshListenPort: number
  /** Default false. */
  meshMdns?: boolean
  /** ms; default DEFAULT_DEBOUNCE_MS (0). */
  meshDebounceMs?: number
  heartbeatPeriodMs: number
  recipeTimeoutMs?: number
  logFile?: string
  /** TCP port of the agent's /metrics; undefined: no metrics. 0: any free port. */
  metricsPort?: number
  /** Listen address of the metrics; default meshListenHost. */
  metricsHost?: string
  /** Least level the agent logs; default info. */
  logLevel?: AgentLogLevel
}

export const AGENT_LOG_LEVELS = ['info', 'warn', 'error'] as const
export type AgentLogLevel = typeof AGENT_LOG_LEVELS[number]

/** The params file cannot be read, is not JSON, or a field is missing or wrong. */
export class InvalidAgentParamsError extends Error {
  constructor (readonly file: string, readonly field: string | undefined, problem: string) {
    super(`agent params ${file}${field === undefined ? '' : `, field "${field}"`}: ${problem} ` +
      '(see agent/params.ts or deploy/cloud-init-user-data.yaml for the expected JSON)')
    this.name = 'InvalidAgentParamsError'
  }
}

/** The first non-internal IPv4 address of this machine, else loopback. */
export function defaultIpAddress (): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address
  }
  return '127.0.0.1'
}

export function readAgentParams (file: string): AgentParams {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new InvalidAgentParamsError(file, undefined, `cannot be read (${errorMessage(err)})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidAgentParamsError(file, undefined, `not JSON (${errorMessage(err)})`)
  }
  return parseAgentParams(value, file)
}

/** Validates decoded params; `file` names the source in errors. */
export function parseAgentParams (value: unknown, file: string): AgentParams {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidAgentParamsError(file, undefined, 'expected a JSON object')
  }
  const o = value as Record<string, unknown>
  const fail = (field: string, problem: string): never => { throw new InvalidAgentParamsError(file, field, problem) }
  const text = (field: string, required: boolean): string | undefined => {
    const v = o[field]
    if (v === undefined && !required) return undefined
    if (typeof v !== 'string' || v.trim() === '') return fail(field, v === undefined ? 'missing' : 'expected a non-empty string')
    return v
  }
  const integer = (field: string, min: number, max: number): number | undefined => {
    const v = o[field]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return fail(field, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
    return v
  }
  const flag = (field: string): boolean | undefined => {
    const v = o[field]
    if (v === undefined || typeof v === 'boolean') return v
    return fail(field, `expected true or false, got ${JSON.stringify(v)}`)
  }
  const application = text('application', true) as string
  const scopedInstancePath = text('scopedInstancePath', true) as string
  if (!scopedInstancePath.startsWith('/')) fail('scopedInstancePath', `expected an instance path like "/VM 1", got ${JSON.stringify(scopedInstancePath)}`)
  const stateDir = text('stateDir', true) as string
  if (o.messaging === undefined) fail('messaging', 'missing: the endpoint the DM gives for this application')
  let messaging: AgentEndpoint
  try {
    messaging = parseAgentEndpoint(o.messaging, 'messaging')
  } catch (err) {
    const field = err instanceof MalformedMessageError ? err.field : 'messaging'
    throw new InvalidAgentParamsError(file, field, errorMessage(err).replace(/^invalid message field '[^']*': /, ''))
  }
  if (messaging.kind === 'memory') fail('messaging.kind', 'memory endpoints work only inside the DM\'s process; use embedded or amqp')
  const ipAddress = text('ipAddress', false) ?? defaultIpAddress()
  if (isIP(ipAddress) === 0) fail('ipAddress', `expected an IPv4 or IPv6 address, got ${JSON.stringify(ipAddress)}`)
  const meshListenHost = text('meshListenHost', false) ?? ipAddress
  if (isIP(meshListenHost) === 0) fail('meshListenHost', `expected an IPv4 or IPv6 address, got ${JSON.stringify(meshListenHost)}`)
  const logLevel = text('logLevel', false)
  if (logLevel !== undefined && !(AGENT_LOG_LEVELS as readonly string[]).includes(logLevel)) {
    fail('logLevel', `expected one of ${AGENT_LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`)
  }
  const metricsHost = text('metricsHost', false)
  if (metricsHost !== undefined && isIP(metricsHost) === 0) fail('metricsHost', `expected an IPv4 or IPv6 address, got ${JSON.stringify(metricsHost)}`)
  return {
    application,
    scopedInstancePath,
    stateDir,
    messaging,
    ipAddress,
    meshListenHost,
    meshListenPort: integer('meshListenPort', 0, 65_535) ?? 0,
    meshMdns: flag('meshMdns'),
    meshDebounceMs: integer('meshDebounceMs', 0, MAX_MESH_DEBOUNCE_MS),
    heartbeatPeriodMs: integer('heartbeatPeriodMs', MIN_HEARTBEAT_PERIOD_MS, 24 * 3_600_000) ?? DEFAULT_HEARTBEAT_PERIOD_MS,
    recipeTimeoutMs: integer('recipeTimeoutMs', 1, 24 * 3_600_000),
    logFile: text('logFile', false),
    metricsPort: integer('metricsPort', 0, 65_535),
    ...(metricsHost === undefined ? {} : { metricsHost }),
    ...(logLevel === undefined ? {} : { logLevel: logLevel as AgentLogLevel })
  }
}

/** The mesh's listen multiaddr for these params. */
export function meshListenAddress (params: Pick<AgentParams, 'meshListenHost' | 'meshListenPort'>): string {
  return `/${isIP(params.meshListenHost) === 6 ? 'ip6' : 'ip4'}/${params.meshListenHost}/tcp/${params.meshListenPort}`
}
