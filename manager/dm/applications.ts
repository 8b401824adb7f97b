// Applications and their instances: created from a template, instances added, copied (scale up) and removed
// (scale down). Ports of `random[port]` exports are given as instances are made.
import { generatePnetKey } from '../../protocol/mesh.js'
import { probePeriodProblem } from '../../protocol/model/probes.js'
import { localNameOf } from '../../protocol/model/exports.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import { toAgent } from '../../protocol/messages.js'
import { TARGET_INSTALLER } from '../constants.js'
import { ApplicationExistsError, InvalidApplicationSettingError, InstanceDeployedError, InstanceExistsError, InvalidInstanceError, TemplateNotFoundError } from '../errors.js'
import type { ApplicationRecord, StoredInstance, StoredInstanceNode } from '../store.js'
import type { DmCore } from './core.js'
import type { Machines } from './machines.js'
import { flatten, hasNoMachine, INSTANCE_NAME, isScoped, summary, view } from './model.js'
import type { Outbox } from './outbox.js'
import { assignRandomPorts } from './ports.js'
import type { AgentSessions } from './sessions.js'
import type { DeploymentManager } from './types.js'

export type Applications = Pick<DeploymentManager,
  'createApplication' | 'listApplications' | 'getApplication' | 'updateApplication' | 'deleteApplication' |
  'instances' | 'instance' | 'addInstance' | 'replicate' | 'removeInstance'>

function checkInstanceName (name: string): void {
  if (!INSTANCE_NAME.test(name)) {
    throw new InvalidInstanceError(`instance name ${JSON.stringify(name)} is invalid: use letters, digits, spaces, '-', '_' and '.', not starting or ending with a space`)
  }
}

export function createApplications (core: DmCore, sessions: AgentSessions, outbox: Outbox, machines: Machines): Applications {
  const { store, messaging } = core
  const now = (): string => new Date().toISOString()

  /** The parent a new instance goes under (none: a root, which must be a machine), checked against the graph. */
  function parentFor (application: string, components: Record<string, Component>, input: { parentPath?: string, component: string }): StoredInstanceNode | undefined {
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

  const checkProbePeriod = (application: string, ms: number): void => {
    const problem = probePeriodProblem(ms)
    if (problem !== undefined) throw new InvalidApplicationSettingError(application, 'probePeriodMs', `${problem}; e.g. 5000 for 5 s`)
  }
  const summaryOf = (record: ApplicationRecord) => summary(record, core.settings.probePeriodMs)

  return {
    createApplication (input) {
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
      return summaryOf(record)
    },

    listApplications () {
      return store.listApplications().map(summaryOf)
    },

    getApplication (name) {
      const record = core.requireApplication(name)
      return { ...summaryOf(record), instances: store.instanceTrees(name).map(view) }
    },

    updateApplication (name, settings) {
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
      return summaryOf(record)
    },

    async deleteApplication (name) {
      const template = core.templateOf(core.requireApplication(name))
      await Promise.all(store.instanceTrees(name).filter(r => isScoped(template, r)).map(r => machines.undeploy(name, r.path)))
      await messaging.deleteApplication(name)
      sessions.forgetApplication(name)
      store.deleteApplication(name)
      core.emit({ type: 'application', application: name, action: 'deleted', at: now() })
    },

    instances (application) {
      core.requireApplication(application)
      return store.instanceTrees(application).map(view)
    },

    instance (application, path) {
      core.requireApplication(application)
      return view(core.requireInstance(application, path))
    },

    addInstance (application, input) {
      const template = core.templateOf(core.requireApplication(application))
      checkInstanceName(input.name)
      if (template.components[input.component] === undefined) {
        throw new InvalidInstanceError(`component ${JSON.stringify(input.component)} is not in the graph of ${application}: use one of ${Object.keys(template.components).sort().join(', ')}`)
      }
      const parent = parentFor(application, template.components, input)
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
    },

    replicate (application, path, newName) {
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
    },

    removeInstance (application, path) {
      const template = core.templateOf(core.requireApplication(application))
      const instance = core.requireInstance(application, path)
      const deployed = flatten([instance]).find(i => i.status !== 'NOT_DEPLOYED')
      if (deployed !== undefined) throw new InstanceDeployedError(application, path, deployed.path, deployed.status)
      if (!isScoped(template, instance)) {
        const scoped = core.scopedInstanceOf(application, template, path)
        if (!hasNoMachine(scoped)) outbox.queue(application, scoped.path, toAgent({ kind: 'removeInstance', instancePath: path }))
      }
      store.deleteInstance(application, path)
    }
  }
}
