// Walks of the agent's instance tree.
import type { Instance } from '../../protocol/model/types.js'

/** Every instance of the subtree, parents before children. */
export function subtreeTopDown (root: Instance): Instance[] {
  const out: Instance[] = []
  const visit = (instance: Instance): void => {
    out.push(instance)
    instance.children.forEach(visit)
  }
  visit(root)
  return out
}

/** Every instance of the subtree, deepest first, the root last. */
export function subtreeDeepestFirst (root: Instance): Instance[] {
  const out: Instance[] = []
  const visit = (instance: Instance): void => {
    instance.children.forEach(visit)
    out.push(instance)
  }
  visit(root)
  return out
}
