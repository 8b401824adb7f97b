// The deployment manager (DM): holds templates and applications (in the store), creates and terminates machines
// through target handlers, sends commands to agents and follows their notifications (reference §1.5–1.6, §3.1–3.2).
// The DM handles scoped instances (machines) itself; every other state change is forwarded to the instance's agent,
// and a state changes on the DM only when the agent reports it. Messages to an agent wait in the store until the
// agent is up (first heartbeat), so a DM killed and restarted forgets nothing it promised.
// The parts are in manager/dm/: one AgentSession per agent (sessions.ts), the outbox, the machines' life cycle, the
// agents' notifications, templates, applications and instances, state requests, targets, ports.
import { createAutonomy } from './autonomy/index.js'
import { createApplications } from './dm/applications.js'
import { createBindings } from './dm/bindings.js'
import { createCatalog } from './dm/catalog.js'
import { createDmCore } from './dm/core.js'
import { describeInstance } from './dm/describe.js'
import { createLogs } from './dm/logs.js'
import { createMachines } from './dm/machines.js'
import { createMachineWatch } from './dm/watch.js'
import { createNotificationHandler } from './dm/notifications.js'
import { createOutbox } from './dm/outbox.js'
import { createStateRequests } from './dm/requests.js'
import { createAgentSessions } from './dm/sessions.js'
import { createTargets } from './dm/targets.js'
import { createTemplates } from './dm/templates.js'
import type { DeploymentManager, DeploymentManagerComponents, DeploymentManagerOptions } from './dm/types.js'
import type { TargetDefinition } from '../protocol/model/types.js'
import { DEFAULT_TARGET_ID } from './constants.js'

export type {
  ApplicationSummary, DeploymentManager, DeploymentManagerComponents, DeploymentManagerOptions, DmAction, DmEvent,
  InstanceView, LoadedTemplate, NewInstance, PublishedEvent
} from './dm/types.js'

export function createDeploymentManager (components: DeploymentManagerComponents, options: DeploymentManagerOptions = {}): DeploymentManager {
  const core = createDmCore(components, options)
  const { messaging, events } = core
  const sessions = createAgentSessions()
  const outbox = createOutbox(core, sessions)
  const targets = createTargets(core)
  const logs = createLogs(core, sessions)
  const machines = createMachines(core, sessions, outbox, targets, logs.keep)
  messaging.onAgentMessage(msg => { if (msg.kind === 'logs') logs.answer(msg) })
  const watch = createMachineWatch(core, sessions, outbox, targets, machines)
  messaging.onAgentMessage(createNotificationHandler(core, sessions, outbox, machines))
  const applications = createApplications(core, sessions, outbox, machines)
  const bindings = createBindings(core, outbox)
  let silenceTimer: NodeJS.Timeout | undefined
  let started = false

  const dm: Omit<DeploymentManager, 'autonomy'> = {
    async start () {
      if (started) return
      started = true
      core.signingKey()
      await messaging.start()
      await watch.recover()
      silenceTimer = setInterval(watch.checkSilence, core.settings.heartbeatCheckIntervalMs)
      silenceTimer.unref()
    },

    async stop () {
      if (!started) return
      started = false
      clearInterval(silenceTimer)
      await core.settle()
      await messaging.stop()
      sessions.forgetAll()
    },

    onEvent (listener) {
      events.on('event', listener)
      return () => { events.off('event', listener) }
    },

    history: query => core.eventLog.query(query),
    eventCount: () => core.eventLog.count(),
    recordEvent: event => { core.emit(event) },
    describe: (application, path) => describeInstance(core, application, path),
    logs: async (application, path, query) => await logs.read(application, path, query),
    agents: application => { core.requireApplication(application); return core.store.agents(application) },

    publicKey () {
      return core.signingKey().publicKey
    },

    ...createTemplates(core),
    ...applications,
    // an exporting application deleted: the applications bound to it are unbound (a new one of that name is not)
    async deleteApplication (name) {
      await applications.deleteApplication(name)
      bindings.applicationDeleted(name)
    },
    ...createStateRequests(core, outbox, machines),
    bindings: bindings.bindings,
    bind: bindings.bind,
    unbind: bindings.unbind,
    replaceBindings: bindings.replaceBindings,
    listTargets: targets.listTargets,
    getTarget: targets.getTarget,
    createTarget: targets.createTarget,
    associateTarget: targets.associateTarget,
    ...createCatalog(core, () => targets.getTarget(DEFAULT_TARGET_ID) as TargetDefinition)
  }
  const autonomy = createAutonomy({ dm: { ...dm, undeployMachine: machines.undeploy }, store: components.store, log: core.log, emit: core.emit },
    { dataDirectory: options.dataDirectory, ...options.autonomy })
  messaging.onAgentMessage(async msg => { if (msg.kind === 'autonomic') autonomy.onAutonomicEvent(msg) })
  return {
    ...dm,
    autonomy,
    async start () { await dm.start(); autonomy.start() },
    async stop () { autonomy.stop(); await dm.stop() }
  }
}
