// The life cycle of machines (scoped instances), which the DM handles itself: deploy (create the machine through
// its target's handler), here; undeploy (what its agent carries first, then the machine), in machine-undeploy.ts.
// Watching them (silence, recovery after a restart) is in watch.ts.
import { randomBytes } from 'node:crypto'
import { errorMessage } from '../../protocol/errors.js'
import type { InstanceProblem } from '../../protocol/messages.js'
import type { TargetDefinition } from '../../protocol/model/types.js'
import {
  DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_MACHINE_NAME, DATA_TARGET_HANDLER, DATA_TARGET_ID
} from '../constants.js'
import { MachineCreationError, UnknownTargetHandlerError } from '../errors.js'
import type { StoredInstanceNode } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import type { DmCore } from './core.js'
import { markGone, undeploy } from './machine-undeploy.js'
import { hasNoMachine } from './model.js'
import type { Outbox } from './outbox.js'
import type { AgentSessions } from './sessions.js'
import type { Targets } from './targets.js'

export interface Machines {
  /** Creates the machine of a NOT_DEPLOYED scoped instance (nothing if it is in any other state). */
  deploy (application: string, path: string): Promise<void>
  /** Undeploys a machine and the machines nested in it; a second call while one runs waits for the first. */
  undeploy (application: string, path: string): Promise<void>
  /** The machine is gone: its whole subtree is NOT_DEPLOYED, machine data and imports cleared. */
  markGone (application: string, path: string): void
  /** A machine's handler and id (or the name it was asked for under, before its id was stored). */
  machineOf (scoped: StoredInstanceNode): { handler?: TargetHandler, machineId?: string }
  /**
   * Creates the machine of a DEPLOYING scoped instance under the name stored for it (by deploy, or before a DM
   * restart that interrupted the creation).
   */
  create (application: string, path: string, target: TargetDefinition, handler: TargetHandler, machineName: string): Promise<void>
}

/** A counting semaphore: machine creations beyond the limit wait their turn. */
function limiter (max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const waiting: Array<() => void> = []
  return async fn => {
    if (active >= max) await new Promise<void>(resolve => waiting.push(resolve))
    active++
    try {
      return await fn()
    } finally {
      active--
      waiting.shift()?.()
    }
  }
}

function machineNameFor (application: string, path: string): string {
  const clean = `${application}${path}`.replace(/[^\w.-]+/g, '_').replace(/^[._]+/, '').slice(0, 80)
  return `${clean}-${randomBytes(4).toString('hex')}`
}

/** What the machine life cycle's functions share. */
export interface MachineContext {
  core: DmCore
  sessions: AgentSessions
  outbox: Outbox
  targets: Targets
  /** Runs a machine creation once fewer than `machineCreationConcurrency` are under way. */
  limit: <T>(fn: () => Promise<T>) => Promise<T>
  /** Keeps a machine's log before it is terminated (a post-mortem needs it); undefined: none kept. */
  keepLog?: (application: string, path: string) => Promise<void>
}

export function createMachines (core: DmCore, sessions: AgentSessions, outbox: Outbox, targets: Targets,
  /** Keeps a machine's log before it is terminated (a post-mortem needs it); default none. */
  keepLog?: (application: string, path: string) => Promise<void>): Machines {
  const context: MachineContext = { core, sessions, outbox, targets, limit: limiter(core.settings.machineCreationConcurrency), keepLog }
  return {
    deploy: async (application, path) => { await deploy(context, application, path) },
    create: async (application, path, target, handler, machineName) => { await create(context, application, path, target, handler, machineName) },
    undeploy: async (application, path) => { await undeploy(context, application, path) },
    markGone: (application, path) => { markGone(context, application, path) },
    machineOf: scoped => machineOf(context, scoped)
  }
}

export function machineOf ({ core }: MachineContext, scoped: StoredInstanceNode): { handler?: TargetHandler, machineId?: string } {
  return {
    handler: core.handlers.get(scoped.data[DATA_TARGET_HANDLER] ?? ''),
    machineId: scoped.data[DATA_MACHINE_ID] ?? scoped.data[DATA_MACHINE_NAME]
  }
}

async function deploy (context: MachineContext, application: string, path: string): Promise<void> {
  const { core, targets } = context
  const { store, handlers } = core
  const record = core.requireApplication(application)
  const template = core.templateOf(record)
  const instance = core.requireInstanceAt(application, path)
  if (instance.status !== 'NOT_DEPLOYED') return
  const target = targets.targetFor(application, template, instance)
  const handler = handlers.get(target.handler)
  if (handler === undefined) throw new UnknownTargetHandlerError(target.handler, [...handlers.keys()])
  const machineName = machineNameFor(application, path)
  store.transaction(() => {
    store.updateData(application, path, {
      [DATA_MACHINE_NAME]: machineName, [DATA_TARGET_ID]: target.id, [DATA_TARGET_HANDLER]: target.handler,
      [DATA_LAST_PROBLEM]: null
    })
    core.setStatus(application, path, 'DEPLOYING')
  })
  await create(context, application, path, target, handler, machineName)
}

/**
 * Creates the machine of a DEPLOYING scoped instance under the name stored for it (by deploy, or before a DM
 * restart that interrupted the creation).
 */
async function create ({ core, sessions, limit }: MachineContext, application: string, path: string, target: TargetDefinition,
  handler: TargetHandler, machineName: string): Promise<void> {
  const { store, messaging } = core
  let machineId: string
  const began = performance.now()
  try {
    await messaging.prepareAgent(application, path)
    await messaging.provisionAgent?.({ application, scopedInstancePath: path })
    const params = {
      target, machineName,
      agent: {
        application, scopedInstancePath: path, messaging: messaging.agentEndpoint({ application, scopedInstancePath: path }),
        ...(core.settings.agentMetricsPort === undefined ? {} : { metricsPort: core.settings.agentMetricsPort })
      }
    }
    machineId = await limit(async () => {
      const id = await handler.create(params)
      await handler.configure?.(params, id)
      return id
    })
  } catch (err) {
    const problem = new MachineCreationError(path, `${target.id} (${target.handler})`, errorMessage(err))
    const failure: InstanceProblem = {
      step: 'create machine', plugin: target.handler, durationMs: Math.round(performance.now() - began),
      at: new Date().toISOString(), message: problem.message
    }
    store.transaction(() => {
      store.updateData(application, path, {
        [DATA_MACHINE_NAME]: null, [DATA_TARGET_ID]: null, [DATA_TARGET_HANDLER]: null, [DATA_LAST_PROBLEM]: problem.message
      })
      store.setProblem(application, path, failure)
      store.forgetAgent(application, path)
      core.setStatus(application, path, 'NOT_DEPLOYED', { problem: failure })
    })
    throw problem
  }
  const now = store.instanceAt(application, path)
  if (now === undefined || hasNoMachine(now)) {
    // undeployed or deleted while the machine was being made: do not leave it running
    await handler.terminate(machineId)
    return
  }
  store.updateData(application, path, { [DATA_MACHINE_ID]: machineId })
  core.emit({ type: 'machine', application, path, action: 'created', machineId, target: target.id, at: new Date().toISOString() })
  const address = await handler.address(machineId).catch(() => undefined)
  if (address !== undefined && now.data[DATA_IP_ADDRESS] === undefined) store.updateData(application, path, { [DATA_IP_ADDRESS]: address })
  sessions.of(application, path).lastBeatAt ??= Date.now()
}
