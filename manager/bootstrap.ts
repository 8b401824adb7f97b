// The agents a new agent bootstraps from: a few, so that a hundred machines starting together do not dial each other
// all, and first those it shares exports with. An agent subscribes only to the prefixes it imports, so an owner's
// announce reaches the importers it is connected to (and they forward it to the other importers): a new Tomcat that
// knows some Apaches, and a new Apache that knows some Tomcats, hear each other at once instead of at the next digest.
import { exportsByPrefix, importedPrefixes } from '../protocol/model/exports.js'
import type { Component } from '../protocol/model/types.js'

/** The prefixes an agent's components export and import. */
export interface MeshRole {
  exports: ReadonlySet<string>
  imports: ReadonlySet<string>
}

export function meshRole (components: Iterable<Component>): MeshRole {
  const exports = new Set<string>()
  const imports = new Set<string>()
  for (const component of components) {
    for (const prefix of exportsByPrefix(component.exports).keys()) exports.add(prefix)
    for (const prefix of importedPrefixes(component).keys()) imports.add(prefix)
  }
  return { exports, imports }
}

const shares = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => [...a].some(prefix => b.has(prefix))

/**
 * At most `max` of the candidates: the owners of what `role` imports, then the importers of what it exports, then
 * the others, at random within each group (a connected mesh, and no agent everybody's first pick).
 */
export function pickBootstrapPeers<T> (role: MeshRole, candidates: ReadonlyArray<{ peer: T, role: MeshRole }>, max: number,
  random: () => number = Math.random): T[] {
  const rank = (other: MeshRole): number => shares(role.imports, other.exports) ? 0 : shares(role.exports, other.imports) ? 1 : 2
  return candidates.map(c => ({ peer: c.peer, rank: rank(c.role), order: random() }))
    .sort((a, b) => a.rank - b.rank || a.order - b.order)
    .slice(0, max)
    .map(c => c.peer)
}
