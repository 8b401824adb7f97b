// What the DM says about the things operators name: a template's content and users, a target's users, deleting a
// target, renaming an instance (Roboconf's `Rename /path as name`): the verbs `meshconf template|target|instance`
// and their REST routes need.
import type { ModelError, TargetDefinition } from '../../protocol/model/types.js'
import { DATA_TARGET_ID, DEFAULT_TARGET_ID } from '../constants.js'
import {
  BuiltInTargetError, InstanceDeployedError, InstanceExistsError, InvalidInstanceError, TargetInUseError,
  TargetNotFoundError, TemplateNotFoundError
} from '../errors.js'
import type { Store, StoredInstance, TargetAssociation, TargetScope } from '../store.js'
import type { TargetUsage, TemplateDetails } from '../dto.js'
import type { DmCore } from './core.js'
import { INSTANCE_NAME, view } from './model.js'
import type { DeploymentManager } from './types.js'

export { INSTANCE_NAME } from './model.js'

export type { TemplateDetails, TargetUsage } from '../dto.js'

export function templateDetails (store: Store, name: string, version: string): TemplateDetails {
  const stored = store.getTemplate(name, version)
  if (stored === undefined) throw new TemplateNotFoundError(name, version)
  const template = stored.template
  const paths: string[] = []
  const walk = (i: { path: string, children: Array<{ path: string, children: unknown[] }> }): void => {
    paths.push(i.path)
    for (const c of i.children as Array<{ path: string, children: Array<{ path: string, children: unknown[] }> }>) walk(c)
  }
  for (const root of template.rootInstances) walk(root)
  return {
    name, version, ...(stored.description !== undefined ? { description: stored.description } : {}), createdAt: stored.createdAt,
    components: Object.values(template.components).sort((a, b) => a.name.localeCompare(b.name)).map(c => ({
      name: c.name, installer: c.installer, exports: Object.keys(c.exports ?? {}), imports: c.imports.map(i => i.name), children: c.children ?? []
    })),
    instances: paths,
    warnings: stored.errors,
    applications: store.applicationsUsingTemplate(name, version)
  }
}

/** `LAMP (application default)`, `LAMP /Apache VM`, `LAMP component Tomcat` */
function scopeLabel (application: string, scope: TargetScope): string {
  switch (scope.kind) {
    case 'default': return `${application} (application default)`
    case 'path': return `${application} ${scope.path}`
    case 'component': return `${application} component ${scope.component}`
  }
}

export function targetUsage (store: Store, id: string): TargetUsage {
  const associations = store.targetAssociationsOf(id).map(a => ({ application: a.application, scope: a.scope, label: scopeLabel(a.application, a.scope) }))
  const machines: TargetUsage['machines'] = []
  for (const app of store.listApplications()) {
    for (const root of store.instanceTrees(app.name)) {
      const status = root.status
      if (root.data[DATA_TARGET_ID] === id && status !== 'NOT_DEPLOYED') machines.push({ application: app.name, path: root.path, status })
    }
  }
  return { associations, machines }
}

/** A target and what uses it; the built-in default comes from `builtIn`. */
export function targetDetails (store: Store, id: string, builtIn: TargetDefinition): TargetDefinition & TargetUsage {
  const target = id === DEFAULT_TARGET_ID ? builtIn : store.getTarget(id)
  if (target === undefined) throw new TargetNotFoundError(id)
  return { ...target, ...targetUsage(store, id) }
}

/** Deletes a target no association and no machine uses (Roboconf: a target in use cannot be deleted). */
export function deleteTarget (store: Store, id: string): void {
  if (id === DEFAULT_TARGET_ID) throw new BuiltInTargetError(id)
  if (store.getTarget(id) === undefined) throw new TargetNotFoundError(id)
  const usage = targetUsage(store, id)
  const users = [
    ...usage.machines.map(m => `machine ${m.path} of ${m.application} (${m.status})`),
    ...usage.associations.map(a => `association ${a.label}`)
  ]
  if (users.length > 0) throw new TargetInUseError(id, users)
  store.deleteTarget(id)
}

function flatten (roots: StoredInstance[]): StoredInstance[] {
  const out: StoredInstance[] = []
  const walk = (i: StoredInstance): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

/**
 * Renames an instance as Roboconf's `Rename /path as newName`: the name must be valid and free among its
 * siblings, and the whole subtree NOT_DEPLOYED (a deployed instance's agent and peers know it by its path).
 * Returns the renamed instance's new path.
 */
export function renameInstance (store: Store, application: string, path: string, newName: string): string {
  const instance = store.getInstance(application, path)
  if (instance === undefined) return path // the caller checked it exists
  if (!INSTANCE_NAME.test(newName)) {
    throw new InvalidInstanceError(`instance name ${JSON.stringify(newName)} is invalid: use letters, digits, spaces, '-', '_' and '.', not starting or ending with a space`)
  }
  if (newName === instance.name) return path
  const newPath = `${path.slice(0, path.lastIndexOf('/'))}/${newName}`
  if (store.getInstance(application, newPath) !== undefined) throw new InstanceExistsError(application, newPath)
  const deployed = flatten([instance]).find(i => i.status !== 'NOT_DEPLOYED')
  if (deployed !== undefined) throw new InstanceDeployedError(application, path, deployed.path, deployed.status, 'rename')
  return store.renameInstance(application, path, newName)
}

export type Catalog = Pick<DeploymentManager, 'getTemplate' | 'renameInstance' | 'targetDetails' | 'deleteTarget' | 'targetAssociations'>

/** The DM's methods over these functions; `builtIn` gives the DM's default target. */
export function createCatalog (core: DmCore, builtIn: () => TargetDefinition): Catalog {
  const { store } = core
  return {
    getTemplate: (name, version) => templateDetails(store, name, version),
    renameInstance (application, path, newName) {
      core.requireApplication(application)
      core.requireInstanceAt(application, path)
      const newPath = renameInstance(store, application, path, newName)
      if (newPath !== path) core.emit({ type: 'instance', application, path: newPath, status: 'NOT_DEPLOYED', at: new Date().toISOString() })
      return view(core.requireInstance(application, newPath))
    },
    targetDetails: (id) => targetDetails(store, id, builtIn()),
    deleteTarget: (id) => { deleteTarget(store, id) },
    targetAssociations (application): TargetAssociation[] {
      core.requireApplication(application)
      return store.targetAssociations(application)
    }
  }
}
