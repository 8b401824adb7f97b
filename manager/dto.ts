// What the DM's REST API and its events carry, declared once: the DM (manager/dm/) answers with these and the
// client (client.ts) reads them.
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { ModelError } from '../protocol/model/types.js'

export interface TemplateRef { name: string, version: string }

export interface TemplateSummary extends TemplateRef {
  description?: string
  createdAt: string
}

/** A template just loaded, with the warnings found in it (on a refused template, the REST error carries the SEVERE ones). */
export type LoadedTemplate = TemplateSummary & { errors: ModelError[] }

export interface ApplicationSummary {
  name: string
  template: TemplateRef
  description?: string
  createdAt: string
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

export type DmEvent =
  | { type: 'instance', application: string, path: string, status: InstanceStatus, at: string }
  | { type: 'application', application: string, action: 'created' | 'deleted', at: string }
  | { type: 'template', name: string, version: string, action: 'created' | 'deleted', at: string }
