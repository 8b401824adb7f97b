// Instances files -> the instance tree (Roboconf's FromInstanceDefinition: CO_* codes, `count` expansion), and the
// instance checks of Roboconf's RuntimeModelValidator (RM_* codes).
import { isInstanceStatus } from '../lifecycle.js'
import { MAX_INSTANCES, PATTERN_FLEX_ID } from './constants.js'
import { capErrors, hasSevere, modelError } from './errors.js'
import { applyOverrides, localNameOf } from './exports.js'
import { readImportedFiles, type TextReader } from './files.js'
import type { GraphResolver } from './graph.js'
import { parseFile, type HolderBlock } from './parser.js'
import { splitList, validateBlocks } from './syntax.js'
import type { Component, Instance, ModelError } from './types.js'

/** Where an instance was declared, for error locations. Kept out of the shared Instance type. */
export const instanceSources = new WeakMap<Instance, { file: string, line: number }>()

/** A whole value in double quotes loses them: `"a;b"` -> `a;b`; anything else is kept as written. */
function unquote (value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}

/** `ip = 1.2.3.4, machine.id = x` -> { ip: '1.2.3.4', machine.id: 'x' } */
function parseInstanceData (value: string): Record<string, string> {
  const data: Record<string, string> = {}
  for (const part of splitList(value)) {
    const eq = part.indexOf('=')
    if (eq > 0) data[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return data
}

interface Declared { instance: Instance, count: number, file: string, line: number, children: Declared[] }

class TooManyInstances extends Error {
  constructor () { super('too many instances'); this.name = 'TooManyInstances' }
}

class InstanceBuilder {
  readonly errors: ModelError[] = []
  private total = 0

  constructor (private readonly components: Record<string, Component> | ReadonlySet<string>) {}

  private exists (component: string): boolean {
    return this.components instanceof Set ? this.components.has(component) : Object.hasOwn(this.components, component)
  }

  declare (holder: HolderBlock, file: string): Declared | undefined {
    if (!this.exists(holder.name)) {
      this.errors.push(modelError('CO_INEXISTING_COMPONENT', file, holder.line, holder.name))
      return undefined
    }
    const instance: Instance = { name: '', component: holder.name, path: '', overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }
    let count = 1
    const children: Declared[] = []
    for (const block of holder.inner) {
      if (block.kind === 'instance') {
        const child = this.declare(block, file)
        if (child !== undefined) children.push(child)
        continue
      }
      if (block.kind !== 'property') continue
      const { name, value } = block
      if (name === 'name') instance.name = value
      else if (name === 'count') count = Number(value)
      else if (name === 'channels') instance.channels.push(...splitList(value).filter(s => s !== ''))
      else if (name === 'instance-data') Object.assign(instance.data, parseInstanceData(value))
      else if (name === 'instance-state') { const state = value.trim(); if (isInstanceStatus(state)) instance.status = state }
      else if (name.toLowerCase().startsWith('data.') && name.length > 5) instance.data[name.slice(5)] = unquote(value)
      else instance.overriddenExports[name] = unquote(value)
    }
    instanceSources.set(instance, { file, line: holder.line })
    return { instance, count: Number.isInteger(count) && count > 1 ? count : 1, file, line: holder.line, children }
  }

  /** Builds the siblings of one level: duplicates, then `count` copies (deepest levels first), then paths. */
  build (siblings: Declared[]): Instance[] {
    const byName = new Map<string, Declared[]>()
    for (const d of siblings) {
      d.instance.children = this.build(d.children)
      const list = byName.get(d.instance.name)
      if (list === undefined) byName.set(d.instance.name, [d])
      else list.push(d)
    }
    for (const [name, list] of byName) {
      if (list.length > 1) for (const d of list) this.errors.push(modelError('CO_ALREADY_DEFINED_INSTANCE', d.file, d.line, name))
    }
    // As in Roboconf: the first copy keeps the declaration (renamed `name1`), the other copies must not clash with
    // a sibling that exists at that point; a clashing copy is reported and dropped.
    const result: Instance[] = []
    const names = new Map<string, number>()
    const addName = (name: string): void => { names.set(name, (names.get(name) ?? 0) + 1) }
    for (const d of siblings) addName(d.instance.name)
    for (const d of siblings) {
      this.total += d.count * (1 + countInstances(d.instance.children))
      if (this.total > MAX_INSTANCES) throw new TooManyInstances()
      result.push(d.instance)
      if (d.count === 1) continue
      const digits = String(d.count).length
      const base = d.instance.name
      for (let i = 2; i <= d.count; i++) {
        const copy = cloneInstance(d.instance)
        copy.name = base + String(i).padStart(digits, '0')
        if (names.has(copy.name)) {
          this.errors.push(modelError('CO_CONFLICTING_INFERRED_INSTANCE', d.file, d.line, copy.name))
          continue
        }
        addName(copy.name)
        result.push(copy)
      }
      names.set(base, (names.get(base) ?? 1) - 1)
      if (names.get(base) === 0) names.delete(base)
      d.instance.name = base + String(1).padStart(digits, '0')
      addName(d.instance.name)
    }
    return result
  }

  tooMany (file: string): void {
    this.errors.push(modelError('MC_TOO_MANY_INSTANCES', file, undefined, String(MAX_INSTANCES)))
  }
}

function countInstances (instances: Instance[]): number {
  let n = 0
  const todo = [...instances]
  while (todo.length > 0) {
    n++
    todo.push(...todo.pop()!.children)
  }
  return n
}

function cloneInstance (instance: Instance): Instance {
  const copy: Instance = {
    ...instance,
    overriddenExports: { ...instance.overriddenExports },
    data: { ...instance.data },
    channels: [...instance.channels],
    children: instance.children.map(cloneInstance)
  }
  const source = instanceSources.get(instance)
  if (source !== undefined) instanceSources.set(copy, source)
  return copy
}

/** Sets `path` on every instance of the trees (`/VM 1/Tomcat`). */
export function assignPaths (roots: Instance[], parentPath = ''): void {
  for (const instance of roots) {
    instance.path = `${parentPath}/${instance.name}`
    assignPaths(instance.children, instance.path)
  }
}

export interface InstancesLoadResult { rootInstances: Instance[], errors: ModelError[], files: string[] }

/** Reads the instances entry point and the files it imports (resolved from instances/) and builds the trees. */
export function loadInstances (entryPoint: string, read: TextReader, components: Record<string, Component>): InstancesLoadResult {
  const { definitions, errors, files } = readImportedFiles(entryPoint, 'instances', read, ['instances', 'aggregator', 'empty'], 'CO_NOT_INSTANCES')
  const declarations = definitions.flatMap(d => d.blocks.filter((b): b is HolderBlock => b.kind === 'instance').map(holder => ({ holder, file: d.file })))
  if (hasSevere(errors)) return { rootInstances: [], errors, files }
  const built = buildInstances(declarations, components)
  return { rootInstances: built.rootInstances, errors: [...errors, ...built.errors], files }
}

function buildInstances (declarations: Array<{ holder: HolderBlock, file: string }>,
  components: Record<string, Component> | ReadonlySet<string>): { rootInstances: Instance[], errors: ModelError[] } {
  const builder = new InstanceBuilder(components)
  const declared = declarations.map(d => builder.declare(d.holder, d.file)).filter((d): d is Declared => d !== undefined)
  let rootInstances: Instance[] = []
  try {
    rootInstances = builder.build(declared)
  } catch (err) {
    if (!(err instanceof TooManyInstances)) throw err
    builder.tooMany(declarations[0]?.file ?? 'instances')
    return { rootInstances: [], errors: builder.errors }
  }
  assignPaths(rootInstances)
  return { rootInstances, errors: builder.errors }
}

/**
 * Parses instances text on its own (no imports followed), e.g. the DM's persisted runtime instances with
 * `instance-state` and `instance-data`. `components` lists the known components (resolved, or just their names).
 */
export function parseInstances (text: string, components: Record<string, Component> | ReadonlySet<string>,
  file = 'instances/runtime.instances'): { rootInstances: Instance[], errors: ModelError[] } {
  const definition = parseFile(text, file)
  const errors = capErrors([...definition.errors, ...validateBlocks(definition)], file)
  if (!['instances', 'empty'].includes(definition.kind)) errors.push(modelError('CO_NOT_INSTANCES', file, undefined, file))
  if (hasSevere(errors)) return { rootInstances: [], errors }
  const built = buildInstances(definition.blocks.filter((b): b is HolderBlock => b.kind === 'instance').map(holder => ({ holder, file })), components)
  return { rootInstances: built.rootInstances, errors: [...errors, ...built.errors] }
}

/** RM_* checks of the instances (Roboconf's RuntimeModelValidator.validate(Instance)). */
export function validateInstances (roots: Instance[], components: Record<string, Component>, resolver: GraphResolver): ModelError[] {
  const errors: ModelError[] = []
  const visit = (instance: Instance, parent: Instance | undefined): void => {
    const source = instanceSources.get(instance)
    const at = (code: string, detail: string): void => { errors.push(modelError(code, source?.file, source?.line, detail)) }
    if (instance.name.trim() === '') at('RM_EMPTY_INSTANCE_NAME', instance.path)
    else if (!PATTERN_FLEX_ID.test(instance.name)) at('RM_INVALID_INSTANCE_NAME', instance.name)
    const component = components[instance.component]
    if (component === undefined) at('RM_EMPTY_INSTANCE_COMPONENT', instance.path)
    else {
      const ancestors = resolver.ancestorsSet(instance.component)
      if (parent === undefined && ancestors.size > 0) at('RM_MISSING_INSTANCE_PARENT', instance.path)
      else if (parent !== undefined && (!ancestors.has(parent.component) || !resolver.childrenSet(parent.component).has(instance.component))) {
        at('RM_INVALID_INSTANCE_PARENT', instance.path)
      }
      const outcome = applyOverrides(component.exports, instance.overriddenExports)
      for (const name of outcome.magic) at('RM_MAGIC_INSTANCE_VARIABLE', name)
      for (const name of outcome.ambiguous) at('RM_AMBIGUOUS_OVERRIDING', name)
      const random = new Set(component.randomExports)
      for (const [name, value] of Object.entries(outcome.exports)) {
        if (value !== null && value.trim() !== '') continue
        if (name.toLowerCase() === 'ip' || name.toLowerCase().endsWith('.ip') || random.has(name)) continue
        // A random variable overridden by its local name is still random
        if (component.randomExports.some(r => localNameOf(r) === name)) continue
        at('RM_MISSING_VARIABLE_VALUE', name)
      }
    }
    for (const child of instance.children) visit(child, instance)
  }
  for (const root of roots) visit(root, undefined)
  return errors
}

/** Every instance of the trees, parents before children. */
export function allInstances (roots: Instance[]): Instance[] {
  const result: Instance[] = []
  const todo = [...roots].reverse()
  while (todo.length > 0) {
    const i = todo.pop()!
    result.push(i)
    for (let k = i.children.length - 1; k >= 0; k--) todo.push(i.children[k])
  }
  return result
}
