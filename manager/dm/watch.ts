// Watching machines: one whose agent stops beating goes to PROBLEM (the silence check); after a DM restart, the
// machines of the store are taken up again (recovery).
import { errorMessage } from '../../protocol/errors.js'
import { toAgent } from '../../protocol/messages.js'
import { DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_MACHINE_NAME, DATA_TARGET_ID } from '../constants.js'
import type { ApplicationRecord, StoredInstance } from '../store.js'
import type { DmCore } from './core.js'
import type { Machines } from './machines.js'
import { flatten, hasNoMachine, isScoped } from './model.js'
import type { Outbox } from './outbox.js'
import type { AgentSessions } from './sessions.js'
import type { Targets } from './targets.js'

export interface MachineWatch {
  /** Puts machines whose agent has been silent too long in PROBLEM. */
  checkSilence (): void
  /** After a restart: takes up the machines of the store again. */
  recover (): Promise<void>
}

export function createMachineWatch (core: DmCore, sessions: AgentSessions, outbox: Outbox, targets: Targets, machines: Machines): MachineWatch {
  const { store, log, settings } = core

  function checkSilence (): void {
    const now = Date.now()
    for (const session of sessions.all()) {
      const at = session.lastBeatAt
      if (at === undefined || now - at <= settings.machineSilenceMs) continue
      const { application, scopedInstancePath: path } = session
      const scoped = store.instanceAt(application, path)
      if (scoped === undefined || hasNoMachine(scoped)) { session.lastBeatAt = undefined; continue }
      if (scoped.status === 'PROBLEM') continue
      log.warn(`no heartbeat from the agent of ${path} (${application}) for ${Math.round((now - at) / 1000)} s: PROBLEM`, { application, path })
      session.ready = false
      store.updateData(application, path, { [DATA_LAST_PROBLEM]: `no heartbeat for ${Math.round((now - at) / 1000)} s` })
      core.setStatus(application, path, 'PROBLEM')
    }
  }

  /**
   * After a restart: machines that no longer run lose their subtree's states; running agents resend theirs; a machine
   * whose creation the DM never saw end (no machine id stored) is created, as asked before the restart.
   */
  async function recover (): Promise<void> {
    for (const record of store.listApplications()) {
      const template = core.templateOf(record)
      const scopedInstances = flatten(store.instanceTrees(record.name))
        .filter(i => isScoped(template, i) && i.status !== 'NOT_DEPLOYED')
      await Promise.all(scopedInstances.map(async scoped => await recoverMachine(record, scoped)))
    }
  }

  async function recoverMachine (record: ApplicationRecord, scoped: StoredInstance): Promise<void> {
    const { handler, machineId } = machines.machineOf(scoped)
    const running = handler !== undefined && machineId !== undefined &&
      await handler.isRunning(machineId).catch(() => false)
    if (scoped.status === 'UNDEPLOYING' && running) {
      await machines.undeploy(record.name, scoped.path)
      return
    }
    const machineName = scoped.data[DATA_MACHINE_NAME]
    const target = targets.getTarget(scoped.data[DATA_TARGET_ID] ?? '')
    if (!running && scoped.status === 'DEPLOYING' && scoped.data[DATA_MACHINE_ID] === undefined &&
      handler !== undefined && machineName !== undefined && target !== undefined) {
      // The DM died before the target had made the machine: the deploy still stands, and the commands queued for
      // the machine's instances wait for its agent. (A machine the DM saw made and that is gone was killed: below.)
      log.info(`after restart: the machine of ${scoped.path} (${record.name}) was being created: creating it`, { application: record.name, path: scoped.path })
      // what a creation cut short left (a folder without an agent) goes first
      await handler.terminate(machineName).catch(err => log.warn(`cleaning up machine ${machineName}: ${errorMessage(err)}`))
      core.background(`deploying ${scoped.path} of ${record.name}`, machines.create(record.name, scoped.path, target, handler, machineName))
      return
    }
    if (!running) {
      log.info(`after restart: the machine of ${scoped.path} (${record.name}) no longer runs: NOT_DEPLOYED`, { application: record.name, path: scoped.path })
      // what is left of it (a folder, a network namespace) goes
      if (handler !== undefined && machineId !== undefined) {
        await handler.terminate(machineId).catch(err => log.warn(`cleaning up machine ${machineId}: ${errorMessage(err)}`))
      }
      machines.markGone(record.name, scoped.path)
      return
    }
    // found by the name stored before its creation (the DM died before it stored the id): the name is its id
    if (scoped.data[DATA_MACHINE_ID] === undefined && machineName !== undefined) store.updateData(record.name, scoped.path, { [DATA_MACHINE_ID]: machineName })
    const session = sessions.of(record.name, scoped.path)
    session.lastBeatAt = Date.now()
    if (store.agents(record.name).some(a => a.scopedInstancePath === scoped.path && a.listenAddresses.length > 0)) {
      session.meshListening = true
    }
    outbox.queue(record.name, scoped.path, toAgent({ kind: 'resendStates' }))
  }

  return { checkSilence, recover }
}
