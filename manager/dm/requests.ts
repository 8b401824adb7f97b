// Requests for states: on one instance, or on many (deploy-and-start-all, stop-all, undeploy-all). A machine's state
// is the DM's to change (create, terminate); any other instance's request is queued for its machine's agent.
import { REQUESTABLE_STATUSES, type InstanceStatus } from '../../protocol/lifecycle.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import { toAgent } from '../../protocol/messages.js'
import { InvalidInstanceError, InvalidStateRequestError } from '../errors.js'
import type { StoredInstance } from '../store.js'
import type { DmCore } from './core.js'
import type { Machines } from './machines.js'
import { flatten, hasNoMachine, isScoped } from './model.js'
import type { Outbox } from './outbox.js'
import type { DeploymentManager } from './types.js'

export type StateRequests = Pick<DeploymentManager, 'changeState' | 'action'>

/** What the request functions share. */
interface RequestContext {
  core: DmCore
  outbox: Outbox
  machines: Machines
}

export function createStateRequests (core: DmCore, outbox: Outbox, machines: Machines): StateRequests {
  const context: RequestContext = { core, outbox, machines }
  return {
    changeState: (application, path, state) => { changeState(context, application, path, state) },
    action: (application, input) => { action(context, application, input) }
  }
}

function deployInBackground ({ core, machines }: RequestContext, application: string, path: string): void {
  core.background(`deploying ${path} of ${application}`, machines.deploy(application, path))
}

function undeployInBackground ({ core, machines }: RequestContext, application: string, path: string): void {
  core.background(`undeploying ${path} of ${application}`, machines.undeploy(application, path))
}

function changeState (context: RequestContext, application: string, path: string, state: InstanceStatus): void {
  const { core, outbox } = context
  const template = core.templateOf(core.requireApplication(application))
  if (!REQUESTABLE_STATUSES.has(state)) {
    throw new InvalidStateRequestError(`state ${state} cannot be requested: ask for NOT_DEPLOYED, DEPLOYED_STOPPED or DEPLOYED_STARTED`)
  }
  const instance = core.requireInstanceAt(application, path)
  if (isScoped(template, instance)) {
    if (state === 'DEPLOYED_STOPPED') throw new InvalidStateRequestError(`${path} is a machine: it can be deployed and started (DEPLOYED_STARTED) or undeployed (NOT_DEPLOYED), not stopped`)
    if (state === 'DEPLOYED_STARTED') deployInBackground(context, application, path)
    else undeployInBackground(context, application, path)
    return
  }
  const scoped = core.scopedInstanceOf(application, template, path)
  if (hasNoMachine(scoped)) {
    throw new InvalidStateRequestError(`the machine ${scoped.path} of ${path} is ${scoped.status}: deploy it first (state DEPLOYED_STARTED on ${scoped.path}, or action deploy-and-start-all)`)
  }
  outbox.queue(application, scoped.path, toAgent({ kind: 'changeState', instancePath: path, newState: state }))
}

function action (context: RequestContext, application: string, input: Parameters<StateRequests['action']>[1]): void {
  const { core } = context
  const template = core.templateOf(core.requireApplication(application))
  const roots = input.path !== undefined ? [core.requireInstance(application, input.path)] : core.store.instanceTrees(application)
  if (input.component !== undefined && template.components[input.component] === undefined) {
    throw new InvalidInstanceError(`component ${JSON.stringify(input.component)} is not in the graph of ${application}: use one of ${Object.keys(template.components).sort().join(', ')}`)
  }
  const selected = flatten(roots).filter(i => input.component === undefined || i.component === input.component)
  const machinesSelected = selected.filter(i => isScoped(template, i))
  const others = selected.filter(i => !isScoped(template, i))
  switch (input.action) {
    case 'deploy-and-start-all': deployAndStartAll(context, application, template, machinesSelected, others); return
    case 'stop-all': stopAll(context, application, template, others); return
    case 'undeploy-all': undeployAll(context, application, template, machinesSelected, others)
  }
}

function deployAndStartAll (context: RequestContext, application: string, template: ApplicationTemplate,
  machinesSelected: StoredInstance[], others: StoredInstance[]): void {
  const { core, outbox } = context
  const deploying = new Set(machinesSelected.filter(m => m.status === 'NOT_DEPLOYED').map(m => m.path))
  // the commands are stored before the machines are asked for, so a DM killed in between still sends them
  core.store.transaction(() => {
    for (const i of others) {
      const scoped = core.scopedInstanceOf(application, template, i.path)
      if (hasNoMachine(scoped) && !deploying.has(scoped.path)) continue
      outbox.queue(application, scoped.path, toAgent({ kind: 'changeState', instancePath: i.path, newState: 'DEPLOYED_STARTED' }))
    }
  })
  for (const path of deploying) deployInBackground(context, application, path)
}

function stopAll ({ core, outbox }: RequestContext, application: string, template: ApplicationTemplate, others: StoredInstance[]): void {
  for (const i of others) {
    const scoped = core.scopedInstanceOf(application, template, i.path)
    if (hasNoMachine(scoped) || i.status === 'NOT_DEPLOYED') continue
    outbox.queue(application, scoped.path, toAgent({ kind: 'changeState', instancePath: i.path, newState: 'DEPLOYED_STOPPED' }))
  }
}

function undeployAll (context: RequestContext, application: string, template: ApplicationTemplate,
  machinesSelected: StoredInstance[], others: StoredInstance[]): void {
  const { core, outbox } = context
  const undeploying = new Set(machinesSelected.map(m => m.path))
  const covered = (path: string): boolean => [...undeploying].some(m => path === m || path.startsWith(`${m}/`))
  for (const i of others) {
    if (covered(i.path)) continue
    const scoped = core.scopedInstanceOf(application, template, i.path)
    if (hasNoMachine(scoped) || i.status === 'NOT_DEPLOYED') continue
    outbox.queue(application, scoped.path, toAgent({ kind: 'changeState', instancePath: i.path, newState: 'NOT_DEPLOYED' }))
  }
  const topMost = [...undeploying].filter(p => ![...undeploying].some(m => m !== p && p.startsWith(`${m}/`)))
  for (const path of topMost) undeployInBackground(context, application, path)
}
