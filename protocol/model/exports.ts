// Instance-level export and import rules (reference §4.1–4.3): what an instance exports, which prefixes it
// publishes and needs, and what it keeps of an exporter's variables.
import type { Component, ImportedVariable, Instance } from './types.js'

/** `Tomcat.ip` -> `Tomcat`; a name without a dot has no prefix. */
export function prefixOf (variable: string): string | undefined {
  const dot = variable.indexOf('.')
  return dot > 0 ? variable.slice(0, dot) : undefined
}

/** `Tomcat.ip` -> `ip`; a name without a dot is its own local name. */
export function localNameOf (variable: string): string {
  const dot = variable.indexOf('.')
  return dot >= 0 ? variable.slice(dot + 1) : variable
}

/** `/VM 1/Tomcat` -> `VM_1_Tomcat` (Roboconf's clean path: no leading slash, non-word characters as `_`). */
export function cleanInstancePath (path: string): string {
  return path.replace(/^\/+/, '').replace(/\W/g, '_')
}

/** `/VM 1/Tomcat` -> `Tomcat_VM_1` (segments reversed, then cleaned). */
export function cleanReversedInstancePath (path: string): string {
  return path.split('/').filter(s => s.length > 0).reverse().map(s => s.replace(/\W/g, '_')).join('_')
}

/** Replaces the `$(ROBOCONF_…)` meta variables an export value may carry. */
export function expandMetaVariables (value: string, instance: Pick<Instance, 'name' | 'path' | 'component'>): string {
  return value
    .replaceAll('$(ROBOCONF_INSTANCE_NAME)', instance.name)
    .replaceAll('$(ROBOCONF_INSTANCE_PATH)', instance.path)
    .replaceAll('$(ROBOCONF_CLEAN_INSTANCE_PATH)', cleanInstancePath(instance.path))
    .replaceAll('$(ROBOCONF_CLEAN_REVERSED_INSTANCE_PATH)', cleanReversedInstancePath(instance.path))
    .replaceAll('$(ROBOCONF_COMPONENT_NAME)', instance.component)
}

export interface OverrideOutcome {
  exports: Record<string, string | null>
  /** Local names that matched several inherited variables (RM_AMBIGUOUS_OVERRIDING). */
  ambiguous: string[]
  /** Names that matched no variable of the component (RM_MAGIC_INSTANCE_VARIABLE). */
  magic: string[]
}

/**
 * Applies an instance's overridden exports to its component's exports (Roboconf's InstanceHelpers
 * .findAllExportedVariables): a name that is the local name (after the first dot) of one variable overrides it; of
 * several, overrides them all and is kept as written too; of none, is kept as written (so a full name overrides its
 * variable). The warnings are RuntimeModelValidator's: a full name of the component is no warning; otherwise no match
 * is RM_MAGIC_INSTANCE_VARIABLE and several are RM_AMBIGUOUS_OVERRIDING.
 */
export function applyOverrides (componentExports: Record<string, string | null>,
  overrides: Record<string, string>): OverrideOutcome {
  const exports = { ...componentExports }
  const ambiguous: string[] = []
  const magic: string[] = []
  const byLocalName = new Map<string, string[]>()
  for (const full of Object.keys(componentExports)) {
    const local = localNameOf(full)
    byLocalName.set(local, [...(byLocalName.get(local) ?? []), full])
  }
  for (const [name, value] of Object.entries(overrides)) {
    const matches = byLocalName.get(name) ?? []
    for (const full of matches) exports[full] = value
    if (matches.length !== 1) exports[name] = value
    if (name in componentExports) continue
    if (matches.length === 0) magic.push(name)
    if (matches.length > 1) ambiguous.push(name)
  }
  return { exports, ambiguous, magic }
}

/**
 * The variables an instance exports: component defaults, instance overrides, meta variables expanded, and every
 * variable whose local name is `ip` (any case) set to `ipAddress` (the root instance's `ip.address`).
 */
export function instanceExports (component: Component, instance: Instance,
  ipAddress?: string | null): Record<string, string | null> {
  const { exports } = applyOverrides(component.exports, instance.overriddenExports)
  for (const [name, value] of Object.entries(exports)) {
    if (localNameOf(name).toLowerCase() === 'ip' && ipAddress != null) exports[name] = ipAddress
    else if (value != null) exports[name] = expandMetaVariables(value, instance)
  }
  return exports
}

/** The prefixes an instance publishes: one group per prefix found in its exported variables. */
export function exportsByPrefix (exports: Record<string, string | null>): Map<string, Record<string, string | null>> {
  const groups = new Map<string, Record<string, string | null>>()
  for (const [name, value] of Object.entries(exports)) {
    const prefix = prefixOf(name)
    if (prefix === undefined) continue
    let group = groups.get(prefix)
    if (group === undefined) groups.set(prefix, group = {})
    group[name] = value
  }
  return groups
}

/** The prefixes a component imports; a prefix is mandatory when at least one of its imports is not optional. */
export function importedPrefixes (component: Pick<Component, 'imports'>): Map<string, { optional: boolean }> {
  const prefixes = new Map<string, { optional: boolean }>()
  for (const imported of component.imports) {
    const prefix = prefixOf(imported.name)
    if (prefix === undefined) continue
    const known = prefixes.get(prefix)
    prefixes.set(prefix, { optional: (known?.optional ?? true) && imported.optional })
  }
  return prefixes
}

/** Keeps, of an exporter's variables for `prefix`, only those the importing component imports (reference §4.3). */
export function tailorImport (imports: readonly ImportedVariable[], prefix: string,
  variables: Record<string, string | null>): Record<string, string | null> {
  const wanted = imports.filter(i => prefixOf(i.name) === prefix)
  if (wanted.some(i => i.name === `${prefix}.*`)) return { ...variables }
  const tailored: Record<string, string | null> = {}
  for (const { name } of wanted) if (name in variables) tailored[name] = variables[name]
  return tailored
}

/** What an instance takes part in on the mesh: the prefixes it publishes and the prefixes it needs (§4.2). */
export interface InstanceDependencies {
  publishes: string[]
  /** Needed prefixes; `optional` when every import of that prefix is optional. */
  needs: Array<{ prefix: string, optional: boolean, external: boolean }>
}

export function instanceDependencies (component: Component, instance: Instance): InstanceDependencies {
  const publishes = [...exportsByPrefix(instanceExports(component, instance)).keys()]
  const needs = [...importedPrefixes(component)].map(([prefix, { optional }]) => ({
    prefix,
    optional,
    external: component.imports.some(i => i.external && prefixOf(i.name) === prefix)
  }))
  return { publishes, needs }
}
