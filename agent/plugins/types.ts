// The plug-in contract (reference §1.4): one plug-in per installer name, called for one instance at a time.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { Import } from '../../protocol/messages.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import type { Logger } from '../../common/log.js'

export type LifecycleStep = 'deploy' | 'start' | 'update' | 'stop' | 'undeploy'

/** Exports of one ancestor of the instance acted on. */
export interface AncestorExports {
  path: string
  component: string
  /** Fully prefixed variable -> value. */
  exports: Record<string, string | null>
}

/** Everything a plug-in gets to act on one instance. */
export interface ExecutionContext {
  application: string
  instance: Readonly<Instance>
  component: Readonly<Component>
  /** The instance's exports, fully prefixed (instanceExports: overrides, meta variables and `ip` applied). */
  exports: Record<string, string | null>
  /** Imports by prefix, in arrival order. */
  imports: Record<string, Import[]>
  /** Parent first, up to the scoped instance. */
  ancestors: AncestorExports[]
  /** The instance's working folder: the component's recipe files are written here on deploy. */
  instanceDir: string
  log: Logger
}

/** Why `update` is called (reference §3.3): the import that changed and whether its exporter came or went. */
export interface ImportChange {
  importChanged: Import
  /** DEPLOYED_STARTED when the import was added or changed, DEPLOYED_STOPPED when it was removed. */
  statusChanged: InstanceStatus
}

export interface Plugin {
  /** The installer name this plug-in answers to (compared ignoring case). */
  readonly name: string
  initialize (context: ExecutionContext): Promise<void>
  deploy (context: ExecutionContext): Promise<void>
  start (context: ExecutionContext): Promise<void>
  update (context: ExecutionContext, change: ImportChange): Promise<void>
  stop (context: ExecutionContext): Promise<void>
  undeploy (context: ExecutionContext): Promise<void>
}

/** Plug-ins by lower-case installer name. */
export type PluginRegistry = ReadonlyMap<string, Plugin>
