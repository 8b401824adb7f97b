// An application's instances: listed, added, copied (scale up: a root instance and its subtree) and removed (scale
// down). Ports of `random[port]` exports are given as instances are made.
import { localNameOf } from '../../protocol/model/exports.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import { toAgent } from '../../protocol/messages.js'
import { TARGET_INSTALLER } from '../constants.js'
import { InstanceDeployedError, InstanceExistsError, InvalidInstanceError } from '../errors.js'
import type { StoredInstance, StoredInstanceNode } from '../store.js'
import type { DmCore } from './core.js'
import { flatten, hasNoMachine, INSTANCE_NAME, isScoped, view } from './model.js'
import type { Outbox } from './outbox.js'
import { assignRandomPorts } from './ports.js'
import type { DeploymentManager, InstanceView, NewInstance } from './types.js'

export type Instances = Pick<DeploymentManager, 'instances' | 'instance' | 'addInstance' | 'replicate' | 'removeInstance'>

/** What the instance functions share. */
interface InstanceContext {
  core: DmCore
  outbox: Outbox
}

export function createInstances (core: DmCore, outbox: Outbox): Instances {
  const context: InstanceContext = { core, outbox }
  return {
    instances: application => instances(context, application),
    instance: (application, path) => instance(context, application, path),
    addInstance: (application, input) => addInstance(context, application, input),
    replicate: (application, path, newName) => replicate(context, application, path, newName),
    removeInstance: (application, path) => { removeInstance(context, application, path) }
  }
}

function checkInstanceName (name: string): void {
  if (!INSTANCE_NAME.test(name)) {
    throw new InvalidInstanceError(`instance name ${JSON.stringify(name)} is invalid: use letters, digits, spaces, '-', '_' and '.', not starting or ending with a space`)
  }
}

const now = (): string => new Date().toISOString()

/** The parent a new instance goes under (none: a root, which must be a machine), checked against the graph. */
function parentFor (core: DmCore, application: string, components: Record<string, Component>, input: { parentPath?: string, component: string }): StoredInstanceNode | undefined {
  const component = components[input.component]
  if (input.parentPath === undefined || input.parentPath === '' || input.parentPath === '/') {
    if (component.installer !== TARGET_INSTALLER) {
      throw new InvalidInstanceError(`a root instance must be a machine (installer target); ${input.component} uses ${component.installer}: give a parentPath`)
    }
    return undefined
  }
  const parent = core.requireInstanceAt(application, input.parentPath)
  const allowed = components[parent.component]?.children ?? []
  if (!allowed.includes(input.component)) {
    throw new InvalidInstanceError(`a ${input.component} cannot be placed under ${parent.path} (a ${parent.component}): the graph allows ${allowed.length > 0 ? allowed.join(', ') : 'no children'} there`)
  }
  return parent
}

function instances ({ core }: InstanceContext, application: string): InstanceView[] {
  core.requireApplication(application)
  return core.store.instanceTrees(application).map(view)
}

function instance ({ core }: InstanceContext, application: string, path: string): InstanceView {
  core.requireApplication(application)
  return view(core.requireInstance(application, path))
}

function addInstance ({ core, outbox }: InstanceContext, application: string, input: NewInstance): InstanceView {
  const { store } = core
  const template = core.templateOf(core.requireApplication(application))
  checkInstanceName(input.name)
  if (template.components[input.component] === undefined) {
    throw new InvalidInstanceError(`component ${JSON.stringify(input.component)} is not in the graph of ${application}: use one of ${Object.keys(template.components).sort().join(', ')}`)
  }
  const parent = parentFor(core, application, template.components, input)
  const path = `${parent?.path ?? ''}/${input.name}`
  if (store.instanceAt(application, path) !== undefined) throw new InstanceExistsError(application, path)
  const instance: Instance = {
    name: input.name, component: input.component, path, overriddenExports: input.overriddenExports ?? {},
    data: {}, channels: [], status: 'NOT_DEPLOYED', children: []
  }
  assignRandomPorts(core, template, [instance])
  store.addInstance(application, parent?.path ?? null, instance)
  core.emit({ type: 'instance', application, path, status: 'NOT_DEPLOYED', at: now() })
  if (parent !== undefined && !isScoped(template, instance)) {
    const scoped = core.scopedInstanceOf(application, template, parent.path)
    if (!hasNoMachine(scoped)) outbox.queue(application, scoped.path, toAgent({ kind: 'addInstance', parentPath: parent.path, instance }))
  }
  return view(core.requireInstance(application, path))
}

function replicate ({ core }: InstanceContext, application: string, path: string, newName: string): InstanceView {
  const { store } = core
  const template = core.templateOf(core.requireApplication(application))
  const source = core.requireInstance(application, path)
  if (path.split('/').filter(s => s !== '').length !== 1) {
    throw new InvalidInstanceError(`${path} is not a root instance: only root instances (machines) can be replicated`)
  }
  if (!INSTANCE_NAME.test(newName)) {
    throw new InvalidInstanceError(`instance name ${JSON.stringify(newName)} is invalid: use letters, digits, spaces, '-', '_' and '.'`)
  }
  const newPath = `/${newName}`
  if (store.instanceAt(application, newPath) !== undefined) throw new InstanceExistsError(application, newPath)
  // generated ports are not copied: the copy gets its own
  const copy = (i: StoredInstance, at: string): Instance => ({
    name: at === newPath ? newName : i.name, component: i.component, path: at,
    overriddenExports: Object.fromEntries(Object.entries(i.overriddenExports).filter(([name]) =>
      !(template.components[i.component]?.randomExports ?? []).some(v => v === name || localNameOf(v) === name))),
    data: {}, channels: i.channels, status: 'NOT_DEPLOYED',
    children: i.children.map(c => copy(c, `${at}/${c.name}`))
  })
  const instance = copy(source, newPath)
  assignRandomPorts(core, template, [instance])
  store.addInstance(application, null, instance)
  for (const i of flatten([instance])) core.emit({ type: 'instance', application, path: i.path, status: 'NOT_DEPLOYED', at: now() })
  return view(core.requireInstance(application, newPath))
}

function removeInstance ({ core, outbox }: InstanceContext, application: string, path: string): void {
  const template = core.templateOf(core.requireApplication(application))
  const instance = core.requireInstance(application, path)
  const deployed = flatten([instance]).find(i => i.status !== 'NOT_DEPLOYED')
  if (deployed !== undefined) throw new InstanceDeployedError(application, path, deployed.path, deployed.status)
  if (!isScoped(template, instance)) {
    const scoped = core.scopedInstanceOf(application, template, path)
    if (!hasNoMachine(scoped)) outbox.queue(application, scoped.path, toAgent({ kind: 'removeInstance', instancePath: path }))
  }
  core.store.deleteInstance(application, path)
}
