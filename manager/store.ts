// The DM's database: templates, applications (instances with their states, machine ids, IP addresses, imports),
// bindings, targets and their associations, agents' last heartbeats and the messages waiting for an agent.
// One SQLite file (better-sqlite3, synchronous): every change is committed before the DM acts on it, so a DM
// killed at any point restarts from what it last did (Roboconf lost instances and states there: reference §8.3).
// Here: what the store holds and its interface; its parts, one per concern, are in manager/store/ (the tables and
// their migrations in schema.ts).
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { DmToAgentMessage, HeldImport, Import, InstanceProblem } from '../protocol/messages.js'
import type { ApplicationTemplate, Instance, ModelError, TargetDefinition } from '../protocol/model/types.js'
import type { StoredEvent, TargetScope, TemplateSummary } from './dto.js'
import { createAutonomyStore, type AutonomyStore } from './autonomy/store.js'
import type { MachineCredentialRecord } from './messaging/credentials.js'
import { agentStore } from './store/agents.js'
import { bindingStore } from './store/bindings.js'
import { eventStore } from './store/events.js'
import { applicationStore, instanceStore, type InstanceOutline } from './store/instances.js'
import { openDatabase } from './store/schema.js'
import { storeDb } from './store/statements.js'
import { targetStore } from './store/targets.js'
import { templateStore } from './store/templates.js'

export { STORE_SCHEMA_VERSION, StoreTooNewError } from './store/schema.js'

export type { StoredEvent, TemplateSummary } from './dto.js'

export interface StoredTemplate extends TemplateSummary {
  template: ApplicationTemplate
  /** Warnings found when it was loaded. */
  errors: ModelError[]
}

export interface ApplicationRecord {
  name: string
  template: { name: string, version: string }
  description?: string
  createdAt: string
  /** The application's libp2p private-network key, made once at creation. */
  pnetKey: string
  /** How often its agents evaluate their probes, in milliseconds; undefined: the DM's default. */
  probePeriodMs?: number
}

/** An instance with what only the DM keeps: the imports its agent last reported. */
export interface StoredInstance extends Instance {
  imports: Record<string, Import[]>
  /** The last failure its agent reported (kept after the instance recovers: `describe` shows it with its time). */
  problem?: InstanceProblem
  /** Mandatory import prefixes with no exporter, as its agent last reported. */
  missingImports?: string[]
  /** Imports held, from which instance, since when, as its agent last reported. */
  heldImports?: HeldImport[]
  /** ISO time of the last change of its state (unknown for states stored before schema version 2). */
  statusSince?: string
  children: StoredInstance[]
}

export interface AgentRecord {
  application: string
  scopedInstancePath: string
  peerId?: string
  listenAddresses: string[]
  /** ISO date of the last heartbeat. */
  lastHeartbeatAt: string
  /** The agent's meshconf version, when its heartbeat says it. */
  agentVersion?: string
  /** `host:port` of the agent's metrics, when it serves them. */
  metricsAddress?: string
  /** Multiaddrs of its domain exchange node (inter-application imports), when it takes part in it. */
  domainAddresses?: string[]
}

export interface EventQuery {
  application?: string
  /** The events of this instance and its subtree. */
  path?: string
  /** With `path`: the events of that instance only. */
  exactPath?: boolean
  /** Only events after this id (a cursor). */
  afterId?: number
  /** Only events at or after this time (ms since the epoch). */
  sinceMs?: number
  /** At most this many, the most recent ones (default all). */
  limit?: number
}

export interface PendingMessage {
  id: number
  message: DmToAgentMessage
}

export type { TargetScope } from './dto.js'
export type { InstanceOutline } from './store/instances.js'

export interface TargetAssociation {
  scope: TargetScope
  targetId: string
}

export interface StoreOptions {
  /** The SQLite file; created with its tables when missing. `:memory:` for a throw-away store. */
  file: string
}

/** One instance without its subtree (its `children` are not read): for a state, data or component. */
export type StoredInstanceNode = Omit<StoredInstance, 'children'>

/** The DM's persistent state. Every call is synchronous and committed when it returns (or with its transaction). */
export interface Store {
  putTemplate (template: ApplicationTemplate, errors: ModelError[]): TemplateSummary
  hasTemplate (name: string, version: string): boolean
  getTemplate (name: string, version: string): StoredTemplate | undefined
  listTemplates (): TemplateSummary[]
  deleteTemplate (name: string, version: string): boolean
  applicationsUsingTemplate (name: string, version: string): string[]

  createApplication (record: ApplicationRecord, rootInstances: Instance[]): void
  getApplication (name: string): ApplicationRecord | undefined
  listApplications (): ApplicationRecord[]
  deleteApplication (name: string): boolean
  /** Sets (or, undefined, clears) the application's probe period; false when there is no such application. */
  setProbePeriod (name: string, probePeriodMs: number | undefined): boolean

  /** The application's instance trees, roots in creation order. */
  instanceTrees (application: string): StoredInstance[]
  /** One instance with its whole subtree. */
  getInstance (application: string, path: string): StoredInstance | undefined
  /** One instance without its subtree: one row, where the subtree is not needed. */
  instanceAt (application: string, path: string): StoredInstanceNode | undefined
  /** The components of an instance and of its whole subtree, in creation order, each once. */
  subtreeComponents (application: string, path: string): string[]
  /**
   * The application's instances as (path, parent path, component) only, parents first: what the mesh roles of its
   * machines need, without decoding every instance's data and imports.
   */
  instanceOutline (application: string): InstanceOutline
  /** Adds an instance subtree under `parentPath` (null: a root instance). */
  addInstance (application: string, parentPath: string | null, instance: Instance): void
  deleteInstance (application: string, path: string): boolean
  /**
   * Renames an instance: its path and its subtree's paths change, and a target associated with its path follows
   * it. The caller checks that the new name is free and the subtree NOT_DEPLOYED. Returns the new path.
   */
  renameInstance (application: string, path: string, newName: string): string
  statusOf (application: string, path: string): InstanceStatus | undefined
  setStatus (application: string, path: string, status: InstanceStatus): boolean
  /** Merges `patch` into the instance's data; a null value removes the key. */
  updateData (application: string, path: string, patch: Record<string, string | null>): void
  setImports (application: string, path: string, imports: Record<string, Import[]>): void
  setOverriddenExports (application: string, path: string, overrides: Record<string, string>): void
  /** The last failure reported for an instance (null forgets it). */
  setProblem (application: string, path: string, problem: InstanceProblem | null): void
  /**
   * What an instance imports, misses and holds, as its agent last reported (undefined: the agent did not say): one
   * write for the three, which every agent's state change carries.
   */
  setAgentReport (application: string, path: string, report: { imports: Record<string, Import[]>, missingImports?: string[], heldImports?: HeldImport[] }): void

  /** Inter-application exports: prefix -> applications whose exports this one imports. */
  bind (application: string, prefix: string, boundApplication: string): void
  unbind (application: string, prefix: string, boundApplication: string): void
  bindings (application: string): Record<string, string[]>
  /** Replaces the applications `application` imports `prefix` from (bind-x). */
  replaceBindings (application: string, prefix: string, boundApplications: readonly string[]): void
  /** Forgets every binding to `boundApplication` (it is deleted); returns the (application, prefix) pairs it changed. */
  unbindEverywhere (boundApplication: string): Array<{ application: string, prefix: string }>
  /** The version of the binding of (application, prefix), grown by one: every change is signed with a new one. */
  nextBindingVersion (application: string, prefix: string): number
  /** The current version of the binding of (application, prefix); 0 before any change. */
  bindingVersion (application: string, prefix: string): number

  putTarget (target: TargetDefinition): void
  getTarget (id: string): TargetDefinition | undefined
  listTargets (): TargetDefinition[]
  associateTarget (application: string, scope: TargetScope, targetId: string): void
  targetAssociations (application: string): TargetAssociation[]
  /** Deletes a target (its associations must be gone: the foreign key refuses otherwise). */
  deleteTarget (id: string): boolean
  /** Every association naming the target, in every application. */
  targetAssociationsOf (targetId: string): Array<{ application: string } & TargetAssociation>

  /**
   * Records an agent's heartbeat: reads see it at once, the table gets it within HEARTBEAT_FLUSH_INTERVAL_MS (with
   * the others received meanwhile, in one transaction) or when the store closes.
   */
  recordHeartbeat (record: AgentRecord): void
  agents (application: string): AgentRecord[]
  /** One agent's record (its last heartbeat), if it ever beat. */
  agent (application: string, scopedInstancePath: string): AgentRecord | undefined
  /** Forgets an agent's heartbeat record and the messages waiting for it. */
  forgetAgent (application: string, scopedInstancePath: string): void
  /** The hash and generation of a machine's credential (manager/messaging/credentials.ts), kept across DM restarts. */
  getCredential (application: string, scopedInstancePath: string): MachineCredentialRecord | undefined
  putCredential (application: string, scopedInstancePath: string, record: MachineCredentialRecord): void

  /** Messages waiting until an agent is up (Roboconf's store-and-forward, kept across DM restarts). */
  enqueue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void
  pending (application: string, scopedInstancePath: string): PendingMessage[]
  acknowledge (id: number): void

  /** The event history (kept when its application is deleted: it says what happened to it). */
  appendEvent (event: Omit<StoredEvent, 'id'>): StoredEvent
  /** Events matching the query, oldest first. */
  events (query?: EventQuery): StoredEvent[]
  /** Deletes the events beyond the `maxEvents` most recent and those older than `maxAgeMs`; returns how many went. */
  pruneEvents (maxEvents: number, maxAgeMs: number): number
  eventCount (): number

  /** Runs `fn` in one transaction (all or nothing). */
  transaction<T> (fn: () => T): T
  close (): void

  /** History of commands, scales, rules and schedules; scheduled jobs (manager/autonomy/store.ts). */
  readonly autonomy: AutonomyStore
}

export function createStore (options: StoreOptions): Store {
  const db = openDatabase(options.file)
  const part = storeDb(db)
  const { flushHeartbeats, dropHeartbeats, stopHeartbeats, ...agents } = agentStore(part)
  const applications = applicationStore(part)
  const instances = instanceStore(part)
  return {
    autonomy: createAutonomyStore(db),
    ...templateStore(part),
    ...applications,
    ...instances,
    ...bindingStore(part),
    ...targetStore(part),
    ...agents,
    // a buffered heartbeat must not outlive its application (the foreign key) nor keep a renamed machine's old path
    deleteApplication (name: string): boolean {
      dropHeartbeats(name)
      return applications.deleteApplication(name)
    },
    renameInstance (application: string, path: string, newName: string): string {
      flushHeartbeats()
      return instances.renameInstance(application, path, newName)
    },
    ...eventStore(part),
    /** Runs `fn` in one transaction (all or nothing). */
    transaction<T> (fn: () => T): T {
      return db.transaction(fn)()
    },
    close (): void {
      stopHeartbeats()
      db.close()
    }
  }
}
