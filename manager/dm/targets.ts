// Targets (where machines are made) and which one a scoped instance uses: an association (its path, its component,
// the application's default), else the template's first target this DM has a handler for, else the DM's default.
import type { ApplicationTemplate, TargetDefinition } from '../../protocol/model/types.js'
import { DEFAULT_TARGET_ID, TARGET_INSTALLER } from '../constants.js'
import { InvalidInstanceError, TargetExistsError, TargetNotFoundError, UnknownTargetHandlerError } from '../errors.js'
import type { StoredInstanceNode, TargetAssociation } from '../store.js'
import type { DmCore } from './core.js'
import { isScoped } from './model.js'
import type { DeploymentManager } from './types.js'

export interface Targets extends Pick<DeploymentManager, 'listTargets' | 'getTarget' | 'createTarget' | 'associateTarget'> {
  /** The target a scoped instance's machine is made on. */
  targetFor (application: string, template: ApplicationTemplate, instance: StoredInstanceNode): TargetDefinition
}

export function createTargets (core: DmCore): Targets {
  const { store, handlers, log } = core
  const defaultHandler = core.settings.defaultTargetHandler

  function defaultTarget (): TargetDefinition {
    return { id: DEFAULT_TARGET_ID, handler: defaultHandler, name: `default target (${defaultHandler})`, properties: {} }
  }

  const targets: Targets = {
    targetFor (application, template, instance) {
      const associations = store.targetAssociations(application)
      const byScope = (match: (a: TargetAssociation) => boolean): TargetDefinition | undefined => {
        const found = associations.find(match)
        return found === undefined ? undefined : targets.getTarget(found.targetId)
      }
      const associated = byScope(a => a.scope.kind === 'path' && a.scope.path === instance.path) ??
        byScope(a => a.scope.kind === 'component' && a.scope.component === instance.component) ??
        byScope(a => a.scope.kind === 'default')
      if (associated !== undefined) return associated
      const fromTemplate = template.targets[instance.component] ?? []
      const usable = fromTemplate.find(t => handlers.has(t.handler))
      if (usable !== undefined) return usable
      if (fromTemplate.length > 0) {
        log.warn(`${instance.path} of ${application}: the template's target(s) ${fromTemplate.map(t => `${t.id} (${t.handler})`).join(', ')} use handlers this DM does not have; using the default target (${defaultHandler})`, { application, path: instance.path })
      }
      return defaultTarget()
    },

    listTargets () {
      return [defaultTarget(), ...store.listTargets()]
    },

    getTarget (id) {
      return id === DEFAULT_TARGET_ID ? defaultTarget() : store.getTarget(id)
    },

    createTarget (target) {
      if (!handlers.has(target.handler)) throw new UnknownTargetHandlerError(target.handler, [...handlers.keys()])
      if (targets.getTarget(target.id) !== undefined) throw new TargetExistsError(target.id)
      store.putTarget(target)
      return target
    },

    associateTarget (application, input) {
      const record = core.requireApplication(application)
      if (targets.getTarget(input.targetId) === undefined) throw new TargetNotFoundError(input.targetId)
      if (input.targetId === DEFAULT_TARGET_ID) {
        // the built-in default target is virtual: it cannot be referenced by the association table
        throw new InvalidInstanceError(`the target ${DEFAULT_TARGET_ID} is the DM's built-in default and is used when nothing else is associated: associate a target you created instead`)
      }
      if (input.path !== undefined && input.component !== undefined) {
        throw new InvalidInstanceError('give either path or component, not both')
      }
      const template = core.templateOf(record)
      if (input.path !== undefined) {
        const instance = core.requireInstanceAt(application, input.path)
        if (!isScoped(template, instance)) throw new InvalidInstanceError(`${input.path} is not a machine (its component's installer is not target): targets apply to scoped instances`)
        store.associateTarget(application, { kind: 'path', path: input.path }, input.targetId)
      } else if (input.component !== undefined) {
        if (template.components[input.component]?.installer !== TARGET_INSTALLER) {
          throw new InvalidInstanceError(`${input.component} is not a machine component of ${application} (installer target): targets apply to scoped instances`)
        }
        store.associateTarget(application, { kind: 'component', component: input.component }, input.targetId)
      } else {
        store.associateTarget(application, { kind: 'default' }, input.targetId)
      }
    }
  }
  return targets
}
