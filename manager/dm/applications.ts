// Applications: created from a template (ports of `random[port]` exports given as instances are made), listed,
// their settings changed, deleted with their machines. Their instances are in instances.ts.
import { generatePnetKey } from '../../protocol/mesh.js'
import { probePeriodProblem } from '../../protocol/model/probes.js'
import type { Instance } from '../../protocol/model/types.js'
import { toAgent } from '../../protocol/messages.js'
import { ApplicationExistsError, InvalidApplicationSettingError, TemplateNotFoundError } from '../errors.js'
import type { ApplicationRecord } from '../store.js'
import type { DmCore } from './core.js'
import { createInstances, type Instances } from './instances.js'
import type { Machines } from './machines.js'
import { flatten, hasNoMachine, isScoped, summary, view } from './model.js'
import type { Outbox } from './outbox.js'
import { assignRandomPorts } from './ports.js'
import type { AgentSessions } from './sessions.js'
import type { ApplicationDetails, ApplicationSettings, ApplicationSummary, DeploymentManager } from './types.js'

export type Applications = Pick<DeploymentManager,
  'createApplication' | 'listApplications' | 'getApplication' | 'updateApplication' | 'deleteApplication'> & Instances

/** What the application functions share. */
interface ApplicationContext {
  core: DmCore
  sessions: AgentSessions
  outbox: Outbox
  machines: Machines
}

export function createApplications (core: DmCore, sessions: AgentSessions, outbox: Outbox, machines: Machines): Applications {
  const context: ApplicationContext = { core, sessions, outbox, machines }
  return {
    createApplication: input => createApplication(context, input),
    listApplications: () => listApplications(context),
    getApplication: name => getApplication(context, name),
    updateApplication: (name, settings) => updateApplication(context, name, settings),
    deleteApplication: async name => { await deleteApplication(context, name) },
    ...createInstances(core, outbox)
  }
}

const now = (): string => new Date().toISOString()

function checkProbePeriod (application: string, ms: number): void {
  const problem = probePeriodProblem(ms)
  if (problem !== undefined) throw new InvalidApplicationSettingError(application, 'probePeriodMs', `${problem}; e.g. 5000 for 5 s`)
}

function summaryOf (core: DmCore, record: ApplicationRecord): ApplicationSummary {
  return summary(record, core.settings.probePeriodMs)
}

function createApplication ({ core }: ApplicationContext, input: Parameters<Applications['createApplication']>[0]): ApplicationSummary {
  const { store } = core
  if (store.getApplication(input.name) !== undefined) throw new ApplicationExistsError(input.name)
  if (input.probePeriodMs !== undefined) checkProbePeriod(input.name, input.probePeriodMs)
  const stored = store.getTemplate(input.template.name, input.template.version)
  if (stored === undefined) throw new TemplateNotFoundError(input.template.name, input.template.version)
  const record: ApplicationRecord = {
    name: input.name, template: input.template, description: input.description ?? stored.description,
    createdAt: now(), pnetKey: generatePnetKey(),
    ...(input.probePeriodMs !== undefined ? { probePeriodMs: input.probePeriodMs } : {})
  }
  const roots = stored.template.rootInstances.map(function fresh (i: Instance): Instance {
    return { ...i, status: 'NOT_DEPLOYED', children: i.children.map(fresh) }
  })
  assignRandomPorts(core, stored.template, roots)
  store.createApplication(record, roots)
  core.emit({ type: 'application', application: input.name, action: 'created', at: record.createdAt })
  return summaryOf(core, record)
}

function listApplications ({ core }: ApplicationContext): ApplicationSummary[] {
  return core.store.listApplications().map(record => summaryOf(core, record))
}

function getApplication ({ core }: ApplicationContext, name: string): ApplicationDetails {
  const record = core.requireApplication(name)
  return { ...summaryOf(core, record), instances: core.store.instanceTrees(name).map(view) }
}

function updateApplication ({ core, outbox }: ApplicationContext, name: string, settings: ApplicationSettings): ApplicationSummary {
  const { store } = core
  const before = core.requireApplication(name)
  if (settings.probePeriodMs !== undefined) {
    if (settings.probePeriodMs !== null) checkProbePeriod(name, settings.probePeriodMs)
    store.setProbePeriod(name, settings.probePeriodMs ?? undefined)
  }
  const record = core.requireApplication(name)
  const probePeriodMs = record.probePeriodMs ?? core.settings.probePeriodMs
  if (probePeriodMs !== (before.probePeriodMs ?? core.settings.probePeriodMs)) {
    // queued like every command: a machine whose agent has no model yet gets the new period with it
    const template = core.templateOf(record)
    for (const scoped of flatten(store.instanceTrees(name))) {
      if (isScoped(template, scoped) && !hasNoMachine(scoped)) outbox.queue(name, scoped.path, toAgent({ kind: 'setProbePeriod', probePeriodMs }))
    }
  }
  core.emit({ type: 'application', application: name, action: 'updated', at: now() })
  return summaryOf(core, record)
}

async function deleteApplication ({ core, sessions, machines }: ApplicationContext, name: string): Promise<void> {
  const { store, messaging } = core
  const template = core.templateOf(core.requireApplication(name))
  await Promise.all(store.instanceTrees(name).filter(r => isScoped(template, r)).map(r => machines.undeploy(name, r.path)))
  await messaging.deleteApplication(name)
  sessions.forgetApplication(name)
  store.deleteApplication(name)
  core.emit({ type: 'application', application: name, action: 'deleted', at: now() })
}
