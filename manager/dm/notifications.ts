// Notifications from agents, one handler per kind: a heartbeat (the machine is up; the agent wants its model or
// is ready for what waits), an instance's new state and imports, an instance removed, the machine going down.
// The DM owns the states of machines; the agent owns the others (reference §3.1–3.2).
import { PROBLEM_OUTPUT_TAIL_BYTES, type AgentToDmMessage, type InstanceProblem } from '../../protocol/messages.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import { firstLine } from '../events.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import { DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_RUNNING_FROM, MAX_PROBLEM_MESSAGE_CHARS } from '../constants.js'
import type { DmCore } from './core.js'
import { domainAddressesChanged } from './bindings.js'
import type { StoredInstanceNode } from '../store.js'
import type { Machines } from './machines.js'
import { flatten, hasNoMachine, isScoped } from './model.js'
import type { Outbox } from './outbox.js'
import type { AgentSession, AgentSessions } from './sessions.js'

type Notification<K extends AgentToDmMessage['kind']> = Extract<AgentToDmMessage, { kind: K }>

/** States an agent reports when an action begins on an instance. */
const ACTION_STATES: ReadonlySet<InstanceStatus> = new Set(['DEPLOYING', 'STARTING', 'STOPPING', 'UNDEPLOYING'])

/** An agent's problem with its outputs cut to the size agents send (a peer may send more). */
function boundedProblem (problem: InstanceProblem): InstanceProblem {
  const cut = (text: string | undefined, max: number): string | undefined => text === undefined || text.length <= max ? text : text.slice(-max)
  return {
    ...problem,
    message: cut(problem.message, MAX_PROBLEM_MESSAGE_CHARS) ?? '',
    stderr: cut(problem.stderr, PROBLEM_OUTPUT_TAIL_BYTES),
    stdout: cut(problem.stdout, PROBLEM_OUTPUT_TAIL_BYTES)
  }
}

/** What the notification handlers share. */
interface NotificationContext {
  core: DmCore
  sessions: AgentSessions
  outbox: Outbox
  machines: Machines
}

export function createNotificationHandler (core: DmCore, sessions: AgentSessions, outbox: Outbox, machines: Machines): (msg: AgentToDmMessage) => Promise<void> {
  const context: NotificationContext = { core, sessions, outbox, machines }
  return async function onAgentMessage (msg: AgentToDmMessage): Promise<void> {
    const record = core.store.getApplication(msg.application)
    if (record === undefined) {
      core.log.warn(`${msg.kind} from an agent of unknown application ${msg.application}: ignored`, { application: msg.application })
      return
    }
    const template = core.templateOf(record)
    const path = 'instancePath' in msg ? msg.instancePath : msg.scopedInstancePath
    core.log.debug(`${msg.kind} from the agent of ${path}${msg.kind === 'instanceChanged' ? `: ${msg.status}` : ''}`, { application: msg.application, path })
    switch (msg.kind) {
      case 'heartbeat': onHeartbeat(context, msg, template); return
      case 'instanceChanged': onInstanceChanged(context, msg, template); return
      case 'instanceRemoved': onInstanceRemoved(context, msg); return
      case 'machineDown': onMachineDown(context, msg)
    }
  }
}

function onHeartbeat (context: NotificationContext, msg: Notification<'heartbeat'>, template: ApplicationTemplate): void {
  const { core, sessions } = context
  const { store, log } = core
  const { application, scopedInstancePath: path } = msg
  const scoped = store.instanceAt(application, path)
  if (scoped === undefined || !isScoped(template, scoped)) {
    log.warn(`heartbeat for ${path} of ${application}, which is not a scoped instance: ignored`, { application, path })
    return
  }
  const status = scoped.status
  const session = sessions.of(application, path)
  if (hasNoMachine(scoped)) {
    // an agent undeploying its instances before its machine goes is expected to beat meanwhile
    if (session.drain === undefined && !session.staleWarned) {
      session.staleWarned = true
      log.warn(`heartbeat from the agent of ${path} (${application}), which is ${status}: ignored (stale machine; said once)`, { application, path })
    }
    return
  }
  recordBeat(context, msg, scoped, session)
  answerBeat(context, msg, session)
}

/** The machine is up: its beat, addresses and versions are stored, and it goes DEPLOYED_STARTED if it was not. */
function recordBeat ({ core, outbox }: NotificationContext, msg: Notification<'heartbeat'>, scoped: StoredInstanceNode, session: AgentSession): void {
  const { store } = core
  const { application, scopedInstancePath: path } = msg
  const status = scoped.status
  session.staleWarned = false
  session.lastBeatAt = Date.now()
  const previousDomain = msg.domainAddresses === undefined ? undefined : store.agent(application, path)?.domainAddresses
  store.recordHeartbeat({
    application, scopedInstancePath: path, peerId: msg.peerId,
    listenAddresses: msg.listenAddresses ?? [], lastHeartbeatAt: new Date().toISOString(),
    ...(msg.agentVersion === undefined ? {} : { agentVersion: msg.agentVersion }),
    ...(msg.metricsAddress === undefined ? {} : { metricsAddress: msg.metricsAddress }),
    ...(msg.domainAddresses === undefined ? {} : { domainAddresses: msg.domainAddresses })
  })
  if (msg.domainAddresses !== undefined && JSON.stringify(previousDomain) !== JSON.stringify(msg.domainAddresses)) {
    domainAddressesChanged(core, outbox, application, path, msg.domainAddresses)
  }
  const ipChanged = msg.ipAddress !== '' && scoped.data[DATA_IP_ADDRESS] !== msg.ipAddress
  // most beats change neither: no transaction for them (an agent beats every few seconds)
  if (!ipChanged && status === 'DEPLOYED_STARTED') return
  store.transaction(() => {
    if (ipChanged) {
      store.updateData(application, path, { [DATA_IP_ADDRESS]: msg.ipAddress })
    }
    if (status !== 'DEPLOYED_STARTED') {
      store.updateData(application, path, {
        [DATA_LAST_PROBLEM]: null, [DATA_RUNNING_FROM]: scoped.data[DATA_RUNNING_FROM] ?? new Date().toISOString()
      })
      core.setStatus(application, path, 'DEPLOYED_STARTED')
    }
  })
}

/** The agent wants its model (sent once it names its peer), or is ready for what waits; its ownership is renewed. */
function answerBeat ({ core, outbox }: NotificationContext, msg: Notification<'heartbeat'>, session: AgentSession): void {
  const { log } = core
  const { application, scopedInstancePath: path } = msg
  // Only a beat showing addresses ends the mesh's start: the agent's periodic beat may come while it starts its mesh
  // (its model loaded, no addresses yet), and agents waiting for a bootstrap peer would then get none, for good.
  if ((msg.listenAddresses ?? []).length > 0) {
    const first = !session.meshListening
    session.meshListening = true
    session.meshStarting = false
    if (first) outbox.meshListening(application, path)
  }
  if (msg.modelRequired) {
    session.ready = false
    // An ownership signed for no peer would make every importer reject the agent's exports: the model waits for a
    // heartbeat naming the agent's peer (ours name it from the first one; the field is optional on the wire).
    if (msg.peerId === undefined || msg.peerId === '') log.warn(`the agent of ${path} (${application}) asks for its model without its peer id: the model goes with a heartbeat that has it`, { application, path })
    else outbox.sendModel(application, path, msg.peerId)
  } else if (!session.ready) {
    session.ready = true
    outbox.flush(application, path)
  }
  // The agent beats: its mesh ownership is renewed before it expires (importers refuse an expired one).
  if (!msg.modelRequired && msg.peerId !== undefined && msg.peerId !== '') outbox.renewOwnershipIfDue(application, path, msg.peerId)
}

function onInstanceChanged ({ core, sessions }: NotificationContext, msg: Notification<'instanceChanged'>, template: ApplicationTemplate): void {
  const { store } = core
  const { application, instancePath } = msg
  const before = store.instanceAt(application, instancePath)
  if (before === undefined) return
  const scoped = core.scopedInstanceOf(application, template, instancePath)
  if (hasNoMachine(scoped) && sessions.find(application, scoped.path)?.drain === undefined) return
  const failure = msg.failure === undefined ? undefined : boundedProblem(msg.failure)
  store.transaction(() => {
    store.setAgentReport(application, instancePath, msg)
    if (msg.problem !== undefined) store.updateData(application, instancePath, { [DATA_LAST_PROBLEM]: firstLine(msg.problem) })
    // a new action begins: the last problem is no longer the current one (describe keeps it, with its time)
    else if (ACTION_STATES.has(msg.status) && before.data[DATA_LAST_PROBLEM] !== undefined) store.updateData(application, instancePath, { [DATA_LAST_PROBLEM]: null })
    if (failure !== undefined) store.setProblem(application, instancePath, failure)
    if (scoped.path !== instancePath) {
      core.setStatus(application, instancePath, msg.status, { actor: 'agent', ...(failure === undefined ? {} : { problem: failure }) })
    }
  })
  // what the instance holds changed (a Tomcat came or went) without a state change: watchers redraw its edges
  if (JSON.stringify(before.imports) !== JSON.stringify(msg.imports)) {
    const held = Object.fromEntries(Object.entries(msg.imports).map(([prefix, list]) => [prefix, list.length]))
    core.emit({ type: 'imports', application, path: instancePath, held, at: new Date().toISOString() })
  }
}

function onInstanceRemoved ({ core }: NotificationContext, msg: Notification<'instanceRemoved'>): void {
  const { store } = core
  const instance = store.getInstance(msg.application, msg.instancePath)
  if (instance !== undefined && flatten([instance]).every(i => i.status === 'NOT_DEPLOYED')) {
    store.deleteInstance(msg.application, msg.instancePath)
  }
}

function onMachineDown ({ core, sessions, machines }: NotificationContext, msg: Notification<'machineDown'>): void {
  const { store, log } = core
  const { application, scopedInstancePath: path } = msg
  sessions.find(application, path)?.drain?.()
  const scoped = store.instanceAt(application, path)
  if (scoped === undefined || hasNoMachine(scoped)) return
  log.warn(`the agent of ${path} (${application}) reported its machine down`, { application, path })
  const { handler, machineId } = machines.machineOf(scoped)
  machines.markGone(application, path)
  if (handler !== undefined && machineId !== undefined) {
    core.background(`terminating machine ${machineId}`, handler.terminate(machineId))
  }
}
