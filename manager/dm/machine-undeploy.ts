// Undeploying a machine: the machines nested in it first, then what its agent carries (children first, so that every
// stop and undeploy recipe runs, as in Roboconf), then the machine itself; and forgetting a machine that is gone.
import { errorMessage } from '../../protocol/errors.js'
import { toAgent } from '../../protocol/messages.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import { DATA_IP_ADDRESS, DATA_MACHINE_ID, DATA_MACHINE_NAME, DATA_RUNNING_FROM, DATA_TARGET_HANDLER, DATA_TARGET_ID } from '../constants.js'
import { machineOf, type MachineContext } from './machines.js'
import { agentSubtree, flatten, isScoped } from './model.js'
import type { DmEvent } from './types.js'

/** The machine is gone: its whole subtree is NOT_DEPLOYED, machine data and imports cleared. */
export function markGone ({ core, sessions }: MachineContext, application: string, path: string): void {
  const { store } = core
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

/** Undeploys a machine and the machines nested in it; a second call while one runs waits for the first. */
export function undeploy (context: MachineContext, application: string, path: string): Promise<void> {
  const session = context.sessions.of(application, path)
  if (session.undeploying !== undefined) return session.undeploying
  const work = undeployOnce(context, application, path).finally(() => { session.undeploying = undefined })
  session.undeploying = work
  return work
}

async function undeployOnce (context: MachineContext, application: string, path: string): Promise<void> {
  const { core, sessions, keepLog } = context
  const { store, messaging, log } = core
  const session = sessions.of(application, path)
  const template = core.templateOf(core.requireApplication(application))
  const scoped = core.requireInstance(application, path)
  // nested machines first (a container under a VM goes before the VM)
  for (const nested of flatten(scoped.children).filter(i => isScoped(template, i)).reverse()) {
    await undeploy(context, application, nested.path)
  }
  if (scoped.status === 'NOT_DEPLOYED') return
  core.setStatus(application, path, 'UNDEPLOYING')
  session.lastBeatAt = undefined
  // an agent that is not ready (no model, silent, DM restarted) cannot be asked: the machine goes at once
  const answered = session.ready && await undeployCarriedInstances(context, application, template, path)
  // only an agent that answers is asked for its log: a silent one would hold the termination longer
  if (answered && keepLog !== undefined) {
    await keepLog(application, path).catch(err => { log.warn(`the log of ${path} (${application}) was not kept: ${errorMessage(err)}`, { application, path }) })
  }
  session.ready = false
  store.forgetAgent(application, path)
  const { handler, machineId } = machineOf(context, scoped)
  if (handler !== undefined && machineId !== undefined) {
    try {
      await handler.terminate(machineId)
      core.emit({ type: 'machine', application, path, action: 'terminated', machineId, target: scoped.data[DATA_TARGET_ID] ?? handler.id, at: new Date().toISOString() })
    } catch (err) {
      log.warn(`terminating machine ${machineId} of ${path} (${application}): ${errorMessage(err)}`, { application, path })
    }
  }
  await messaging.forgetAgent(application, path)
  markGone(context, application, path)
}

/**
 * Asks the agent of an UNDEPLOYING machine to take every instance it carries to NOT_DEPLOYED, deepest first;
 * resolves once the DM has seen them all NOT_DEPLOYED (true), or after the undeploy wait (with a warning: false).
 */
async function undeployCarriedInstances ({ core, sessions, outbox }: MachineContext, application: string,
  template: ApplicationTemplate, scopedPath: string): Promise<boolean> {
  const { store, log, settings } = core
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
      log.warn(`the agent of ${scopedPath} (${application}) ${problem} (${deployed().join(', ')} still deployed): terminating the machine anyway`, { application, path: scopedPath })
    }
    return problem === undefined
  } finally {
    stopWaiting()
    session.drain = undefined
  }
}
