// What the DM's REST API carries, declared once: the DM (manager/dm/) answers with these and the client
// (client.ts) reads them. (Events are declared by each side: the client also reads DMs older than its build.)
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { InstanceProblem } from '../protocol/problem.js'
import type { ModelError, TargetDefinition } from '../protocol/model/types.js'

export type { TargetDefinition } from '../protocol/model/types.js'

export interface TemplateRef { name: string, version: string }

export interface TemplateSummary extends TemplateRef {
  description?: string
  createdAt: string
}

/** A template just loaded, with the warnings found in it (on a refused template, the REST error carries the SEVERE ones). */
export type LoadedTemplate = TemplateSummary & { errors: ModelError[] }

export interface TemplateDetails extends TemplateSummary {
  components: Array<{ name: string, installer: string, exports: string[], imports: string[], children: string[] }>
  /** Paths of the instances the template declares (its instances file). */
  instances: string[]
  /** Warnings found when it was loaded. */
  warnings: ModelError[]
  /** Applications created from it. */
  applications: string[]
}

/** Which target a scoped instance uses: the application default, one instance path, or one component. */
export type TargetScope = { kind: 'default' } | { kind: 'path', path: string } | { kind: 'component', component: string }

export interface TargetUsage {
  /** Where the target is associated. */
  associations: Array<{ application: string, scope: TargetScope, label: string }>
  /** Machines created with it that are not undeployed. */
  machines: Array<{ application: string, path: string, status: string }>
}

export type TargetDetails = TargetDefinition & TargetUsage

export interface ApplicationSummary {
  name: string
  template: TemplateRef
  description?: string
  createdAt: string
  /** How often its agents evaluate their probes, in milliseconds: its own setting, else the DM's default. */
  probePeriodMs: number
  /** True when probePeriodMs is the DM's default (the application sets none). */
  probePeriodIsDefault: boolean
}

/** What an application may change after its creation (`PATCH /api/applications/:app`). */
export interface ApplicationSettings {
  /** Its probe period, in milliseconds (1 000 to 3 600 000); null: back to the DM's default. */
  probePeriodMs?: number | null
}

/** A node of the instance tree as the DM serves it. */
export interface InstanceView {
  name: string
  /** `/Tomcat VM 1/Tomcat` */
  path: string
  component: string
  status: InstanceStatus
  data: Record<string, string>
  /** Exported values set on this instance (instances file, DM-generated random ports). */
  overriddenExports: Record<string, string>
  /** The last failure its agent reported, kept after it recovers (`data["last.problem"]` is the current one). */
  problem?: InstanceProblem
  /** Mandatory import prefixes with no exporter yet, as its agent last reported. */
  missingImports?: string[]
  /** ISO time of its last change of state. */
  since?: string
  children: InstanceView[]
}

export interface ApplicationDetails extends ApplicationSummary {
  instances: InstanceView[]
}

export type DmAction = 'deploy-and-start-all' | 'stop-all' | 'undeploy-all'
export type RequestableStatus = 'NOT_DEPLOYED' | 'DEPLOYED_STOPPED' | 'DEPLOYED_STARTED'

export interface NewInstance {
  /** Path of the parent; absent, '' or '/': a root instance (a machine). */
  parentPath?: string
  name: string
  component: string
  overriddenExports?: Record<string, string>
}

/** For each external prefix an application imports: the applications exporting it, and whether each is bound (Roboconf's ApplicationBindings). */
export interface ApplicationBindingsView {
  application: string
  prefixes: Record<string, Array<{ application: string, bound: boolean }>>
}

/** One entry of the event history. */
export interface StoredEvent {
  id: number
  /** ISO time. */
  at: string
  application?: string
  path?: string
  /** `state`, `problem`, `machine`, `application`, `template`, `request`, ... */
  kind: string
  /** What happened, in words (the new state, the failure, `POST /api/...`). */
  reason: string
  /** Who made it happen: `agent`, `dm`, `rest`. */
  actor: string
  /** The event as the live stream carries it. */
  body: Record<string, unknown>
}

// GET /api/applications/:app/topology (manager/rest/console-view.ts): the web console's picture of an application.

export interface TopologyInstance {
  path: string
  name: string
  component: string
  status: InstanceStatus
  /** Path of the root instance (the machine) this instance runs on. */
  machine: string
  exports: Record<string, string | null>
  /** ISO time of its last state change, when known. */
  since?: string
  /** Imports the agent reported held, one entry per exporting instance, with since when when it said. */
  held: Array<{ prefix: string, from: string, component: string, variables: Record<string, string | null>, since?: string }>
  /** Mandatory imported prefixes with no exporter held (as the agent reported, else from the graph). */
  missing: string[]
  /** The current problem, one line (cleared when a new action begins). */
  lastProblem?: string
  /** The last failure reported, with the recipe's stderr and stdout tails (kept after a recovery). */
  problem?: InstanceProblem
}

export interface TopologyMachine {
  path: string
  ip?: string
  machineId?: string
  targetId?: string
  peerId?: string
  lastHeartbeatAt?: string
}

export interface Topology {
  application: string
  template: { name: string, version: string }
  components: Record<string, { children: string[], imports: Array<{ prefix: string, optional: boolean }>, installer: string }>
  /** Components that may be root instances (machines: the `target` installer). */
  rootComponents: string[]
  instances: TopologyInstance[]
  machines: TopologyMachine[]
}
