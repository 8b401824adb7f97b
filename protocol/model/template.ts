// Application templates (reference §2.4): a folder or a .zip with descriptor/, graph/, instances/, commands/,
// rules.autonomic/, probes/. Loading follows Roboconf's RuntimeModelIo.loadApplication order of checks.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_MODEL_FILE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MAX_ZIP_UNCOMPRESSED_BYTES, PATTERN_ID, TARGET_INSTALLER } from './constants.js'
import { DESCRIPTOR_PATH, parseDescriptor } from './descriptor.js'
import { commandNameOf, parseCommands } from './commands.js'
import { capErrors, hasSevere, modelError } from './errors.js'
import type { TextReader } from './files.js'
import { prefixOf } from './exports.js'
import { GraphResolver, loadGraph } from './graph.js'
import { allInstances, loadInstances, validateInstances } from './instances.js'
import { parseProperties } from './properties.js'
import { parseRule } from './rules.js'
import type { ApplicationDescriptor, ApplicationTemplate, AutonomicRule, Component, Instance, LoadResult, ModelError, TargetDefinition } from './types.js'
import { readZip, type ZipContent } from './zip.js'
import { errorMessage } from '../errors.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Decodes a model file, refusing binary, non-UTF-8 and oversized content with a clear error. */
export function decodeModelFile (bytes: Uint8Array, file: string): { text: string } | { error: ModelError } {
  if (bytes.byteLength > MAX_MODEL_FILE_BYTES) {
    return { error: modelError('P_IO_ERROR', file, undefined, `${bytes.byteLength} bytes, more than the ${MAX_MODEL_FILE_BYTES} allowed for a model file; split it into imported files`) }
  }
  if (bytes.includes(0)) return { error: modelError('P_IO_ERROR', file, undefined, 'it holds NUL bytes, so it is binary, not a text model file') }
  try {
    const text = utf8.decode(bytes)
    return { text: text.startsWith('\uFEFF') ? text.slice(1) : text }
  } catch {
    return { error: modelError('P_IO_ERROR', file, undefined, 'it is not valid UTF-8; re-encode it as UTF-8') }
  }
}

export interface LoadOptions {
  /**
   * Load a reusable recipe project (Roboconf's loadApplicationFlexibly + filterErrorsForRecipes): the descriptor is
   * optional (the first graph/*.graph is then the entry point) and the checks that only matter for a whole
   * application are dropped. Default false.
   */
  recipe?: boolean
  /**
   * Whether the commands' `email` instructions can be sent (an SMTP server is configured where they run). Default
   * false: an `email` instruction is then a SEVERE error (MC_EMAIL_NO_SMTP).
   */
  smtp?: boolean
}

/** Errors that do not apply to a reusable recipe (a graph fragment meant to be imported by applications). */
const NOT_FOR_RECIPES = new Set(['RM_ROOT_INSTALLER_MUST_BE_TARGET', 'RM_UNRESOLVABLE_FACET_VARIABLE', 'RM_UNREACHABLE_COMPONENT',
  'RM_ORPHAN_FACET', 'RM_ORPHAN_FACET_WITH_CHILDREN', 'PROJ_NO_DESC_DIR', 'PROJ_NO_DESC_FILE', 'PROJ_UNREACHABLE_FILE'])

/** Loads a template folder, or a .zip file. Never throws on bad input: problems come back as errors. */
export async function loadApplicationTemplate (pathToFolderOrZip: string, options: LoadOptions = {}): Promise<LoadResult> {
  let info
  try {
    info = await stat(pathToFolderOrZip)
  } catch (err) {
    return { errors: [modelError('PROJ_APPLICATION_TEMPLATE_NOT_FOUND', pathToFolderOrZip, undefined, errorMessage(err))] }
  }
  if (info.isDirectory()) {
    let content: Awaited<ReturnType<typeof readFolder>>
    try {
      content = await readFolder(pathToFolderOrZip)
    } catch (err) {
      return { errors: [modelError('P_IO_ERROR', pathToFolderOrZip, undefined, errorMessage(err))] }
    }
    if ('error' in content) return { errors: [content.error] }
    return loadApplicationTemplateFromFiles(content.files, content.directories, options)
  }
  if (info.size > MAX_ZIP_BYTES) {
    return { errors: [modelError('PROJ_EXTRACT_ZIP', pathToFolderOrZip, undefined, `it is ${info.size} bytes, more than the ${MAX_ZIP_BYTES} allowed`)] }
  }
  let bytes: Buffer
  try {
    bytes = await readFile(pathToFolderOrZip)
  } catch (err) {
    return { errors: [modelError('PROJ_EXTRACT_ZIP', pathToFolderOrZip, undefined, errorMessage(err))] }
  }
  return await loadApplicationTemplateFromZip(bytes, options)
}

/** Loads a template from a zip held in memory. A single top folder wrapping the template is accepted. */
export async function loadApplicationTemplateFromZip (buffer: Uint8Array, options: LoadOptions = {}): Promise<LoadResult> {
  let content: ZipContent
  try {
    content = await readZip(buffer)
  } catch (err) {
    const message = errorMessage(err)
    // yauzl checks entry names itself; say why such a name is refused
    const hint = /relative path|absolute path/.test(message) ? ' (entries must stay inside the template folder: absolute names and \'..\' would escape it)' : ''
    return { errors: [modelError('PROJ_EXTRACT_ZIP', undefined, undefined, message + hint)] }
  }
  return loadApplicationTemplateFromFiles(content.files, content.directories, options)
}

async function readFolder (root: string): Promise<{ files: Record<string, Uint8Array>, directories: Set<string> } | { error: ModelError }> {
  const files: Record<string, Uint8Array> = {}
  const directories = new Set<string>()
  let total = 0
  let count = 0
  const todo = ['']
  while (todo.length > 0) {
    const relative = todo.pop()!
    const entries = await readdir(join(root, relative), { withFileTypes: true })
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`
      if (++count > MAX_ZIP_ENTRIES) return { error: modelError('PROJ_EXTRACT_ZIP', path, undefined, `the folder holds more than ${MAX_ZIP_ENTRIES} files`) }
      // Symbolic links are not followed: a template may not reach outside its folder
      if (entry.isDirectory()) {
        directories.add(path)
        todo.push(path)
      } else if (entry.isFile()) {
        const bytes = await readFile(join(root, path))
        total += bytes.byteLength
        if (total > MAX_ZIP_UNCOMPRESSED_BYTES) return { error: modelError('PROJ_EXTRACT_ZIP', path, undefined, `the folder holds more than ${MAX_ZIP_UNCOMPRESSED_BYTES} bytes`) }
        files[path] = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      }
    }
  }
  return { files, directories }
}

/** Strips a single top folder when the template is wrapped in one (`MyApp/descriptor/...`). */
function unwrap (files: Record<string, Uint8Array>, directories: Set<string>): { files: Record<string, Uint8Array>, directories: Set<string> } {
  if (directories.has('descriptor') || directories.has('graph')) return { files, directories }
  const tops = new Set([...Object.keys(files), ...directories].map(p => p.split('/')[0]))
  if (tops.size !== 1) return { files, directories }
  const top = [...tops][0]
  if (!directories.has(`${top}/descriptor`) && !directories.has(`${top}/graph`)) return { files, directories }
  const strip = (p: string): string => p.slice(top.length + 1)
  return {
    files: Object.fromEntries(Object.entries(files).map(([p, b]) => [strip(p), b])),
    directories: new Set([...directories].filter(d => d !== top).map(strip))
  }
}

/** Loads a template from its files (path relative to the template root -> bytes). */
export function loadApplicationTemplateFromFiles (rawFiles: Record<string, Uint8Array>, rawDirectories?: Set<string>,
  options: LoadOptions = {}): LoadResult {
  const result = loadFiles(rawFiles, rawDirectories, options.recipe === true, options.smtp === true)
  if (options.recipe !== true) return result
  return { ...result, errors: result.errors.filter(e => !NOT_FOR_RECIPES.has(e.code)) }
}

function loadFiles (rawFiles: Record<string, Uint8Array>, rawDirectories: Set<string> | undefined, recipe: boolean, smtp: boolean): LoadResult {
  const directories0 = new Set(rawDirectories ?? [])
  for (const path of Object.keys(rawFiles)) {
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) directories0.add(parts.slice(0, i).join('/'))
  }
  const { files, directories } = unwrap(rawFiles, directories0)
  const errors: ModelError[] = []
  const read: TextReader = (path) => {
    const bytes = files[path]
    if (bytes === undefined) return { missing: true }
    return decodeModelFile(bytes, path)
  }

  // Descriptor (a recipe may have none: its first graph file is the entry point)
  let descriptor: ApplicationDescriptor
  if (recipe && files[DESCRIPTOR_PATH] === undefined) {
    const firstGraph = Object.keys(files).filter(p => /^graph\/[^/]+\.graph$/.test(p)).sort()[0]
    descriptor = { name: 'recipe', version: '1.0', graphEntryPoint: firstGraph?.slice('graph/'.length) ?? '', externalExports: {}, tags: [] }
  } else {
    if (!directories.has('descriptor')) return { errors: [modelError('PROJ_NO_DESC_DIR', undefined, undefined)] }
    const descriptorContent = read(DESCRIPTOR_PATH)
    if ('missing' in descriptorContent) return { errors: [modelError('PROJ_NO_DESC_FILE', DESCRIPTOR_PATH, undefined)] }
    if ('error' in descriptorContent) return { errors: [{ ...descriptorContent.error, code: 'PROJ_READ_DESC_FILE' }] }
    const parsed = parseDescriptor(descriptorContent.text)
    descriptor = parsed.descriptor
    errors.push(...parsed.errors)
  }

  // Graph
  if (!directories.has('graph')) return { errors: [...errors, modelError('PROJ_NO_GRAPH_DIR', undefined, undefined)] }
  if (descriptor.graphEntryPoint === '') return { errors }
  const graphEntry = `graph/${descriptor.graphEntryPoint}`
  if (files[graphEntry] === undefined) return { errors: [...errors, modelError('PROJ_MISSING_GRAPH_EP', DESCRIPTOR_PATH, undefined, descriptor.graphEntryPoint)] }
  const graphResult = loadGraph(graphEntry, read)
  errors.push(...graphResult.errors)
  const reached = new Set(graphResult.files)
  if (hasSevere(graphResult.errors)) return { errors }

  const resolver = new GraphResolver(graphResult.graph)
  const components = resolver.components()
  errors.push(...resolver.validate())
  const targets: Record<string, TargetDefinition[]> = {}
  const puppetManifests: Array<{ path: string, text: string }> = []
  errors.push(...checkResources(components, resolver, files, directories, targets, puppetManifests))

  // Instances
  let rootInstances: Instance[] = []
  const graphIsSound = !hasSevere(errors.filter(e => e.file !== DESCRIPTOR_PATH))
  // Like Roboconf, a template without instances/ ignores its instance entry point
  if (descriptor.instanceEntryPoint !== undefined && graphIsSound && directories.has('instances')) {
    const entry = `instances/${descriptor.instanceEntryPoint}`
    if (files[entry] === undefined) {
      errors.push(modelError('PROJ_MISSING_INSTANCE_EP', DESCRIPTOR_PATH, undefined, descriptor.instanceEntryPoint))
    } else {
      const result = loadInstances(entry, read, components)
      errors.push(...result.errors)
      result.files.forEach(f => reached.add(f))
      rootInstances = result.rootInstances
    }
  }

  errors.push(...checkCommands(files, components, rootInstances, smtp))
  const rules = checkRules(files, errors)
  errors.push(...checkFileLocations(files, reached))

  if (!hasSevere(errors)) {
    errors.push(...resolver.validate())
    errors.push(...checkExternalExports(descriptor.externalExports, descriptor.externalExportsPrefix, components))
    errors.push(...validateInstances(rootInstances, components, resolver))
  }
  const template: ApplicationTemplate = { descriptor, components, rootInstances, files, targets, rules }
  return { template, errors, ...(puppetManifests.length > 0 ? { puppetManifests } : {}) }
}

/** Recipe folders (graph/<Component>/, inherited through extends) and target properties of root components. */
function checkResources (components: Record<string, Component>, resolver: GraphResolver, files: Record<string, Uint8Array>,
  directories: Set<string>, targets: Record<string, TargetDefinition[]>, puppetManifests: Array<{ path: string, text: string }>): ModelError[] {
  const errors: ModelError[] = []
  const checked = new Set<string>()
  const ids = new Map<string, string[]>()
  for (const component of Object.values(components)) {
    const chain = resolver.extendsChain(component.name)
    const owner = chain.find(c => directories.has(`graph/${c.name}`))
    const definition = chain[0]
    if (owner === undefined) {
      errors.push(modelError('PROJ_NO_RESOURCE_DIRECTORY', definition.file, definition.line, component.name))
      continue
    }
    const folder = `graph/${owner.name}`
    component.recipeDirectory = folder
    if (component.installer !== TARGET_INSTALLER) {
      errors.push(...checkRecipe(component, definition.installer, folder, files, directories, puppetManifests))
      continue
    }
    targets[component.name] = []
    // Like Roboconf's TargetValidator.parseTargetProperties: the folder is parsed only when a .properties file lies
    // somewhere under it; then its own .properties files are the targets
    if (!recipeFiles(folder, files).some(p => isExtension(p, '.properties'))) {
      checked.add(folder)
      continue
    }
    const propertyFiles = Object.keys(files).filter(p => p.startsWith(`${folder}/`) && !p.slice(folder.length + 1).includes('/') && isExtension(p, '.properties'))
    if (propertyFiles.length === 0 && !checked.has(folder)) errors.push(modelError('REC_TARGET_NO_PROPERTIES', folder, undefined, owner.name))
    for (const path of propertyFiles) {
      const content = decodeModelFile(files[path], path)
      if ('error' in content) {
        if (!checked.has(folder)) errors.push({ ...content.error, code: 'REC_TARGET_INVALID_FILE_OR_CONTENT' })
        continue
      }
      const props = parseProperties(content.text)
      const value = (key: string): string | undefined => { const v = props.get(key)?.value.trim(); return v === '' ? undefined : v }
      const id = value('id'); const handler = value('handler'); const name = value('name'); const description = value('description')
      if (!checked.has(folder)) {
        if (id === undefined) errors.push(modelError('REC_TARGET_NO_ID', path, undefined, path))
        if (handler === undefined) errors.push(modelError('REC_TARGET_NO_HANDLER', path, undefined, path))
        if (name === undefined) errors.push(modelError('REC_TARGET_NO_NAME', path, undefined, path))
        if (id !== undefined) ids.set(id, [...(ids.get(id) ?? []), path])
      }
      if (id === undefined || handler === undefined) continue
      const target: TargetDefinition = { id, handler, properties: Object.fromEntries([...props].map(([k, v]) => [k, v.value])) }
      if (name !== undefined) target.name = name
      if (description !== undefined) target.description = description
      targets[component.name].push(target)
    }
    checked.add(folder)
  }
  for (const [id, paths] of ids) {
    if (paths.length > 1) for (const p of paths) errors.push(modelError('REC_TARGET_CONFLICTING_ID', p, undefined, id))
  }
  return errors
}

/** The files under a recipe folder, at any depth, but none hidden or in a hidden folder (Roboconf's Utils.listAllFiles). */
function recipeFiles (folder: string, files: Record<string, Uint8Array>): string[] {
  return Object.keys(files).filter(p => p.startsWith(`${folder}/`) && !p.slice(folder.length + 1).split('/').some(s => s.startsWith('.')))
}

function isExtension (path: string, extension: string): boolean {
  return path.toLowerCase().endsWith(extension)
}

/**
 * Roboconf's RecipesValidator, for the installer a component declares itself (any case): a `script` recipe folder
 * holding files has a scripts/ folder; a `puppet` one holds exactly one roboconf_* module whose manifests take the
 * parameters the puppet plug-in passes (runningState, importDiff for updates, one per imported prefix).
 */
function checkRecipe (component: Component, ownInstaller: string | undefined, folder: string, files: Record<string, Uint8Array>,
  directories: Set<string>, puppetManifests: Array<{ path: string, text: string }>): ModelError[] {
  const installer = ownInstaller?.toLowerCase()
  if (installer === 'script') {
    const all = recipeFiles(folder, files)
    return all.length > 0 && !directories.has(`${folder}/scripts`) && files[`${folder}/scripts`] === undefined
      ? [modelError('REC_SCRIPT_NO_SCRIPTS_DIR', folder, undefined, component.name)]
      : []
  }
  if (installer !== 'puppet') return []
  const errors: ModelError[] = []
  if (component.imports.some(i => i.name.endsWith('.*'))) errors.push(modelError('REC_PUPPET_DISLIKES_WILDCARD_IMPORTS', folder, undefined, component.name))
  const modules = [...directories].filter(d => d.startsWith(`${folder}/`)).map(d => d.slice(folder.length + 1))
    .filter(name => !name.includes('/') && name.toLowerCase().startsWith('roboconf_'))
  if (modules.length === 0) errors.push(modelError('REC_PUPPET_HAS_NO_RBCF_MODULE', folder, undefined, component.name))
  if (modules.length > 1) errors.push(modelError('REC_PUPPET_HAS_TOO_MANY_RBCF_MODULES', folder, undefined, `${component.name} (${modules.sort().join(', ')})`))
  if (modules.length !== 1) return errors
  const manifests = `${folder}/${modules[0]}/manifests`
  const withUpdate = files[`${manifests}/update.pp`] !== undefined ? `${manifests}/update.pp` : `${manifests}/init.pp`
  const prefixes = [...new Set(component.imports.map(i => prefixOf(i.name) ?? ''))]
  const pp = Object.keys(files).filter(p => p.startsWith(`${manifests}/`) && !p.slice(manifests.length + 1).includes('/') && isExtension(p, '.pp')).sort()
  for (const path of pp) {
    const content = decodeModelFile(files[path], path)
    if ('error' in content) continue
    // components sharing a recipe folder (extends) share its manifests: checked once
    if (!puppetManifests.some(m => m.path === path)) puppetManifests.push({ path, text: content.text })
    const params = puppetClassParameters(content.text)
    if (params === undefined) continue
    if (path === withUpdate && !params.delete('$importDiff')) errors.push(modelError('REC_PUPPET_MISSING_PARAM_IMPORT_DIFF', path, undefined, path))
    params.delete('$importDiff')
    if (!params.delete('$runningState')) errors.push(modelError('REC_PUPPET_MISSING_PARAM_RUNNING_STATE', path, undefined, path))
    for (const prefix of prefixes) {
      if (!params.delete(`$${prefix.toLowerCase()}`)) errors.push(modelError('REC_PUPPET_MISSING_PARAM_FROM_IMPORT', path, undefined, `$${prefix.toLowerCase()}`))
    }
  }
  return errors
}

/** The parameter names of a manifest's first parameterised class (`class x($a = 1, $b)` -> $a, $b), as Roboconf reads them. */
function puppetClassParameters (text: string): Set<string> | undefined {
  const match = /class [^(]+\(([^)]+)\)/i.exec(text)
  if (match === null) return undefined
  return new Set(match[1].split(',').map(p => p.trim()).map(p => p.indexOf('=') > 0 ? p.slice(0, p.indexOf('=')).trim() : p))
}

/** Parses commands/*.commands against the template's instances (Roboconf validates them when it loads a template). */
function checkCommands (files: Record<string, Uint8Array>, components: Record<string, Component>, rootInstances: Instance[],
  smtp: boolean): ModelError[] {
  const errors: ModelError[] = []
  const texts: Record<string, string> = {}
  const paths = Object.keys(files).filter(p => commandNameOf(p) !== undefined).sort()
  for (const path of paths) {
    const content = decodeModelFile(files[path], path)
    if ('error' in content) errors.push({ ...content.error, code: 'CMD_INEXISTING_COMMAND_FILE' })
    else texts[commandNameOf(path)!] = content.text
  }
  const instances = allInstances(rootInstances).map(i => [i.path, i.component] as const)
  for (const path of paths) {
    const text = texts[commandNameOf(path)!]
    if (text === undefined) continue
    errors.push(...capErrors(parseCommands(text, path, { components, instances, commandFiles: texts, smtp }).errors, path))
  }
  return errors
}

/** Parses rules.autonomic/*.drl; a rule may only run commands that exist in commands/. */
function checkRules (files: Record<string, Uint8Array>, errors: ModelError[]): Record<string, AutonomicRule> {
  const rules: Record<string, AutonomicRule> = {}
  for (const path of Object.keys(files).filter(p => p.startsWith('rules.autonomic/') && p.endsWith('.drl')).sort()) {
    const content = decodeModelFile(files[path], path)
    if ('error' in content) {
      errors.push({ ...content.error, code: 'RULE_IO_ERROR' })
      continue
    }
    const parsed = parseRule(content.text, path)
    errors.push(...parsed.errors)
    if (parsed.rule === undefined) continue
    rules[path] = parsed.rule
    for (const command of parsed.rule.commands) {
      if (files[`commands/${command}.commands`] === undefined) errors.push(modelError('RULE_UNKNOWN_COMMAND', path, undefined, command))
    }
  }
  return rules
}

/** Misplaced or unreachable model files, and command/rule files with the wrong extension. */
function checkFileLocations (files: Record<string, Uint8Array>, reached: Set<string>): ModelError[] {
  const errors: ModelError[] = []
  for (const path of Object.keys(files)) {
    if (path.startsWith('commands/') && !path.endsWith('.commands')) errors.push(modelError('PROJ_INVALID_COMMAND_EXT', path, undefined, path))
    if (path.startsWith('rules.autonomic/') && !path.endsWith('.drl')) errors.push(modelError('PROJ_INVALID_RULE_EXT', path, undefined, path))
    const graph = path.endsWith('.graph'); const instances = path.endsWith('.instances')
    if (!graph && !instances) continue
    if ((graph && !path.startsWith('graph/')) || (instances && !path.startsWith('instances/'))) {
      errors.push(modelError('PROJ_INVALID_FILE_LOCATION', path, undefined, path))
    } else if (!reached.has(path)) {
      errors.push(modelError('PROJ_UNREACHABLE_FILE', path, undefined, path))
    }
  }
  return errors
}

function checkExternalExports (externalExports: Record<string, string>, prefix: string | undefined,
  components: Record<string, Component>): ModelError[] {
  const errors: ModelError[] = []
  if (Object.keys(externalExports).length > 0 && prefix !== undefined && !PATTERN_ID.test(prefix)) {
    errors.push(modelError('RM_INVALID_APPLICATION_EXPORT_PREFIX', DESCRIPTOR_PATH, undefined, prefix))
  }
  const all = new Set(Object.values(components).flatMap(c => Object.keys(c.exports)))
  const aliases = new Set<string>()
  for (const [variable, alias] of Object.entries(externalExports)) {
    if (!all.has(variable)) errors.push(modelError('RM_INVALID_EXTERNAL_EXPORT', DESCRIPTOR_PATH, undefined, variable))
    if (aliases.has(alias)) errors.push(modelError('RM_ALREADY_DEFINED_EXTERNAL_EXPORT', DESCRIPTOR_PATH, undefined, alias))
    aliases.add(alias)
  }
  return errors
}


