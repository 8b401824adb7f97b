// What the DM's REST API carries, declared once: the DM (manager/dm/) answers with these and the client
// (client.ts) reads them. (Events are declared by each side: the client also reads DMs older than its build.)
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { InstanceProblem } from '../protocol/messages.js'
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
