// Messages between the DM and its agents (reference §5), transport-independent.
// Carried as JSON by every messaging implementation (RabbitMQ, embedded WebSocket, in-memory).
// `v` is the wire version: a receiver rejects a message whose version it does not know.
import { createHash, createHmac } from 'node:crypto'
import { INSTANCE_STATUSES, isInstanceStatus, type InstanceStatus } from './lifecycle.js'
import type { Component, Instance } from './model/types.js'
import type { DomainParameters, SignedBinding, SignedExternalOwnership } from './domain.js'
import { errorMessage } from './errors.js'
import type { InstanceProblem } from './problem.js'

export const DM_MESSAGE_VERSION = 1
type Version = typeof DM_MESSAGE_VERSION

/** What an agent imports from one exporting instance (reference §4.4). */
export interface Import {
  /** Path of the exporting instance, e.g. `/Tomcat VM 1/Tomcat`. */
  instancePath: string
  /** Component of the exporting instance. */
  component: string
  /** Fully prefixed variable -> value (only the variables the importer imports). */
  variables: Record<string, string | null>
}

export { PROBLEM_OUTPUT_TAIL_BYTES, type InstanceProblem } from './problem.js'

/** Most bytes of log lines one `logs` answer carries (a reader asks again from its last line for more). */
export const LOGS_ANSWER_MAX_BYTES = 256 * 1024

/** A line of an agent's log, as `meshconf logs` shows it. */
export interface AgentLogLine {
  seq: number
  /** ISO time. */
  at: string
  level: string
  message: string
  /** The instance the line is about, and the step whose recipe printed it. */
  instance?: string
  step?: string
}

/** An import an instance holds: from which exporting instance, since when (ISO time). */
export interface HeldImport {
  prefix: string
  instancePath: string
  since: string
}

/** What an agent reports with a state besides the imports: the last failure, what the instance waits for. */
export interface InstanceReport {
  failure?: InstanceProblem
  /** Mandatory import prefixes with no exporter yet (why an instance is UNRESOLVED). */
  missingImports?: string[]
  heldImports?: HeldImport[]
}

/** The DM's signature that a libp2p peer owns a scoped instance of an application (checked by importers). */
export interface SignedOwnership {
  peerId: string
  application: string
  scopedInstancePath: string
  /** base64 Ed25519 public key of the DM that signed. */
  dmPublicKey: string
  /**
   * The generation of the machine holding the scoped instance (it grows each time the DM makes the machine again):
   * importers refuse an ownership of an older generation than one they have seen for that scope. Absent in
   * ownerships signed before generations existed (generation 0).
   */
  generation?: number
  /**
   * When the ownership stops being valid, in ms since the epoch (the DM's clock): the DM renews it while the agent
   * beats (renewOwnership), and importers refuse an expired one (a machine gone, or cut off from its DM, stops
   * being believed). Absent only in ownerships signed before expiry existed: importers refuse those.
   */
  expiresAt?: number
  /** base64 signature over the canonical encoding of the fields above (protocol/mesh.ts canonicalOwnership). */
  signature: string
}

/** Everything an agent needs to manage its scoped instance, without the DM afterwards. */
export interface ScopedModel {
  application: string
  scopedInstancePath: string
  /** The application's components (the whole graph: it is small, and imports name other components). */
  components: Record<string, Component>
  /** The scoped instance and its subtree, nested scoped instances removed, with their states. */
  instance: Instance
  /** `Component.variable` -> alias for inter-application exports, and their prefix. */
  externalExports: Record<string, string>
  externalExportsPrefix?: string
  /** How often the agent evaluates its probes (probes/<Component>.measures), in milliseconds; default 5 000, at least 1 000. */
  probePeriodMs?: number
}

/** Mesh parameters the DM hands over with the model. */
export interface MeshParameters {
  /** Multiaddrs (with /p2p/<peerId>) of the application's running agents. */
  bootstrapPeers: string[]
  /** libp2p pnet key of the application (`/key/swarm/psk/1.0.0/` format). */
  pnetKey: string
  ownership: SignedOwnership
  /** base64 public keys of the DMs whose ownership signatures are trusted. */
  trustedDmKeys: string[]
  /** The domain exchange (protocol/domain.ts), for an agent whose instances export or import externally. */
  domain?: DomainParameters
}

/** Recipe files of a component: path relative to the recipe folder -> base64 content. */
export type RecipeFiles = Record<string, string>

export type DmToAgentMessage =
  | { v: Version, kind: 'setScopedInstance', model: ScopedModel, mesh: MeshParameters, recipes: Record<string, RecipeFiles> }
  | { v: Version, kind: 'changeState', instancePath: string, newState: InstanceStatus, recipes?: Record<string, RecipeFiles> }
  | { v: Version, kind: 'addInstance', parentPath: string, instance: Instance, recipes?: Record<string, RecipeFiles> }
  | { v: Version, kind: 'removeInstance', instancePath: string }
  | { v: Version, kind: 'resendStates' }
  | { v: Version, kind: 'resynchronize' }
  /**
   * The application's binding of an external prefix changed (Roboconf's MsgCmdChangeBinding), with domain addresses
   * of the bound exporters' agents to dial.
   */
  | { v: Version, kind: 'changeBinding', binding: SignedBinding, bootstrapPeers: string[] }
  /**
   * Domain addresses of agents this one exchanges external exports with, which appeared after its model left (the
   * exporter's or importer's machine came up later): it dials them. Addresses only: peers still prove who they are.
   */
  | { v: Version, kind: 'domainPeers', bootstrapPeers: string[] }
  /**
   * Multiaddrs of agents of its application whose mesh listens, for an agent whose model carried no bootstrap peer (it
   * came up first, or while the others' meshes were still starting): it dials them and keeps them for a restart.
   */
  | { v: Version, kind: 'meshPeers', bootstrapPeers: string[] }
  /**
   * The agent's ownership, renewed (a later expiry), with its external ownership when its instances export to other
   * applications (the domain exchange's, renewed alike).
   */
  | { v: Version, kind: 'renewOwnership', ownership: SignedOwnership, externalOwnership?: SignedExternalOwnership }
  /** The application's probe period changed (`meshconf app set --probe-period`): the agent's next round uses it. */
  | { v: Version, kind: 'setProbePeriod', probePeriodMs: number }
  /** Asks for the agent's recent log (`meshconf logs`): the lines after `afterSeq`, the last `tail`, of one instance. */
  | { v: Version, kind: 'getLogs', requestId: string, afterSeq?: number, tail?: number, instance?: string }

export type AgentToDmMessage =
  | { v: Version, kind: 'heartbeat', application: string, scopedInstancePath: string, ipAddress: string,
    modelRequired: boolean, peerId?: string, listenAddresses?: string[], agentVersion?: string,
    /** `host:port` of the agent's Prometheus metrics, when its params enable them. */
    metricsAddress?: string,
    /** Multiaddrs of the agent's domain exchange node, when it takes part in it. */
    domainAddresses?: string[] }
  | { v: Version, kind: 'instanceChanged', application: string, instancePath: string, status: InstanceStatus,
    imports: Record<string, Import[]>, problem?: string } & InstanceReport
  | { v: Version, kind: 'instanceRemoved', application: string, instancePath: string }
  | { v: Version, kind: 'machineDown', application: string, scopedInstancePath: string }
  /** The answer to getLogs: lines oldest first, and the sequence number of the agent's last line (a cursor). */
  | { v: Version, kind: 'logs', application: string, scopedInstancePath: string, requestId: string, lines: AgentLogLine[], lastSeq: number }
  /**
   * A probe matched (reference §6.4, MsgNotifAutonomic): `eventName` for `instancePath`, measured at `measuredAt`
   * (agent's clock, ISO) and sent `ageMs` later (held while the DM was away); `value` is the measure, when a number.
   */
  | { v: Version, kind: 'autonomic', application: string, scopedInstancePath: string, instancePath: string, eventName: string,
    measuredAt: string, ageMs: number, value?: number }

/** A message without its version: what a sender writes; the constructors below add the version. */
type Unversioned<M> = M extends unknown ? Omit<M, 'v'> : never

/** A DM -> agent message of this build's version. */
export function toAgent<B extends Unversioned<DmToAgentMessage>> (body: B): B & { v: Version } {
  return { v: DM_MESSAGE_VERSION, ...body }
}

/** An agent -> DM message of this build's version. */
export function toDm<B extends Unversioned<AgentToDmMessage>> (body: B): B & { v: Version } {
  return { v: DM_MESSAGE_VERSION, ...body }
}

// ---------------------------------------------------------------------------------------------------------------
// Where an agent connects, handed over in its params file (agent/params.ts).

export type AgentEndpoint =
  /**
   * RabbitMQ: `url` like `amqp://user:password@host:5672` (`amqps://` for TLS); `domain` is the first word of every
   * name; `ownUser`: the URL's user is this machine's own (the DM declared its queue; the agent declares nothing,
   * reads only its queue and publishes with its own routing key and user id); `messageKey`: without a user of its
   * own, the key it signs its messages to the DM with (AGENT_SIGNATURE_HEADERS), and its generation; `ca`, with
   * `amqps://`, the authority (PEM) the broker's certificate must chain to (without it, the system's authorities);
   * `dmKey`, the DM's Ed25519 public key (base64): when given, the agent handles only commands the DM signed
   * (DM_COMMAND_HEADERS), and drops a copy of one it handled already.
   */
  | { kind: 'amqp', url: string, domain: string, ownUser?: boolean, messageKey?: { generation: number, key: string }, ca?: string, dmKey?: string }
  /**
   * The DM's embedded WebSocket endpoint, `wss://host:7401/agents` (`ws://` for a DM started --insecure); `token` is
   * the machine's credential (or the DM token); `dmKey`, the DM's Ed25519 public key (base64): when given, the agent
   * handles only commands it signed; `ca`, the DM's certificate authority (PEM): when given, the agent accepts no
   * server certificate it did not sign (without it, `wss://` trusts the system's authorities).
   */
  | { kind: 'embedded', url: string, token: string, dmKey?: string, ca?: string }
  /** In-process (tests): the id of a manager/messaging/memory.ts hub. */
  | { kind: 'memory', hub: string }

// ---------------------------------------------------------------------------------------------------------------
// Validation of what comes from the wire. Every receiver parses before use: a malformed message is rejected with
// an error naming the faulty field, logged and counted, and never reaches the engine.

/** The input is not JSON, or a field is missing or has the wrong type. */
export class MalformedMessageError extends Error {
  /** The faulty field, e.g. `model.instance.children[0].name`; '' for the whole message. */
  readonly field: string
  constructor (field: string, problem: string) {
    super(`invalid message${field === '' ? '' : ` field '${field}'`}: ${problem}`)
    this.name = 'MalformedMessageError'
    this.field = field
  }
}

/** The message's `v` is not a version this build speaks (sender and receiver from different releases). */
export class UnsupportedMessageVersionError extends Error {
  readonly version: unknown
  constructor (version: unknown) {
    super(`unsupported message version ${JSON.stringify(version)}: this build speaks version ${DM_MESSAGE_VERSION}; ` +
      'upgrade the DM and the agents to the same meshconf release')
    this.name = 'UnsupportedMessageVersionError'
    this.version = version
  }
}

/** The message's `kind` is not one this direction carries. */
export class UnknownMessageKindError extends Error {
  readonly kind: unknown
  constructor (kind: unknown, known: readonly string[]) {
    super(`unknown message kind ${JSON.stringify(kind)}; expected one of ${known.join(', ')}`)
    this.name = 'UnknownMessageKindError'
    this.kind = kind
  }
}

/** Decodes wire bytes (UTF-8 JSON) into a value to parse; throws MalformedMessageError on bad JSON. */
export function decodeJson (raw: string | Uint8Array): unknown {
  const text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: false }).decode(raw)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new MalformedMessageError('', `not JSON (${errorMessage(err)}); starts with ${JSON.stringify(text.slice(0, 40))}`)
  }
}

type Check<T> = (value: unknown, field: string) => T

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60)
}

function join (field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`
}

const str: Check<string> = (value, field) => {
  if (typeof value !== 'string') throw new MalformedMessageError(field, `expected a string, got ${describe(value)}`)
  return value
}

const num: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new MalformedMessageError(field, `expected a number, got ${describe(value)}`)
  return value
}

const bool: Check<boolean> = (value, field) => {
  if (typeof value !== 'boolean') throw new MalformedMessageError(field, `expected a boolean, got ${describe(value)}`)
  return value
}

const nullableStr: Check<string | null> = (value, field) => value === null ? null : str(value, field)

const status: Check<InstanceStatus> = (value, field) => {
  if (!isInstanceStatus(value)) {
    throw new MalformedMessageError(field, `expected an instance state (${INSTANCE_STATUSES.join(', ')}), got ${describe(value)}`)
  }
  return value
}

function obj (value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedMessageError(field, `expected an object, got ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

function arrayOf<T> (check: Check<T>): Check<T[]> {
  return (value, field) => {
    if (!Array.isArray(value)) throw new MalformedMessageError(field, `expected an array, got ${describe(value)}`)
    return value.map((item, i) => check(item, `${field}[${i}]`))
  }
}

function recordOf<T> (check: Check<T>): Check<Record<string, T>> {
  return (value, field) => {
    const o = obj(value, field)
    for (const [key, item] of Object.entries(o)) check(item, join(field, key))
    return o as Record<string, T>
  }
}

function optional<T> (check: Check<T>): Check<T | undefined> {
  return (value, field) => value === undefined ? undefined : check(value, field)
}

/** An optional field on the wire that is filled in with `fallback` when absent, so that it is required once parsed. */
function withDefault<T> (check: Check<T>, fallback: T): Check<T> {
  return (value, field) => value === undefined ? fallback : check(value, field)
}

/** Checks the listed fields of an object and returns it typed (unknown extra fields are kept: newer senders). */
function shape<T> (fields: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  return (value, field) => {
    const o = obj(value, field)
    for (const [key, check] of Object.entries(fields) as Array<[string, Check<unknown>]>) {
      const checked = check(o[key], join(field, key))
      if (o[key] === undefined && checked !== undefined) o[key] = checked
    }
    return o as T
  }
}

/** For fields already checked by the caller, or checked later (frame bodies). */
const anything: Check<unknown> = value => value

const strings = arrayOf(str)
const stringRecord = recordOf(str)

const importedVariable = shape<Component['imports'][number]>({ name: str, optional: bool, external: bool })

const component = shape<Component>({
  name: str,
  installer: str,
  exports: recordOf(nullableStr),
  randomExports: strings,
  imports: arrayOf(importedVariable),
  facets: strings,
  extendsChain: strings,
  children: strings,
  recipeDirectory: optional(str)
})

const instance: Check<Instance> = (value, field) => shape<Instance>({
  name: str,
  component: str,
  path: str,
  overriddenExports: stringRecord,
  data: stringRecord,
  channels: strings,
  status: withDefault(status, 'NOT_DEPLOYED'),
  children: arrayOf(instance)
})(value, field)

const scopedModel = shape<ScopedModel>({
  application: str,
  scopedInstancePath: str,
  components: recordOf(component),
  instance,
  externalExports: stringRecord,
  externalExportsPrefix: optional(str),
  probePeriodMs: optional(num)
})

const ownershipGeneration: Check<number | undefined> = optional((value, field) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedMessageError(field, `expected a machine generation (a non-negative integer), got ${describe(value)}`)
  }
  return value
})

const ownershipExpiry: Check<number | undefined> = optional((value, field) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedMessageError(field, `expected an expiry time (ms since the epoch), got ${describe(value)}`)
  }
  return value
})

const signedOwnership = shape<SignedOwnership>({
  peerId: str, application: str, scopedInstancePath: str, dmPublicKey: str, generation: ownershipGeneration, expiresAt: ownershipExpiry, signature: str
})

const signedBinding = shape<SignedBinding>({ application: str, prefix: str, exporters: strings, version: num, dmPublicKey: str, signature: str })

const signedExternalOwnership = shape<SignedExternalOwnership>({
  peerId: str, application: str, prefix: str, scopedInstancePath: str, generation: num, expiresAt: ownershipExpiry, dmPublicKey: str, signature: str
})

const domainParameters = shape<DomainParameters>({
  pnetKey: str,
  bootstrapPeers: strings,
  ownership: optional(signedExternalOwnership),
  bindings: arrayOf(signedBinding)
})

const meshParameters = shape<MeshParameters>({
  bootstrapPeers: strings,
  pnetKey: str,
  ownership: signedOwnership,
  trustedDmKeys: strings,
  domain: optional(domainParameters)
})

const recipes = recordOf<RecipeFiles>(stringRecord)

const importEntry = shape<Import>({ instancePath: str, component: str, variables: recordOf(nullableStr) })


const instanceProblem = shape<InstanceProblem>({
  step: str,
  plugin: optional(str),
  exitCode: optional(num),
  signal: optional(str),
  timedOut: optional(bool),
  durationMs: optional(num),
  stderr: optional(str),
  stdout: optional(str),
  at: str,
  message: str
})

const heldImport = shape<HeldImport>({ prefix: str, instancePath: str, since: str })

type Shapes<M extends { kind: string }> = { [K in M['kind']]: { [F in keyof Omit<Extract<M, { kind: K }>, 'v' | 'kind'>]-?: Check<Extract<M, { kind: K }>[F]> } }

const DM_TO_AGENT: Shapes<DmToAgentMessage> = {
  setScopedInstance: { model: scopedModel, mesh: meshParameters, recipes },
  changeState: { instancePath: str, newState: status, recipes: optional(recipes) },
  addInstance: { parentPath: str, instance, recipes: optional(recipes) },
  removeInstance: { instancePath: str },
  resendStates: {},
  resynchronize: {},
  changeBinding: { binding: signedBinding, bootstrapPeers: strings },
  domainPeers: { bootstrapPeers: strings },
  meshPeers: { bootstrapPeers: strings },
  renewOwnership: { ownership: signedOwnership, externalOwnership: optional(signedExternalOwnership) },
  setProbePeriod: { probePeriodMs: num },
  getLogs: { requestId: str, afterSeq: optional(num), tail: optional(num), instance: optional(str) }
}

const AGENT_TO_DM: Shapes<AgentToDmMessage> = {
  heartbeat: {
    application: str,
    scopedInstancePath: str,
    ipAddress: str,
    modelRequired: bool,
    peerId: optional(str),
    listenAddresses: optional(strings),
    agentVersion: optional(str),
    metricsAddress: optional(str),
    domainAddresses: optional(strings)
  },
  instanceChanged: {
    application: str,
    instancePath: str,
    status,
    imports: recordOf(arrayOf(importEntry)),
    problem: optional(str),
    failure: optional(instanceProblem),
    missingImports: optional(strings),
    heldImports: optional(arrayOf(heldImport))
  },
  instanceRemoved: { application: str, instancePath: str },
  machineDown: { application: str, scopedInstancePath: str },
  logs: {
    application: str,
    scopedInstancePath: str,
    requestId: str,
    lines: arrayOf(shape<AgentLogLine>({ seq: num, at: str, level: str, message: str, instance: optional(str), step: optional(str) })),
    lastSeq: num
  },
  autonomic: { application: str, scopedInstancePath: str, instancePath: str, eventName: str, measuredAt: str, ageMs: num, value: optional(num) }
}

function parseMessage<M> (value: unknown, shapes: Record<string, Record<string, Check<unknown>>>): M {
  const o = obj(value, '')
  if (o.v !== DM_MESSAGE_VERSION) throw new UnsupportedMessageVersionError(o.v)
  const kind = o.kind
  const fields = typeof kind === 'string' && Object.hasOwn(shapes, kind) ? shapes[kind] : undefined
  if (fields === undefined) throw new UnknownMessageKindError(kind, Object.keys(shapes))
  return shape<M>(fields as never)(o, '')
}

/** Validates a message the DM sent (already JSON-decoded); throws one of the three errors above. */
export function parseDmToAgentMessage (value: unknown): DmToAgentMessage {
  return parseMessage<DmToAgentMessage>(value, DM_TO_AGENT as never)
}

/** Validates a message an agent sent (already JSON-decoded); throws one of the three errors above. */
export function parseAgentToDmMessage (value: unknown): AgentToDmMessage {
  return parseMessage<AgentToDmMessage>(value, AGENT_TO_DM as never)
}

/** Validates an agent endpoint (params file); `field` names where it was read, for the error. */
export function parseAgentEndpoint (value: unknown, field = 'endpoint'): AgentEndpoint {
  const o = obj(value, field)
  switch (o.kind) {
    case 'amqp': return shape<Extract<AgentEndpoint, { kind: 'amqp' }>>({ kind: anything as Check<'amqp'>, url: str, domain: str, ownUser: optional(bool), messageKey: optional(shape<{ generation: number, key: string }>({ generation: num, key: str })), ca: optional(str), dmKey: optional(str) })(o, field)
    case 'embedded': return shape<Extract<AgentEndpoint, { kind: 'embedded' }>>({ kind: anything as Check<'embedded'>, url: str, token: str, dmKey: optional(str), ca: optional(str) })(o, field)
    case 'memory': return shape<Extract<AgentEndpoint, { kind: 'memory' }>>({ kind: anything as Check<'memory'>, hub: str })(o, field)
    default: throw new MalformedMessageError(join(field, 'kind'), `expected 'amqp', 'embedded' or 'memory', got ${describe(o.kind)}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// RabbitMQ names. DM -> agent: topic exchange `<domain>.<application>.agents`, routing key `machine.<path>`, one
// durable queue per scoped instance `<domain>.<application>.<path>`. Agent -> DM: topic exchange `<domain>.dm`,
// routing key `<application>`, consumed by the DM through the durable queue `<domain>.dm`.

export const DEFAULT_MESSAGING_DOMAIN = 'meshconf'

/** Longest escaped word kept as is (characters); longer ones are shortened with a hash (AMQP names <= 255 bytes). */
const MAX_ROUTING_WORD_CHARS = 100

/**
 * Turns an application name or instance path into one topic word: only [A-Za-z0-9_%-] remain, so `.` (word
 * separator), `*` and `#` (wildcards) never appear, and distinct inputs give distinct words.
 */
export function routingWord (text: string): string {
  const escaped = encodeURIComponent(text).replace(/[.!~*'()]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  if (escaped.length <= MAX_ROUTING_WORD_CHARS) return escaped
  return `${escaped.slice(0, 60)}~${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
}

export function agentsExchangeName (domain: string, application: string): string {
  return `${domain}.${routingWord(application)}.agents`
}

export function agentRoutingKey (scopedInstancePath: string): string {
  return `machine.${routingWord(scopedInstancePath)}`
}

export function agentQueueName (domain: string, application: string, scopedInstancePath: string): string {
  return `${domain}.${routingWord(application)}.${routingWord(scopedInstancePath)}`
}

export function dmExchangeName (domain: string): string {
  return `${domain}.dm`
}

export function dmRoutingKey (application: string): string {
  return routingWord(application)
}

/**
 * The routing key an agent publishes to the DM with: its application's key, then its machine's word. With one broker
 * user per machine, the broker lets each publish with its own only (topic permissions).
 */
export function machineDmRoutingKey (application: string, scopedInstancePath: string): string {
  return `${dmRoutingKey(application)}.${routingWord(scopedInstancePath)}`
}

/**
 * Headers of an agent's message to the DM signed with its machine's message key (RabbitMQ without per-machine
 * users): the machine's path, its generation, the signature of the body.
 */
export const AGENT_SIGNATURE_HEADERS = { path: 'x-meshconf-machine', generation: 'x-meshconf-generation', signature: 'x-meshconf-signature' } as const

/**
 * Headers of a DM command over RabbitMQ: its sequence number (unique per DM, across its restarts: microseconds since
 * the epoch at the latest) and the DM's Ed25519 signature over (application, machine, seq, body)
 * (protocol/mesh.ts signDmCommand), which the agent checks with the `dmKey` of its params.
 */
export const DM_COMMAND_HEADERS = { seq: 'x-meshconf-seq', signature: 'x-meshconf-dm-signature' } as const

/** A machine's signature of a message body (HMAC-SHA256 with its message key, base64url). */
export function signAgentMessage (key: string, content: Uint8Array): string {
  return createHmac('sha256', key).update(content).digest('base64url')
}

/**
 * The broker user of a machine (one per machine when the DM reaches RabbitMQ's management API): the domain, the
 * application and the path, URI-escaped and joined by `/`, so that the DM reads back whose a message is.
 */
export function machineBrokerUser (domain: string, application: string, scopedInstancePath: string): string {
  return `${domain}/${encodeURIComponent(application)}/${encodeURIComponent(scopedInstancePath)}`
}

/** The application and scoped instance of a machine's broker user of `domain`, or undefined for any other user. */
export function machineOfBrokerUser (domain: string, user: string): { application: string, scopedInstancePath: string } | undefined {
  const parts = user.split('/')
  if (parts.length !== 3 || parts[0] !== domain) return undefined
  try {
    return { application: decodeURIComponent(parts[1]), scopedInstancePath: decodeURIComponent(parts[2]) }
  } catch {
    return undefined
  }
}

export function dmQueueName (domain: string): string {
  return `${domain}.dm`
}

// ---------------------------------------------------------------------------------------------------------------
// Frames of the embedded WebSocket transport (manager/messaging/embedded.ts <-> agent/link/websocket.ts).
// Every message carries a sequence number and stays in the sender's outbox until acknowledged, so a dropped
// connection loses nothing; `epoch` identifies the sender's process so the receiver drops replays it handled.

/** Agent -> DM. `hello` must be the first frame; the DM answers `welcome` or closes with a 44xx code. */
export type AgentFrame =
  | { t: 'hello', v: Version, application: string, scopedInstancePath: string, token: string, epoch: string }
  | { t: 'msg', seq: number, body: unknown }
  | { t: 'ack', seq: number }

/** DM -> agent. `sig`: the DM's signature of the command (protocol/mesh.ts signDmCommand), when it has a key. */
export type DmFrame =
  | { t: 'welcome', epoch: string }
  | { t: 'msg', seq: number, body: unknown, sig?: string }
  | { t: 'ack', seq: number }

/** WebSocket close codes the embedded endpoint uses. */
export const EMBEDDED_CLOSE_CODES = {
  /** The first frame was not a valid hello. */
  badHello: 4400,
  /** The token is not valid for this application. */
  unauthorized: 4401,
  /** Another connection took over this scoped instance. */
  replaced: 4409
} as const

const seq: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedMessageError(field, `expected a sequence number, got ${describe(value)}`)
  }
  return value
}

function parseFrame<F> (value: unknown, shapes: Record<string, Record<string, Check<unknown>>>): F {
  const o = obj(value, '')
  const fields = typeof o.t === 'string' && Object.hasOwn(shapes, o.t) ? shapes[o.t] : undefined
  if (fields === undefined) throw new MalformedMessageError('t', `unknown frame type ${describe(o.t)}; expected one of ${Object.keys(shapes).join(', ')}`)
  return shape<F>(fields as never)(o, '')
}

const AGENT_FRAMES = {
  hello: { v: anything, application: str, scopedInstancePath: str, token: str, epoch: str },
  msg: { seq, body: anything },
  ack: { seq }
}

const DM_FRAMES = {
  welcome: { epoch: str },
  msg: { seq, body: anything, sig: optional(str) },
  ack: { seq }
}

/** Parses a frame an agent sent to the embedded endpoint; the body of `msg` is parsed separately. */
export function parseAgentFrame (raw: string | Uint8Array): AgentFrame {
  const frame = parseFrame<AgentFrame>(decodeJson(raw), AGENT_FRAMES)
  if (frame.t === 'hello' && frame.v !== DM_MESSAGE_VERSION) throw new UnsupportedMessageVersionError(frame.v)
  return frame
}

/** Parses a frame the embedded endpoint sent to an agent; the body of `msg` is parsed separately. */
export function parseDmFrame (raw: string | Uint8Array): DmFrame {
  return parseFrame<DmFrame>(decodeJson(raw), DM_FRAMES)
}
