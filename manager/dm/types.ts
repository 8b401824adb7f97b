// The deployment manager's public face: its components, options, events, views and the DeploymentManager itself.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { TargetDefinition } from '../../protocol/model/types.js'
import type {
  ApplicationBindingsView, ApplicationDetails, ApplicationSettings, ApplicationSummary, DmAction, InstanceView, LoadedTemplate, NewInstance, TargetDetails, TemplateDetails,
  TemplateSummary
} from '../dto.js'
import type { DmMessaging } from '../messaging/types.js'
import type { DmEvent, EventLogOptions, PublishedEvent } from '../events.js'
import type { InstanceDescription } from './describe.js'
import type { LogsQuery, MachineLogs } from './logs.js'
import type { AgentRecord, EventQuery, Store, StoredEvent, TargetAssociation } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import type { Autonomy, AutonomyOptions } from '../autonomy/index.js'
import { type Logger } from '../../common/log.js'

export interface DeploymentManagerComponents {
  store: Store
  messaging: DmMessaging
  /** Target handlers by handler name (`local`, `netns`, `in-process`, …). */
  targets: TargetHandler[]
  log?: Logger
}

export interface DeploymentManagerOptions {
  /** Folder of the DM's files (signing key); default none: an ephemeral signing key (tests). */
  dataDirectory?: string
  /** Handler of the default target (used when no association or template target applies); default `local`. */
  defaultTargetHandler?: string
  /** Silence after which a machine goes to PROBLEM, in milliseconds; default 30 000. */
  machineSilenceMs?: number
  /** Period of the silence check, in milliseconds; default 2 000. */
  heartbeatCheckIntervalMs?: number
  /** Machines created at the same time, at most; default 128. */
  machineCreationConcurrency?: number
  /**
   * Longest wait for a machine's agent to undeploy what it carries before the machine is terminated anyway, in
   * milliseconds; default 30 000.
   */
  machineUndeployWaitMs?: number
  /**
   * Folder on the DM's host outside which templates are not loaded from a path (`POST /api/templates` with
   * `{ path }`), symbolic links resolved; default: none (any path the DM's user can read).
   */
  templatesRoot?: string
  /**
   * How long a mesh ownership the DM signs stays valid, in milliseconds; default DEFAULT_OWNERSHIP_LIFETIME_MS
   * (6 h). Renewed at an agent's beat once a quarter of it has passed; importers refuse an expired one.
   */
  ownershipLifetimeMs?: number
  /** Retention of the event history (count and age); default 100 000 events, 30 days. */
  events?: EventLogOptions
  /** `metricsPort` of the agents' params (0: any free port, reported in heartbeats); default none: no agent metrics. */
  agentMetricsPort?: number
  /** Scaling, commands, rules and schedules (manager/autonomy/); each option documents its default. */
  autonomy?: AutonomyOptions
}

export type { DmEvent, PublishedEvent } from '../events.js'

export type { ApplicationDetails, ApplicationSettings, ApplicationSummary, DmAction, InstanceView, LoadedTemplate, NewInstance } from '../dto.js'

export interface DeploymentManager {
  start (): Promise<void>
  /** Stops following agents; machines keep running (a restarted DM finds them again). */
  stop (): Promise<void>
  /** Subscribes to the events (each with its history id); returns the unsubscribe function. */
  onEvent (listener: (event: PublishedEvent) => void): () => void
  /** The event history, oldest first. */
  history (query: EventQuery): StoredEvent[]
  /** Events in the history now. */
  eventCount (): number
  /** Records and publishes an event that happened outside the DM's logic (a REST write). */
  recordEvent (event: DmEvent): void
  /** The agents of an application that have beaten: peer, addresses, version, metrics address, last heartbeat. */
  agents (application: string): AgentRecord[]
  /** A machine's recent log, through its agent, or what the DM kept of a terminated one. */
  logs (application: string, machinePath: string, query: LogsQuery): Promise<MachineLogs>
  /** Why an instance is where it is: state, problems, machine, exports, imports held and missing, last events. */
  describe (application: string, path: string): InstanceDescription
  /** The DM's public key (base64 Ed25519), which agents trust. */
  publicKey (): string

  loadTemplateFromPath (path: string): Promise<LoadedTemplate>
  loadTemplateFromZip (zip: Buffer): Promise<LoadedTemplate>
  listTemplates (): TemplateSummary[]
  deleteTemplate (name: string, version: string): void
  /** A template's components, declared instances, warnings and the applications made from it. */
  getTemplate (name: string, version: string): TemplateDetails

  /** `probePeriodMs`: how often its agents evaluate their probes (default: the DM's, autonomy.probePeriodMs). */
  createApplication (input: { name: string, template: { name: string, version: string }, description?: string, probePeriodMs?: number }): ApplicationSummary
  listApplications (): ApplicationSummary[]
  getApplication (name: string): ApplicationDetails
  /** Changes an application's settings; a new probe period reaches its running agents (and the later ones with the model). */
  updateApplication (name: string, settings: ApplicationSettings): ApplicationSummary
  /** Terminates the application's machines, then forgets it. */
  deleteApplication (name: string): Promise<void>

  instances (application: string): InstanceView[]
  instance (application: string, path: string): InstanceView
  /** Adds a root instance (a new machine, not deployed) or a child; a child of a running machine reaches its agent. */
  addInstance (application: string, input: NewInstance): InstanceView
  /** Copies a root instance and its subtree under a new name, not deployed (scale up: then deploy it). */
  replicate (application: string, path: string, newName: string): InstanceView
  /** Deletes an instance and its subtree, all NOT_DEPLOYED (scale down: undeploy first). */
  removeInstance (application: string, path: string): void
  /** Renames an instance whose subtree is NOT_DEPLOYED (Roboconf's Rename); returns it under its new path. */
  renameInstance (application: string, path: string, newName: string): InstanceView
  /**
   * Asks one instance for a state: a machine is created (DEPLOYED_STARTED) or terminated (NOT_DEPLOYED) by the
   * DM; any other instance's request goes to its agent. Machine creation continues in the background.
   */
  changeState (application: string, path: string, state: InstanceStatus): void
  /**
   * deploy-and-start-all, stop-all, undeploy-all on the application, one subtree (`path`), and/or the instances
   * of one component. Returns once the commands are stored; machines are created in parallel in the background.
   */
  action (application: string, input: { action: DmAction, path?: string, component?: string }): void

  listTargets (): TargetDefinition[]
  getTarget (id: string): TargetDefinition | undefined
  createTarget (target: TargetDefinition): TargetDefinition
  /** Associates a target with the application (default), one scoped instance path, or one component. */
  associateTarget (application: string, input: { targetId: string, path?: string, component?: string }): void
  /** The application's target associations. */
  targetAssociations (application: string): TargetAssociation[]
  /** A target with its associations and the machines created with it. */
  targetDetails (id: string): TargetDetails
  /** Deletes a target nothing uses (refused naming what uses it). */
  deleteTarget (id: string): void

  /** The applications that could serve each external prefix the application imports, and whether each is bound. */
  bindings (application: string): ApplicationBindingsView
  /** The application imports `prefix` from `exporter` too (Roboconf's bind); its agents hear it at once. */
  bind (application: string, prefix: string, exporter: string): void
  /** The application no longer imports `prefix` from `exporter` (unbind). */
  unbind (application: string, prefix: string, exporter: string): void
  /** The application imports `prefix` from exactly these applications (bind-x). */
  replaceBindings (application: string, prefix: string, exporters: string[]): void

  /** Scaling, commands files and their history, autonomic rules, schedules (manager/autonomy/). */
  readonly autonomy: Autonomy
}
