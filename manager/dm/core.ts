// What every part of the DM shares: its components, settings, events, background work, and the look-ups that
// turn a missing application, template or instance into the REST API's errors.
import { EventEmitter } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { errorMessage } from '../../protocol/errors.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { InstanceProblem } from '../../protocol/messages.js'
import { DEFAULT_OWNERSHIP_LIFETIME_MS, createDmSigningKey, type DmSigningKey } from '../../protocol/mesh.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import {
  DEFAULT_MACHINE_CREATION_CONCURRENCY, DEFAULT_MACHINE_SILENCE_MS, DEFAULT_MACHINE_UNDEPLOY_WAIT_MS,
  HEARTBEAT_CHECK_INTERVAL_MS, SIGNING_KEY_FILE
} from '../constants.js'
import { ApplicationNotFoundError, InstanceNotFoundError, TemplateNotFoundError } from '../errors.js'
import type { DmMessaging } from '../messaging/types.js'
import { createEventLog, type EventActor, type EventLog } from '../events.js'
import type { ApplicationRecord, Store, StoredInstance, StoredInstanceNode } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import { ancestorPaths, isScoped } from './model.js'
import { PairMap } from '../../protocol/keys.js'
import { writePrivateFileSync } from '../../common/private-files.js'
import type { DeploymentManagerComponents, DeploymentManagerOptions, DmEvent } from './types.js'
import { effectiveProbePeriodMs } from '../../protocol/model/probes.js'
import { stderrLogger, type Logger } from '../../common/log.js'

/** The DM's options with their defaults applied. */
export interface DmSettings {
  dataDirectory?: string
  defaultTargetHandler: string
  machineSilenceMs: number
  heartbeatCheckIntervalMs: number
  machineCreationConcurrency: number
  machineUndeployWaitMs: number
  agentMetricsPort?: number
  /** Whether an SMTP relay is configured: templates whose commands send e-mail are refused without one. */
  smtp: boolean
  /** The agents' probe period of applications that set none, in milliseconds (autonomy.probePeriodMs). */
  probePeriodMs: number
  /** Template loads from a path stay inside this folder (real path); undefined: anywhere. */
  templatesRoot?: string
  /** Lifetime of the mesh ownerships the DM signs, in ms. */
  ownershipLifetimeMs: number
}

export interface DmCore {
  readonly store: Store
  readonly messaging: DmMessaging
  readonly log: Logger
  /** Target handlers by handler name. */
  readonly handlers: ReadonlyMap<string, TargetHandler>
  readonly settings: DmSettings
  readonly events: EventEmitter
  readonly eventLog: EventLog
  /** Stores the event in the history, then publishes it with its id. */
  emit (event: DmEvent): void
  /** Stores an instance's state; an instance event goes out when it changed, or when it came with a problem. */
  setStatus (application: string, path: string, status: InstanceStatus, extra?: { problem?: InstanceProblem, actor?: EventActor }): void
  /** Runs work in the background: its failure is logged, stop() waits for it. */
  background (what: string, work: Promise<unknown>): void
  /** Resolves once no background work is left. */
  settle (): Promise<void>
  requireApplication (name: string): ApplicationRecord
  /** The application's template (kept in memory: templates never change). */
  templateOf (record: ApplicationRecord): ApplicationTemplate
  forgetTemplate (name: string, version: string): void
  /** An instance with its whole subtree. */
  requireInstance (application: string, path: string): StoredInstance
  /** An instance without its subtree. */
  requireInstanceAt (application: string, path: string): StoredInstanceNode
  /** The scoped instance whose agent manages `path`: the nearest scoped ancestor-or-self. */
  scopedInstanceOf (application: string, template: ApplicationTemplate, path: string): StoredInstanceNode
  /** The key the DM signs ownerships with: made once, kept in the data directory when there is one. */
  signingKey (): DmSigningKey
}

export function settingsOf (options: DeploymentManagerOptions): DmSettings {
  return {
    dataDirectory: options.dataDirectory,
    defaultTargetHandler: options.defaultTargetHandler ?? 'local',
    machineSilenceMs: options.machineSilenceMs ?? DEFAULT_MACHINE_SILENCE_MS,
    heartbeatCheckIntervalMs: options.heartbeatCheckIntervalMs ?? HEARTBEAT_CHECK_INTERVAL_MS,
    machineCreationConcurrency: options.machineCreationConcurrency ?? DEFAULT_MACHINE_CREATION_CONCURRENCY,
    machineUndeployWaitMs: options.machineUndeployWaitMs ?? DEFAULT_MACHINE_UNDEPLOY_WAIT_MS,
    ...(options.agentMetricsPort === undefined ? {} : { agentMetricsPort: options.agentMetricsPort }),
    smtp: options.autonomy?.smtp !== undefined,
    probePeriodMs: effectiveProbePeriodMs(options.autonomy?.probePeriodMs),
    ...(options.templatesRoot !== undefined ? { templatesRoot: options.templatesRoot } : {}),
    ownershipLifetimeMs: options.ownershipLifetimeMs ?? DEFAULT_OWNERSHIP_LIFETIME_MS
  }
}

export function loadSigningKey (dataDirectory: string | undefined): DmSigningKey {
  if (dataDirectory === undefined) return createDmSigningKey()
  const file = join(dataDirectory, SIGNING_KEY_FILE)
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DmSigningKey
  const key = createDmSigningKey()
  writePrivateFileSync(file, JSON.stringify(key))
  return key
}

export function createDmCore (components: DeploymentManagerComponents, options: DeploymentManagerOptions): DmCore {
  const { store, messaging } = components
  const log = components.log ?? stderrLogger
  const events = new EventEmitter()
  events.setMaxListeners(0)
  const eventLog = createEventLog({ store }, options.events)
  const templates = new PairMap<ApplicationTemplate>()
  /** Background work (machine creations, flushes), awaited by stop(). */
  const inFlight = new Set<Promise<unknown>>()
  let signingKey: DmSigningKey | undefined

  const core: DmCore = {
    store,
    messaging,
    log,
    handlers: new Map(components.targets.map(t => [t.id, t])),
    settings: settingsOf(options),
    events,
    eventLog,
    emit (event) {
      events.emit('event', eventLog.record(event))
    },
    setStatus (application, path, status, extra = {}) {
      const before = store.statusOf(application, path)
      if (before === undefined) return
      // the same state again writes nothing (an event still says a problem that came with it)
      if (before !== status) store.setStatus(application, path, status)
      else if (extra.problem === undefined) return
      core.emit({ type: 'instance', application, path, status, at: new Date().toISOString(), ...extra })
    },
    background (what, work) {
      const p = work.catch(err => log.error(`${what}: ${errorMessage(err)}`)).finally(() => inFlight.delete(p))
      inFlight.add(p)
    },
    async settle () {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    },
    requireApplication (name) {
      const record = store.getApplication(name)
      if (record === undefined) throw new ApplicationNotFoundError(name)
      return record
    },
    templateOf (record) {
      const { name, version } = record.template
      let template = templates.get(name, version)
      if (template === undefined) {
        const stored = store.getTemplate(name, version)
        if (stored === undefined) throw new TemplateNotFoundError(name, version)
        templates.set(name, version, template = stored.template)
      }
      return template
    },
    forgetTemplate (name, version) {
      templates.delete(name, version)
    },
    requireInstance (application, path) {
      const instance = store.getInstance(application, path)
      if (instance === undefined) throw new InstanceNotFoundError(application, path)
      return instance
    },
    requireInstanceAt (application, path) {
      const instance = store.instanceAt(application, path)
      if (instance === undefined) throw new InstanceNotFoundError(application, path)
      return instance
    },
    scopedInstanceOf (application, template, path) {
      const paths = ancestorPaths(path)
      for (const candidatePath of [...paths].reverse()) {
        const candidate = store.instanceAt(application, candidatePath)
        if (candidate !== undefined && isScoped(template, candidate)) return candidate
      }
      throw new InstanceNotFoundError(application, paths[0] ?? '/')
    },
    signingKey () {
      return (signingKey ??= loadSigningKey(options.dataDirectory))
    }
  }
  return core
}
