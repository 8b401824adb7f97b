// Messages between the DM and its agents (reference §5), transport-independent.
// Carried as JSON by every messaging implementation (RabbitMQ, embedded WebSocket, in-memory).
// `v` is the wire version: a receiver rejects a message whose version it does not know.
import {
  MalformedMessageError, arrayOf, bool, describe, num, nullableStr, obj, optional, recordOf, shape, str,
  stringRecord, strings, withDefault, type Check
} from './checks.js'
import { INSTANCE_STATUSES, isInstanceStatus, type InstanceStatus } from './lifecycle.js'
import type { Component, Instance } from './model/types.js'
import type { DomainParameters, SignedBinding, SignedExternalOwnership } from './domain.js'
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
// Validation of what comes from the wire (the field checks of checks.ts). Every receiver parses before use: a
// malformed message is rejected with an error naming the faulty field, logged and counted, and never reaches the engine.

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

const status: Check<InstanceStatus> = (value, field) => {
  if (!isInstanceStatus(value)) {
    throw new MalformedMessageError(field, `expected an instance state (${INSTANCE_STATUSES.join(', ')}), got ${describe(value)}`)
  }
  return value
}

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
