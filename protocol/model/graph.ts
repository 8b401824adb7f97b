// Graph files -> component and facet definitions (Roboconf's FromGraphDefinition: CO_* codes), the resolved
// components of §4.1 (inherited installer, exports with facet and extension replication, imports), and the graph
// checks of Roboconf's RuntimeModelValidator (RM_* codes).
import { PATTERN_FLEX_ID, RANDOM_KINDS, TARGET_INSTALLER } from './constants.js'
import { modelError } from './errors.js'
import { localNameOf, prefixOf } from './exports.js'
import { readImportedFiles, type TextReader } from './files.js'
import type { HolderBlock } from './parser.js'
import { listProperty, parseExports, parseImport, properties, type ExportDeclaration } from './syntax.js'
import type { Component, ImportedVariable, ModelError } from './types.js'

/** A component or facet as declared in a graph file. */
export interface TypeDefinition {
  kind: 'component' | 'facet'
  name: string
  file: string
  line: number
  /** Comment lines right above the declaration (no blank line in between), without '#'. */
  description?: string
  installer?: string
  exports: ExportDeclaration[]
  imports: ImportedVariable[]
  children: string[]
  /** Component: at most one name; facet: several. */
  extends: string[]
  facets: string[]
}

export interface GraphDefinition {
  components: Map<string, TypeDefinition>
  facets: Map<string, TypeDefinition>
}

export interface GraphLoadResult {
  graph: GraphDefinition
  errors: ModelError[]
  /** Files read, relative to the template root, in reading order. */
  files: string[]
}

function description (blocks: HolderBlock['inner'], index: number): string | undefined {
  const lines: string[] = []
  for (let i = index - 1; i >= 0 && blocks[i].kind === 'comment'; i--) lines.unshift((blocks[i] as { text: string }).text.trim())
  if (lines.length === 0) return undefined
  return lines.join('\n').replace(/#\s*/g, '').trim()
}

function toDefinition (holder: HolderBlock, file: string, annotation: string | undefined): TypeDefinition {
  const exports: ExportDeclaration[] = []
  for (const p of properties(holder, 'exports')) exports.push(...parseExports(p.value, file, p.line).variables)
  const imports = listProperty(holder, 'imports').map(parseImport)
  const definition: TypeDefinition = {
    kind: holder.kind === 'facet' ? 'facet' : 'component',
    name: holder.name,
    file,
    line: holder.line,
    exports,
    imports,
    children: listProperty(holder, 'children'),
    extends: listProperty(holder, 'extends'),
    facets: listProperty(holder, 'facets')
  }
  const installer = properties(holder, 'installer')[0]?.value
  if (installer !== undefined) definition.installer = installer
  if (annotation !== undefined) definition.description = annotation
  return definition
}

/**
 * Reads the graph entry point and the files it imports (resolved from graph/), then builds and cross-checks the
 * definitions. Checks after parsing run only when every file parsed without error, as in Roboconf.
 */
export function loadGraph (entryPoint: string, read: TextReader): GraphLoadResult {
  const { definitions, errors, files } = readImportedFiles(entryPoint, 'graph', read, ['graph', 'aggregator', 'empty'], 'CO_NOT_A_GRAPH')
  const declared = { components: new Map<string, TypeDefinition[]>(), facets: new Map<string, TypeDefinition[]>() }
  for (const definition of definitions) {
    definition.blocks.forEach((block, index) => {
      if (block.kind !== 'component' && block.kind !== 'facet') return
      const def = toDefinition(block, definition.file, description(definition.blocks, index))
      const map = block.kind === 'component' ? declared.components : declared.facets
      const list = map.get(def.name)
      if (list === undefined) map.set(def.name, [def])
      else list.push(def)
    })
  }

  const graph: GraphDefinition = { components: new Map(), facets: new Map() }
  for (const [name, list] of declared.components) graph.components.set(name, list[0])
  for (const [name, list] of declared.facets) graph.facets.set(name, list[0])
  if (errors.length > 0) return { graph, errors, files }

  for (const [name, list] of declared.components) {
    const facets = declared.facets.get(name)
    if (facets === undefined) continue
    for (const d of [...list, ...facets]) errors.push(modelError('CO_CONFLICTING_NAME', d.file, d.line, name))
  }
  if (errors.length > 0) return { graph, errors, files }
  for (const [name, list] of declared.components) {
    if (list.length > 1) for (const d of list) errors.push(modelError('CO_ALREADY_DEFINED_COMPONENT', d.file, d.line, name))
  }
  for (const [name, list] of declared.facets) {
    if (list.length > 1) for (const d of list) errors.push(modelError('CO_ALREADY_DEFINED_FACET', d.file, d.line, name))
  }
  if (errors.length > 0) return { graph, errors, files }

  for (const c of graph.components.values()) {
    const parent = c.extends[0]
    if (parent !== undefined && !graph.components.has(parent)) errors.push(modelError('CO_INEXISTING_COMPONENT', c.file, c.line, parent))
    for (const f of new Set(c.facets)) if (!graph.facets.has(f)) errors.push(modelError('CO_INEXISTING_FACET', c.file, c.line, f))
    for (const child of new Set(c.children)) {
      if (!graph.components.has(child) && !graph.facets.has(child)) errors.push(modelError('CO_INEXISTING_CHILD', c.file, c.line, child))
    }
  }
  if (errors.length > 0) return { graph, errors, files }
  for (const f of graph.facets.values()) {
    for (const e of new Set(f.extends)) if (!graph.facets.has(e)) errors.push(modelError('CO_INEXISTING_FACET', f.file, f.line, e))
    for (const child of new Set(f.children)) {
      if (!graph.components.has(child) && !graph.facets.has(child)) errors.push(modelError('CO_INEXISTING_CHILD', f.file, f.line, child))
    }
  }
  return { graph, errors, files }
}

interface ResolvedVariable { value: string | null, randomKind?: string }

/** Resolution of a graph's components (reference §4.1), memoised: the graph must not change afterwards. */
export class GraphResolver {
  private readonly exportsCache = new Map<string, Map<string, ResolvedVariable>>()
  private readonly facetExportsCache = new Map<string, Map<string, ResolvedVariable>>()
  private childrenCache?: Map<string, Set<string>>
  private ancestorsCache?: Map<string, Set<string>>
  private readonly chainCache = new Map<string, TypeDefinition[]>()
  private readonly facetsCache = new Map<string, Set<string>>()
  private extendersCache?: Map<string, string[]>
  private bearersCache?: Map<string, string[]>

  constructor (readonly graph: GraphDefinition) {}

  /** The component and the components it extends, nearest first (inheritance cycles cut). */
  extendsChain (name: string): TypeDefinition[] {
    const cached = this.chainCache.get(name)
    if (cached !== undefined) return [...cached]
    const chain: TypeDefinition[] = []
    for (let c = this.graph.components.get(name); c !== undefined && !chain.includes(c); c = this.graph.components.get(c.extends[0] ?? '')) chain.push(c)
    this.chainCache.set(name, chain)
    return [...chain]
  }

  /** A facet's extended facets, transitively (cycles cut; the facet itself appears only in a cycle). */
  extendedFacets (name: string): Set<string> {
    const result = new Set<string>()
    const todo = [...(this.graph.facets.get(name)?.extends ?? [])]
    while (todo.length > 0) {
      const f = todo.pop()!
      if (result.has(f)) continue
      result.add(f)
      todo.push(...(this.graph.facets.get(f)?.extends ?? []))
    }
    return result
  }

  /** Facets of a component: declared, inherited through extends, and the facets they extend. */
  allFacets (name: string): Set<string> {
    const cached = this.facetsCache.get(name)
    if (cached !== undefined) return cached
    const result = new Set<string>()
    for (const c of this.extendsChain(name)) {
      for (const f of c.facets) {
        if (result.has(f)) continue
        result.add(f)
        for (const e of this.extendedFacets(f)) result.add(e)
      }
    }
    this.facetsCache.set(name, result)
    return result
  }

  installer (name: string): string | undefined {
    return this.extendsChain(name).find(c => c.installer !== undefined)?.installer
  }

  private facetExports (name: string, visiting = new Set<string>()): Map<string, ResolvedVariable> {
    const cached = this.facetExportsCache.get(name)
    if (cached !== undefined) return cached
    const result = new Map<string, ResolvedVariable>()
    const facet = this.graph.facets.get(name)
    if (facet === undefined || visiting.has(name)) return result
    visiting.add(name)
    for (const e of facet.extends) for (const [k, v] of this.facetExports(e, visiting)) result.set(k, v)
    // A facet's own variable overrides only an inherited one of exactly that name; otherwise it takes the facet's prefix
    for (const d of facet.exports) {
      const key = result.has(d.name) ? d.name : prefixed(name, d.name)
      result.set(key, resolvedVariable(d))
    }
    visiting.delete(name)
    if (visiting.size === 0) this.facetExportsCache.set(name, result)
    return result
  }

  private resolvedExports (name: string, visiting = new Set<string>()): Map<string, ResolvedVariable> {
    const cached = this.exportsCache.get(name)
    if (cached !== undefined) return cached
    const result = new Map<string, ResolvedVariable>()
    const component = this.graph.components.get(name)
    if (component === undefined || visiting.has(name)) return result
    visiting.add(name)
    // Facet values first, then the extended component's, then the component's own (reference §4.1)
    for (const f of component.facets) for (const [k, v] of this.facetExports(f)) result.set(k, v)
    const parent = component.extends[0]
    if (parent !== undefined) for (const [k, v] of this.resolvedExports(parent, visiting)) result.set(k, v)
    // An own variable sets the inherited one of exactly its name, else its prefixed name, and every inherited one
    // whose name after the first dot is its name (`port` sets `A.port`; `http.port` sets `web.http.port`)
    const own = new Map<string, ResolvedVariable>()
    for (const d of component.exports) {
      const variable = resolvedVariable(d)
      own.set(result.has(d.name) ? d.name : prefixed(name, d.name), variable)
      for (const k of result.keys()) if (localNameOf(k) === d.name) own.set(k, variable)
    }
    for (const [k, v] of own) result.set(k, v)
    // Then every inherited variable is also published under the component's own prefix, with its final value
    for (const [k, v] of [...result]) {
      const replica = `${name}.${localNameOf(k)}`
      if (prefixOf(k) !== name && !result.has(replica)) result.set(replica, v)
    }
    visiting.delete(name)
    if (visiting.size === 0) this.exportsCache.set(name, result)
    return result
  }

  exports (name: string): Record<string, string | null> {
    return Object.fromEntries([...this.resolvedExports(name)].map(([k, v]) => [k, v.value]))
  }

  randomExports (name: string): string[] {
    return [...this.resolvedExports(name)].filter(([, v]) => v.randomKind !== undefined).map(([k]) => k)
  }

  /** Imported variables, ancestors first so that a re-declaration overrides the flags. */
  imports (name: string): ImportedVariable[] {
    const result = new Map<string, ImportedVariable>()
    for (const c of this.extendsChain(name).reverse()) for (const i of c.imports) result.set(i.name, { ...i })
    return [...result.values()]
  }

  /** Components a type's `children` entry designates: a component and its extenders, or every bearer of a facet. */
  private expandChild (child: string): string[] {
    if (this.extendersCache === undefined || this.bearersCache === undefined) {
      const extenders = new Map<string, string[]>()
      const bearers = new Map<string, string[]>()
      const push = (map: Map<string, string[]>, key: string, value: string): void => {
        const list = map.get(key)
        if (list === undefined) map.set(key, [value])
        else list.push(value)
      }
      for (const n of this.graph.components.keys()) {
        for (const c of this.extendsChain(n)) push(extenders, c.name, n)
        for (const f of this.allFacets(n)) push(bearers, f, n)
      }
      this.extendersCache = extenders
      this.bearersCache = bearers
    }
    return (this.graph.components.has(child) ? this.extendersCache.get(child) : this.bearersCache.get(child)) ?? []
  }

  /** Possible children of every component (declared on it, on the components it extends and on its facets). */
  private childrenMap (): Map<string, Set<string>> {
    if (this.childrenCache !== undefined) return this.childrenCache
    const expanded = new Map<string, string[]>()
    const expand = (child: string): string[] => {
      let list = expanded.get(child)
      if (list === undefined) expanded.set(child, list = this.expandChild(child))
      return list
    }
    const map = new Map<string, Set<string>>()
    for (const name of this.graph.components.keys()) {
      const children = new Set<string>()
      const declarations = [...this.extendsChain(name).flatMap(c => c.children),
        ...[...this.allFacets(name)].flatMap(f => this.graph.facets.get(f)?.children ?? [])]
      for (const child of declarations) for (const c of expand(child)) children.add(c)
      map.set(name, children)
    }
    return (this.childrenCache = map)
  }

  children (name: string): string[] {
    return [...this.childrenSet(name)]
  }

  /** Possible children of a component, as a set (do not modify). */
  childrenSet (name: string): ReadonlySet<string> {
    return this.childrenMap().get(name) ?? new Set()
  }

  ancestors (name: string): string[] {
    return [...this.ancestorsSet(name)]
  }

  /** Possible parents of a component, as a set (do not modify). */
  ancestorsSet (name: string): ReadonlySet<string> {
    if (this.ancestorsCache === undefined) {
      const map = new Map<string, Set<string>>()
      for (const n of this.graph.components.keys()) map.set(n, new Set())
      for (const [parent, children] of this.childrenMap()) for (const child of children) map.get(child)?.add(parent)
      this.ancestorsCache = map
    }
    return this.ancestorsCache.get(name) ?? new Set()
  }

  component (name: string): Component {
    const chain = this.extendsChain(name)
    const component: Component = {
      name,
      installer: this.installer(name) ?? '',
      exports: this.exports(name),
      randomExports: this.randomExports(name),
      imports: this.imports(name),
      facets: [...this.allFacets(name)],
      extendsChain: chain.slice(1).map(c => c.name),
      children: this.children(name)
    }
    return component
  }

  components (): Record<string, Component> {
    const result: Record<string, Component> = {}
    for (const name of this.graph.components.keys()) result[name] = this.component(name)
    return result
  }

  /** Components Roboconf validates: those connected to a root component. */
  private reachableComponents (roots: string[]): string[] {
    const result = new Set<string>()
    const todo = [...roots]
    while (todo.length > 0) {
      const n = todo.pop()!
      if (result.has(n)) continue
      result.add(n)
      todo.push(...this.extendsChain(n).map(c => c.name), ...this.childrenSet(n), ...this.ancestorsSet(n), ...this.expandChild(n))
    }
    return [...result]
  }

  private hasContainmentCycle (name: string): boolean {
    const seen = new Set<string>()
    const todo = [...this.childrenSet(name)]
    while (todo.length > 0) {
      const n = todo.pop()!
      if (n === name) return true
      if (seen.has(n)) continue
      seen.add(n)
      todo.push(...this.childrenSet(n))
    }
    return false
  }

  /** RM_* checks of the graph (Roboconf's RuntimeModelValidator.validate(Graphs)). */
  validate (): ModelError[] {
    const errors: ModelError[] = []
    const { components, facets } = this.graph
    const roots = [...components.keys()].filter(n => this.ancestorsSet(n).size === 0)
    if (roots.length === 0) errors.push(modelError('RM_NO_ROOT_COMPONENT', undefined, undefined))

    const exported = new Set<string>()
    const importers = new Map<string, TypeDefinition[]>()
    for (const name of this.reachableComponents(roots)) {
      const c = components.get(name)!
      const at = (code: string, detail: string): void => { errors.push(modelError(code, c.file, c.line, detail)) }
      const installer = this.installer(name)
      if (installer === undefined || installer.trim() === '') at('RM_EMPTY_COMPONENT_INSTALLER', name)
      else if (!PATTERN_FLEX_ID.test(installer)) at('RM_INVALID_COMPONENT_INSTALLER', name)
      else if (this.ancestorsSet(name).size === 0 && installer !== TARGET_INSTALLER) at('RM_ROOT_INSTALLER_MUST_BE_TARGET', name)

      for (const v of c.exports) {
        if (v.randomKind === undefined) continue
        if (!RANDOM_KINDS.includes(v.randomKind.toUpperCase())) at('RM_INVALID_RANDOM_KIND', v.randomKind)
        if (v.value !== null) at('RM_NO_VALUE_FOR_RANDOM', v.name)
      }

      const ownExports = new Set(Object.keys(this.exports(name)))
      for (const s of this.extendsChain(name)) ownExports.add(`${s.name}.*`)
      const allFacets = this.allFacets(name)
      for (const f of allFacets) ownExports.add(`${f}.*`)
      for (const i of this.imports(name)) {
        if (!i.optional && ownExports.has(i.name)) at('RM_COMPONENT_IMPORTS_EXPORTS', i.name)
        if (i.external) continue
        let list = importers.get(i.name)
        if (list === undefined) importers.set(i.name, list = [])
        list.push(c)
      }

      if (this.extendsChain(c.extends[0] ?? '').some(s => s.name === name)) at('RM_CYCLE_IN_COMPONENTS_INHERITANCE', name)
      if (this.hasContainmentCycle(name)) at('RM_CYCLE_IN_COMPONENTS', name)
      for (const f of allFacets) {
        const facet = facets.get(f)
        if (facet !== undefined && this.extendedFacets(f).has(f)) errors.push(modelError('RM_CYCLE_IN_FACETS_INHERITANCE', facet.file, facet.line, f))
      }
      for (const v of ownExports) {
        exported.add(v)
        const prefix = prefixOf(v)
        if (prefix !== undefined) exported.add(`${prefix}.*`)
      }
    }

    // A facet's variables as written in the graph (not prefixed), and its wildcard
    const facetVariables = new Set<string>()
    for (const f of facets.values()) {
      for (const v of f.exports) facetVariables.add(v.name)
      facetVariables.add(`${f.name}.*`)
    }
    for (const [variable, list] of importers) {
      if (exported.has(variable)) continue
      const code = facetVariables.has(variable) ? 'RM_UNRESOLVABLE_FACET_VARIABLE' : 'RM_UNRESOLVABLE_VARIABLE'
      for (const c of list) errors.push(modelError(code, c.file, c.line, variable))
    }

    const used = new Set([...components.values()].flatMap(c => c.facets))
    for (const f of facets.values()) {
      if (used.has(f.name)) continue
      errors.push(modelError(f.children.length === 0 ? 'RM_ORPHAN_FACET' : 'RM_ORPHAN_FACET_WITH_CHILDREN', f.file, f.line, f.name))
      for (const child of new Set(f.children)) {
        const c = components.get(child)
        if (c !== undefined) errors.push(modelError('RM_UNREACHABLE_COMPONENT', c.file, c.line, child))
      }
    }
    return errors
  }
}

/** `Type.x` for `x` and `db.x`; a name that already starts with `Type.` is kept (Roboconf's fixVariableName). */
function prefixed (typeName: string, variable: string): string {
  return variable.startsWith(`${typeName}.`) ? variable : `${typeName}.${variable}`
}

function resolvedVariable (d: ExportDeclaration): ResolvedVariable {
  return d.randomKind === undefined ? { value: d.value } : { value: d.value, randomKind: d.randomKind }
}

/**
 * Reads one graph text on its own (its imports are not followed): definitions, resolved components, and every error
 * of parsing, conversion (CO_*) and, when those pass, of the graph checks (RM_*).
 */
export function parseGraph (text: string, file = 'graph/main.graph'): {
  graph: GraphDefinition, resolver: GraphResolver, components: Record<string, Component>, errors: ModelError[]
} {
  const loaded = loadGraph(file, path => path === file ? { text } : { missing: true })
  const resolver = new GraphResolver(loaded.graph)
  const errors = loaded.errors.length === 0 ? resolver.validate() : loaded.errors
  return { graph: loaded.graph, resolver, components: resolver.components(), errors }
}
