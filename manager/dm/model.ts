// Pure helpers over the application model, as the DM sees it: instance trees, scoped instances, recipes, views.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { RecipeFiles } from '../../protocol/messages.js'
import type { ApplicationTemplate, Instance } from '../../protocol/model/types.js'
import { TARGET_INSTALLER } from '../constants.js'
import type { ApplicationRecord, StoredInstance } from '../store.js'
import type { ApplicationSummary, InstanceView } from './types.js'
import { probeFilesOf } from '../../protocol/model/probes.js'

/** States that mean "no machine": heartbeats and notifications for such a scoped instance are stale. */
const NO_MACHINE: ReadonlySet<InstanceStatus> = new Set(['NOT_DEPLOYED', 'UNDEPLOYING'])

/** Names an instance may have (Roboconf: letters, digits, spaces, '-', '_', '.'). */
export const INSTANCE_NAME = /^[\w.-](?:[\w .-]*[\w.-])?$/

/** Whether a scoped instance's state means it has no machine (NOT_DEPLOYED, UNDEPLOYING). */
export function hasNoMachine (scoped: Pick<Instance, 'status'>): boolean {
  return NO_MACHINE.has(scoped.status)
}

export function flatten<T extends { children: T[] }> (roots: T[]): T[] {
  const out: T[] = []
  const walk = (i: T): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

export function view (instance: StoredInstance): InstanceView {
  return {
    name: instance.name, path: instance.path, component: instance.component, status: instance.status,
    data: instance.data, overriddenExports: instance.overriddenExports,
    ...(instance.problem === undefined ? {} : { problem: instance.problem }),
    ...(instance.missingImports === undefined || instance.missingImports.length === 0 ? {} : { missingImports: instance.missingImports }),
    ...(instance.statusSince === undefined ? {} : { since: instance.statusSince }),
    children: instance.children.map(view)
  }
}

/** The application as the DM serves it; `defaultProbePeriodMs` is the DM's, for an application that sets none. */
export function summary (record: ApplicationRecord, defaultProbePeriodMs: number): ApplicationSummary {
  return {
    name: record.name, template: record.template, description: record.description, createdAt: record.createdAt,
    probePeriodMs: record.probePeriodMs ?? defaultProbePeriodMs, probePeriodIsDefault: record.probePeriodMs === undefined
  }
}

/** Whether the instance is a machine with its own agent (its component's installer is `target`). */
export function isScoped (template: ApplicationTemplate, instance: Pick<Instance, 'component'>): boolean {
  return template.components[instance.component]?.installer === TARGET_INSTALLER
}

/**
 * Recipe files of components by component name, per template: a template never changes once loaded, and every
 * machine's model and every state change carries its components' recipes, so each is encoded once.
 */
const encodedRecipes = new WeakMap<ApplicationTemplate, Map<string, RecipeFiles>>()

/** Recipe files of components (`graph/<Component>/`, or of the nearest extended component having one). Shared: read only. */
export function recipesOf (template: ApplicationTemplate, componentNames: Iterable<string>): Record<string, RecipeFiles> {
  let cache = encodedRecipes.get(template)
  if (cache === undefined) encodedRecipes.set(template, cache = new Map())
  const out: Record<string, RecipeFiles> = {}
  for (const name of componentNames) {
    if (template.components[name] === undefined || name in out) continue
    let files = cache.get(name)
    if (files === undefined) cache.set(name, files = componentRecipes(template, name))
    out[name] = files
  }
  return out
}

function componentRecipes (template: ApplicationTemplate, name: string): RecipeFiles {
  const dir = template.components[name]?.recipeDirectory
  const files: RecipeFiles = {}
  const prefix = dir === undefined ? undefined : dir.endsWith('/') ? dir : `${dir}/`
  for (const [path, content] of Object.entries(template.files)) {
    if (prefix !== undefined && path.startsWith(prefix)) files[path.slice(prefix.length)] = Buffer.from(content).toString('base64')
  }
  // probes travel with the recipes, where Roboconf's agent looks for them: <Component>.measures in its folder
  for (const file of probeFilesOf(name)) {
    const content = template.files[`probes/${file}`]
    if (content !== undefined) files[file] = Buffer.from(content).toString('base64')
  }
  return files
}

/** The subtree an agent manages: nested scoped instances removed, DM-only fields dropped. */
export function agentSubtree (template: ApplicationTemplate, instance: StoredInstance): Instance {
  return {
    name: instance.name, component: instance.component, path: instance.path, status: instance.status,
    overriddenExports: instance.overriddenExports, data: instance.data, channels: instance.channels,
    children: instance.children.filter(c => !isScoped(template, c)).map(c => agentSubtree(template, c))
  }
}

/** The components of an instance and its subtree. */
export function componentsOf (instance: Instance): Set<string> {
  return new Set(flatten([instance]).map(i => i.component))
}

/** `/a/b/c` -> `/a`, `/a/b`, `/a/b/c`: the paths of an instance's ancestors and itself, root first. */
export function ancestorPaths (path: string): string[] {
  const segments = path.split('/').filter(s => s.length > 0)
  return segments.map((_, n) => '/' + segments.slice(0, n + 1).join('/'))
}
