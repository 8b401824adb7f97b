// The checks of an agent's model: a model received, an instance added.
import type { Instance } from '../../protocol/model/types.js'
import type { ScopedModel } from '../../protocol/messages.js'
import { InvalidInstanceError } from '../errors.js'

/** Every instance names a component of the graph and sits at `<parent path>/<name>`, or the model is refused. */
export function checkModel (model: ScopedModel): void {
  const visit = (instance: Instance, parentPath: string | undefined): void => {
    if (typeof instance?.path !== 'string' || typeof instance.name !== 'string' || !Array.isArray(instance.children)) {
      throw new InvalidInstanceError(String(instance?.path), 'it lacks a path, a name or children')
    }
    if (parentPath !== undefined && instance.path !== `${parentPath}/${instance.name}`) {
      throw new InvalidInstanceError(instance.path, `its path should be "${parentPath}/${instance.name}"`)
    }
    if (model.components[instance.component] === undefined) {
      throw new InvalidInstanceError(instance.path, `component "${instance.component}" is not in the application's graph`)
    }
    for (const child of instance.children) visit(child, instance.path)
  }
  visit(model.instance, undefined)
}

/** An instance (and its children) added under `parent`: each at its path, new, of a component the graph allows there. */
export function checkAddition (model: ScopedModel, byPath: ReadonlyMap<string, Instance>, instance: Instance, parent: Instance): void {
  const check = (child: Instance, under: Instance): void => {
    const expected = `${under.path}/${child.name}`
    if (child.path !== expected) throw new InvalidInstanceError(child.path, `its path should be "${expected}"`)
    if (byPath.has(child.path)) throw new InvalidInstanceError(child.path, 'an instance with this path exists')
    if (model.components[child.component] === undefined) {
      throw new InvalidInstanceError(child.path, `component "${child.component}" is not in the application's graph`)
    }
    const parentComponent = model.components[under.component]
    if (parentComponent !== undefined && !parentComponent.children.includes(child.component)) {
      throw new InvalidInstanceError(child.path,
        `component "${under.component}" cannot hold a "${child.component}" (graph children: ${parentComponent.children.join(', ') || 'none'})`)
    }
    child.children.forEach(grandChild => check(grandChild, child))
  }
  check(instance, parent)
}
