// `describe`: why an instance is where it is, in one document. Its state and since when, its current and last
// problem, the machine carrying it (target, id, address, agent peer, version, last heartbeat), its exports with their
// values, the imports it holds (from which instance, since when) and those it misses, and its last events.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { InstanceProblem } from '../../protocol/messages.js'
import { instanceExports } from '../../protocol/model/exports.js'
import { DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_TARGET_HANDLER, DATA_TARGET_ID } from '../constants.js'
import type { StoredEvent } from '../store.js'
import type { DmCore } from './core.js'

/** Events a describe shows, the most recent ones. */
export const DESCRIBE_EVENTS = 10

export interface HeldImportView {
  prefix: string
  /** The exporting instance. */
  from: string
  component: string
  /** ISO time since when it is held, as its agent reported (absent when its agent predates the report). */
  since?: string
  variables: Record<string, string | null>
}

export interface InstanceDescription {
  application: string
  path: string
  name: string
  component: string
  status: InstanceStatus
  /** ISO time of its last change of state. */
  since?: string
  /** The problem that holds now (cleared when a new action begins). */
  currentProblem?: string
  /** The last failure its agent (or the DM, for a machine) reported, with its time. */
  lastProblem?: InstanceProblem
  machine: {
    path: string
    status: InstanceStatus
    target?: string
    handler?: string
    machineId?: string
    ipAddress?: string
    peerId?: string
    agentVersion?: string
    /** ISO time of the agent's last heartbeat. */
    lastHeartbeat?: string
  }
  exports: Record<string, string | null>
  imports: { held: HeldImportView[], missing: string[] }
  events: StoredEvent[]
}

export function describeInstance (core: DmCore, application: string, path: string): InstanceDescription {
  const { store } = core
  const template = core.templateOf(core.requireApplication(application))
  const instance = core.requireInstanceAt(application, path)
  const scoped = core.scopedInstanceOf(application, template, path)
  const agent = store.agent(application, scoped.path)
  const component = template.components[instance.component]
  const ipAddress = scoped.data[DATA_IP_ADDRESS]
  const since = new Map((instance.heldImports ?? []).map(h => [`${h.prefix}\u0000${h.instancePath}`, h.since]))
  const held: HeldImportView[] = Object.entries(instance.imports).flatMap(([prefix, list]) => list.map(i => {
    const heldSince = since.get(`${prefix}\u0000${i.instancePath}`)
    return { prefix, from: i.instancePath, component: i.component, ...(heldSince === undefined ? {} : { since: heldSince }), variables: i.variables }
  }))
  const optional = (entries: Array<[string, string | undefined]>): Record<string, string> =>
    Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== undefined))
  return {
    application,
    path,
    name: instance.name,
    component: instance.component,
    status: instance.status,
    ...(instance.statusSince === undefined ? {} : { since: instance.statusSince }),
    ...(instance.data[DATA_LAST_PROBLEM] === undefined ? {} : { currentProblem: instance.data[DATA_LAST_PROBLEM] }),
    ...(instance.problem === undefined ? {} : { lastProblem: instance.problem }),
    machine: {
      path: scoped.path,
      status: scoped.status,
      ...optional([
        ['target', scoped.data[DATA_TARGET_ID]], ['handler', scoped.data[DATA_TARGET_HANDLER]],
        ['machineId', scoped.data[DATA_MACHINE_ID]], ['ipAddress', ipAddress], ['peerId', agent?.peerId],
        ['agentVersion', agent?.agentVersion], ['lastHeartbeat', agent?.lastHeartbeatAt]
      ])
    },
    exports: component === undefined ? {} : instanceExports(component, { ...instance, children: [] }, ipAddress),
    imports: { held, missing: instance.missingImports ?? [] },
    events: store.events({ application, path, exactPath: true, limit: DESCRIBE_EVENTS })
  }
}
