// The life cycle of machines (scoped instances), which the DM handles itself: deploy (create the machine through
// its target's handler), undeploy (what its agent carries first, then the machine). Watching them (silence,
// recovery after a restart) is in watch.ts.
import { randomBytes } from 'node:crypto'
import { errorMessage } from '../../protocol/errors.js'
import { toAgent, type InstanceProblem } from '../../protocol/messages.js'
import type { ApplicationTemplate, TargetDefinition } from '../../protocol/model/types.js'
import {
  DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_MACHINE_NAME, DATA_RUNNING_FROM, DATA_TARGET_HANDLER,
  DATA_TARGET_ID
} from '../constants.js'
import { MachineCreationError, UnknownTargetHandlerError } from '../errors.js'
import type { StoredInstanceNode } from '../store.js'
import type { TargetHandler } from '../targets/types.js'
import type { DmCore } from './core.js'
import { agentSubtree, flatten, hasNoMachine, isScoped } from './model.js'
import type { Outbox } from './outbox.js'
import type { AgentSessions } from './sessions.js'
import type { Targets } from './targets.js'
import type { DmEvent } from './types.js'

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

export function createMachines (core: DmCore, sessions: AgentSessions, outbox: Outbox, targets: Targets,
  /** Keeps a machine's log before it is terminated (a post-mortem needs it); default none. */
  keepLog?: (application: string, path: string) => Promise<void>): Machines {
  const { store, messaging, handlers, log, settings } = core
  const limit = limiter(settings.machineCreationConcurrency)

  function machineOf (scoped: StoredInstanceNode): { handler?: TargetHandler, machineId?: string } {
    return {
      handler: handlers.get(scoped.data[DATA_TARGET_HANDLER] ?? ''),
      machineId: scoped.data[DATA_MACHINE_ID] ?? scoped.data[DATA_MACHINE_NAME]
    }
  }

  async function deploy (application: string, path: string): Promise<void> {
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
    await create(application, path, target, handler, machineName)
  }

  /**
   * Creates the machine of a DEPLOYING scoped instance under the name stored for it (by deploy, or before a DM
   * restart that interrupted the creation).
   */
  async function create (application: string, path: string, target: TargetDefinition, handler: TargetHandler, machineName: string): Promise<void> {
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

  function markGone (application: string, path: string): void {
    const scoped = store.getInstance(application, path)
    if (scoped === undefined) return
    sessions.forget(application, path)
    store.transaction(() => {
      store.forgetAgent(application, path)
      store.updateData(application, path, {
        [DATA_IP_ADDRESS]: null, [DATA_MACHINE_ID]: null, [DATA_MACHINE_NAME]: null, [DATA_TARGET_ID]: null,
        [DATA_TARGET_HANDLER]: null, [DATA_RUNNING_FROM]: null
      })
      for (const instance of flatten([scoped]).reverse()) {
        store.setImports(application, instance.path, {})
        core.setStatus(application, instance.path, 'NOT_DEPLOYED')
      }
    })
  }

  /**
   * Undeploys a machine: nested machines first, then what its agent carries (children first, so that every stop and
   * undeploy recipe runs, as in Roboconf), then the machine itself is terminated.
   */
  function undeploy (application: string, path: string): Promise<void> {
    const session = sessions.of(application, path)
    if (session.undeploying !== undefined) return session.undeploying
    const work = (async () => {
      const template = core.templateOf(core.requireApplication(application))
      const scoped = core.requireInstance(application, path)
      // nested machines first (a container under a VM goes before the VM)
      for (const nested of flatten(scoped.children).filter(i => isScoped(template, i)).reverse()) {
        await undeploy(application, nested.path)
      }
      if (scoped.status === 'NOT_DEPLOYED') return
      core.setStatus(application, path, 'UNDEPLOYING')
      session.lastBeatAt = undefined
      // an agent that is not ready (no model, silent, DM restarted) cannot be asked: the machine goes at once
      const answered = session.ready && await undeployCarriedInstances(application, template, path)
      // only an agent that answers is asked for its log: a silent one would hold the termination longer
      if (answered && keepLog !== undefined) {
        await keepLog(application, path).catch(err => { log.warn(`the log of ${path} (${application}) was not kept: ${errorMessage(err)}`) })
      }
      session.ready = false
      store.forgetAgent(application, path)
      const { handler, machineId } = machineOf(scoped)
      if (handler !== undefined && machineId !== undefined) {
        try {
          await handler.terminate(machineId)
          core.emit({ type: 'machine', application, path, action: 'terminated', machineId, target: scoped.data[DATA_TARGET_ID] ?? handler.id, at: new Date().toISOString() })
        } catch (err) {
          log.warn(`terminating machine ${machineId} of ${path} (${application}): ${errorMessage(err)}`)
        }
      }
      await messaging.forgetAgent(application, path)
      markGone(application, path)
    })().finally(() => { session.undeploying = undefined })
    session.undeploying = work
    return work
  }

  /**
   * Asks the agent of an UNDEPLOYING machine to take every instance it carries to NOT_DEPLOYED, deepest first;
   * resolves once the DM has seen them all NOT_DEPLOYED (true), or after the undeploy wait (with a warning: false).
   */
  async function undeployCarriedInstances (application: string, template: ApplicationTemplate, scopedPath: string): Promise<boolean> {
    const scoped = store.getInstance(application, scopedPath)
    if (scoped === undefined) return true
    const carried = flatten(agentSubtree(template, scoped).children).map(i => i.path)
    // an instance deleted meanwhile is not deployed either
    const deployed = (): string[] => carried.filter(p => ![undefined, 'NOT_DEPLOYED'].includes(store.statusOf(application, p)))
    const toUndeploy = deployed()
    if (toUndeploy.length === 0) return true
    const session = sessions.of(application, scopedPath)
    const waitMs = settings.machineUndeployWaitMs
    let stopWaiting = (): void => {}
    /** Resolves with why the wait ended early, or undefined once every carried instance is NOT_DEPLOYED. */
    const outcome = new Promise<string | undefined>(resolve => {
      const timer = setTimeout(() => resolve(`did not undeploy them within ${waitMs} ms`), waitMs)
      const onEvent = (event: DmEvent): void => {
        if (event.type === 'instance' && event.application === application && deployed().length === 0) resolve(undefined)
      }
      core.events.on('event', onEvent)
      stopWaiting = () => { clearTimeout(timer); core.events.off('event', onEvent) }
      session.drain = () => resolve('reported its machine down before undeploying them')
    })
    try {
      // a parent's undeploy runs only its own recipes: its descendants are asked first, so theirs run too
      for (const path of toUndeploy.reverse()) {
        outbox.queue(application, scopedPath, toAgent({ kind: 'changeState', instancePath: path, newState: 'NOT_DEPLOYED' }))
      }
      const problem = await outcome
      if (problem !== undefined) {
        log.warn(`the agent of ${scopedPath} (${application}) ${problem} (${deployed().join(', ')} still deployed): terminating the machine anyway`)
      }
      return problem === undefined
    } finally {
      stopWaiting()
      session.drain = undefined
    }
  }

  return { deploy, create, undeploy, markGone, machineOf }
}
