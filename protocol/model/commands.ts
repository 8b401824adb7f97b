// Commands files (`commands/*.commands`, reference §6.3), parsed and validated as Roboconf's CommandsParser does:
// one instruction per line, `\` + newline continues a line (lines still counted in the original file), `#` starts a
// comment, keywords are case-insensitive, `$(NAME)` is replaced once `define`d. Each instruction is checked against
// the application's instances as the previous instructions left them (a `create` makes its instance known to the
// lines after it), so the result is the plan the DM executes, variables resolved. Pure code: no file is written.
import { MAX_COMMAND_LINE_CHARS, PATTERN_FLEX_ID } from './constants.js'
import { modelError } from './errors.js'
import type { Component, ModelError } from './types.js'
import { STABLE_STATUSES, isInstanceStatus, type InstanceStatus } from '../lifecycle.js'

export type BulkAction = 'deploy-and-start-all' | 'stop-all' | 'undeploy-all' | 'delete'

interface Base {
  /** 1-based line of the instruction in the file (its first line when continued). */
  line: number
  /** The instruction's text once variables were injected. */
  text: string
  /** Uses a `$(EXISTING_INDEX ...)` variable that matched no instance: skipped at execution, not an error. */
  disabled: boolean
}

export type CommandInstruction = Base & (
  | { kind: 'define', name: string, value: string, under?: string }
  | { kind: 'create', component: string, name: string, parent?: string }
  | { kind: 'replicate', path: string, name: string }
  | { kind: 'rename', path: string, name: string }
  | { kind: 'associate', path: string, targetId: string }
  | { kind: 'change-status', path: string, status: InstanceStatus }
  | { kind: 'bulk', action: BulkAction, path?: string, component?: string }
  | { kind: 'email', to: string[], message: string }
  | { kind: 'write' | 'append', content: string, file: string }
  | { kind: 'execute', command: string }
)

/** What instructions are validated against. */
export interface CommandsContext {
  /** The application's components (resolved graph). */
  components: Record<string, Component>
  /** Every existing instance: path -> component name. */
  instances: Iterable<readonly [string, string]>
  /** Other commands files of the application: name (without `.commands`) -> text; for `execute`. */
  commandFiles: Record<string, string>
  /** Whether an SMTP server is configured; `email` is refused without one (default false). */
  smtp?: boolean
  /** Clock for the time variables (default: the system's). */
  now?: () => Date
}

export interface ParsedCommands { instructions: CommandInstruction[], errors: ModelError[] }

export const COMMANDS_FOLDER = 'commands'
export const COMMANDS_EXTENSION = '.commands'

/** `commands/scale.commands` -> `scale`; undefined for another path. */
export function commandNameOf (path: string): string | undefined {
  const m = /^commands\/([^/]+)\.commands$/.exec(path)
  return m === null ? undefined : m[1]
}

/** Every `commands/<name>.commands` of a template's files, decoded: name -> text. Undecodable files are left out. */
export function commandFilesOf (files: Record<string, Uint8Array>): Record<string, string> {
  const result: Record<string, string> = {}
  const decoder = new TextDecoder('utf-8')
  for (const [path, bytes] of Object.entries(files)) {
    const name = commandNameOf(path)
    if (name !== undefined) result[name] = decoder.decode(bytes)
  }
  return result
}

const CONTINUATION = '\u0000'
const FAKE_COMPONENT = '@fake-component@'
const VARIABLE = /\$\([^)]*\)/g
const SMART_INDEX = '$(SMART_INDEX)'
const FORMATTED_TIME_PREFIX = '$(FORMATTED_TIME '
const EXISTING_INDEX_PREFIX = '$(EXISTING_INDEX '
const EXISTING_INDEX = /^(.*)\$\(EXISTING_INDEX \s*(MIN|MAX)\s*([<>]\s*\d+)?\s*\)(.*)$/s
const GENERATED = new Set(['$(MILLI_TIME)', '$(NANO_TIME)', SMART_INDEX, '$(UUID)'])
/** `%TMP%` in Write/Append: a folder of its own inside the DM's data folder. */
export const COMMANDS_TMP_FOLDER = 'tmp'

/** The state the instructions are checked against, updated by each valid one. */
class State {
  readonly instances = new Map<string, string>()
  readonly variables = new Map<string, string>()
  readonly disabledVariables = new Set<string>()
  constructor (readonly context: CommandsContext, readonly file: string, readonly name: string | undefined) {
    for (const [path, component] of context.instances) this.instances.set(path, component)
  }

  component (name: string): Component | undefined {
    return Object.prototype.hasOwnProperty.call(this.context.components, name) ? this.context.components[name] : undefined
  }

  /** Components that list `name` among their children. */
  ancestors (name: string): string[] {
    return Object.values(this.context.components).filter(c => c.children.includes(name)).map(c => c.name)
  }

  exists (path: string): boolean {
    return this.instances.has(path)
  }

  /** Moves (`keep` false) or copies a subtree to a new root path. */
  copySubtree (from: string, to: string, keep: boolean): void {
    for (const [path, component] of [...this.instances]) {
      if (path !== from && !path.startsWith(`${from}/`)) continue
      if (!keep) this.instances.delete(path)
      this.instances.set(to + path.slice(from.length), component)
    }
  }

  removeSubtree (root: string): void {
    for (const path of [...this.instances.keys()]) {
      if (path === root || path.startsWith(`${root}/`)) this.instances.delete(path)
    }
  }
}

/**
 * Parses a commands file. `file` is its path in the template (`commands/scale.commands`), used in errors and to
 * refuse an `execute` of itself.
 */
export function parseCommands (text: string, file: string, context: CommandsContext): ParsedCommands {
  const state = new State(context, file, commandNameOf(file))
  const instructions: CommandInstruction[] = []
  const errors: ModelError[] = []
  const joined = text.replace(/\r\n?/g, '\n').replace(/\\\n\s*/g, CONTINUATION)
  let lineNumber = 0
  for (const raw of joined.split('\n')) {
    lineNumber++
    let line = raw.trim().replace(/#.*$/s, '')
    if (line === '') continue
    const continued = line.split(CONTINUATION).length - 1
    line = line.split(CONTINUATION).join('')
    if (line.length > MAX_COMMAND_LINE_CHARS) {
      // The instruction patterns backtrack: a huge line would cost quadratic time
      errors.push(modelError('CMD_INVALID_SYNTAX', file, lineNumber, `a line of ${line.length} characters, more than the ${MAX_COMMAND_LINE_CHARS} allowed`))
      lineNumber += continued
      continue
    }
    const disabled = [...state.disabledVariables].some(v => line.includes(`$(${v})`))
    line = inject(line, state.variables)
    const parsed = parseInstruction(line, lineNumber, state)
    if (parsed === undefined) {
      errors.push(modelError('CMD_UNRECOGNIZED_INSTRUCTION', file, lineNumber, line))
    } else {
      const { instruction, validate, apply } = parsed
      instruction.disabled = disabled
      const found = instruction.syntaxError === true ? [modelError('CMD_INVALID_SYNTAX', file, lineNumber, line)] : []
      const ignored = instruction.kind === 'define' ? (v: string) => isGeneratedVariable(v, state) : () => false
      for (const v of line.match(VARIABLE) ?? []) {
        if (!ignored(v)) found.push(modelError('CMD_UNRESOLVED_VARIABLE', file, lineNumber, v))
      }
      if (found.length === 0) found.push(...validate())
      if (found.length === 0) apply()
      else errors.push(...found)
      delete instruction.syntaxError
      instructions.push(instruction as unknown as CommandInstruction)
    }
    lineNumber += continued
  }
  if (instructions.length === 0) errors.unshift(modelError('CMD_NO_INSTRUCTION', file, 1, file))
  return { instructions, errors }
}

function inject (line: string, variables: Map<string, string>): string {
  let result = line
  for (const [name, value] of variables) result = result.split(`$(${name})`).join(value)
  return result
}

function isGeneratedVariable (v: string, state: State): boolean {
  if (GENERATED.has(v)) return true
  if (state.variables.has(v.slice(2, -1))) return true
  return v.startsWith(FORMATTED_TIME_PREFIX) || v.startsWith(EXISTING_INDEX_PREFIX)
}

type Draft = Omit<Base, 'disabled'> & { disabled?: boolean, syntaxError?: boolean } & Record<string, unknown> & { kind: CommandInstruction['kind'] }
interface Parsed { instruction: Draft, validate: () => ModelError[], apply: () => void }

const BULK_ACTIONS: Record<string, BulkAction> = {
  delete: 'delete', 'delete all': 'delete', 'deploy and start all': 'deploy-and-start-all', 'stop all': 'stop-all', 'undeploy all': 'undeploy-all'
}

function bulkAction (line: string): { action: BulkAction, path?: string, component?: string } | undefined {
  // `([^/]+)(/.*)`
  const slash = line.indexOf('/')
  if (slash > 0) {
    const action = BULK_ACTIONS[line.slice(0, slash).trim().toLowerCase()]
    if (action !== undefined) return { action, path: line.slice(slash).trim() }
  }
  // `(.+)\s+instances\s+of(.+)`, the last such 'instances'
  const lower = line.toLowerCase()
  for (let i = lower.lastIndexOf('instances'); i > 1; i = lower.lastIndexOf('instances', i - 1)) {
    if (!isSpace(line[i - 1])) continue
    const of = /^\s+of([\s\S]+)$/.exec(line.slice(i + 'instances'.length))
    if (of === null) continue
    const action = BULK_ACTIONS[line.slice(0, i).trim().toLowerCase()]
    return action === undefined ? undefined : { action, component: of[1].trim() }
  }
  return undefined
}

function parseInstruction (line: string, lineNumber: number, state: State): Parsed | undefined {
  const lower = line.toLowerCase()
  const err = (code: string, detail = ''): ModelError => modelError(code, state.file, lineNumber, detail)
  const draft = (kind: CommandInstruction['kind'], m: RegExpExecArray | null): Draft => ({ kind, line: lineNumber, text: line, syntaxError: m === null })
  const noop = (): void => {}

  if (lower.startsWith('associate')) {
    const m = split(line, 'associate', 'with', { path: true, spaceBefore: true, after: 'boundary' })
    const d = draft('associate', m)
    if (m !== null) { d.path = m[1].trim(); d.targetId = m[2].trim() }
    return {
      instruction: d,
      validate: () => {
        const found: ModelError[] = []
        if (d.targetId === '') found.push(err('CMD_INVALID_TARGET_ID'))
        const component = state.instances.get(d.path as string)
        if (component === undefined) found.push(err('CMD_NO_MATCHING_INSTANCE', d.path as string))
        else if (state.component(component)?.installer !== 'target') found.push(err('CMD_NOT_A_SCOPED_INSTANCE', d.path as string))
        return found
      },
      apply: noop
    }
  }

  if (lower.startsWith('change')) {
    const m = split(line, 'change\\s+status\\s+of', 'to', { path: true, spaceBefore: true, after: 'boundary' })
    const d = draft('change-status', m)
    let requested = ''
    if (m !== null) {
      d.path = m[1].trim()
      requested = m[2].trim().toUpperCase().replace(/ /g, '_').replace('_AND_', '_')
      d.status = requested
    }
    return {
      instruction: d,
      validate: () => {
        const found: ModelError[] = []
        if (!isInstanceStatus(requested)) found.push(err('CMD_INVALID_INSTANCE_STATUS', requested))
        else if (!STABLE_STATUSES.has(requested)) found.push(err('CMD_INSTABLE_INSTANCE_STATUS', requested))
        if (!state.exists(d.path as string)) found.push(err('CMD_NO_MATCHING_INSTANCE', d.path as string))
        return found
      },
      apply: noop
    }
  }

  const bulk = bulkAction(line)
  if (bulk !== undefined) {
    const d: Draft = { kind: 'bulk', line: lineNumber, text: line, ...bulk }
    return {
      instruction: d,
      validate: () => {
        const found: ModelError[] = []
        if (bulk.path !== undefined && !state.exists(bulk.path)) found.push(err('CMD_NO_MATCHING_INSTANCE', bulk.path))
        if (bulk.component !== undefined && state.component(bulk.component) === undefined) found.push(err('CMD_INEXISTING_COMPONENT', bulk.component))
        return found
      },
      apply: () => {
        if (bulk.action !== 'delete') return
        if (bulk.path !== undefined) state.removeSubtree(bulk.path)
        else for (const [path, c] of [...state.instances]) if (c === bulk.component) state.removeSubtree(path)
      }
    }
  }

  if (lower.startsWith('email')) {
    const m = split(line, 'email', 'with', { after: 'space' })
    const d = draft('email', m)
    if (m !== null) {
      d.to = m[1].split(',').map(s => s.trim()).filter(s => s !== '')
      d.message = m[2].trim().split('\\n').join('\n')
    }
    return {
      instruction: d,
      validate: () => {
        if ((d.message as string).trim() === '') return [err('CMD_EMAIL_NO_MESSAGE')]
        if (state.context.smtp !== true) return [err('MC_EMAIL_NO_SMTP')]
        return []
      },
      apply: noop
    }
  }

  if (lower.startsWith('define')) return parseDefine(line, lineNumber, state, err)

  if (lower.startsWith('create')) {
    const m = split(line, 'create', 'as', { after: 'boundary' })
    const d = draft('create', m)
    if (m !== null) {
      d.component = m[1].trim()
      d.name = m[2].trim()
      const under = splitUnder(d.name as string)
      if (under !== null) { d.name = under[1].trim(); d.parent = under[2].trim() }
    }
    const newPath = (): string => `${(d.parent as string | undefined) ?? ''}/${d.name as string}`
    return {
      instruction: d,
      validate: () => {
        const found: ModelError[] = []
        const name = d.component as string
        const component = state.component(name)
        const parent = d.parent as string | undefined
        if (name === '') found.push(err('CMD_MISSING_COMPONENT_NAME'))
        else if (component === undefined) found.push(err('CMD_INEXISTING_COMPONENT', name))
        else if (state.ancestors(name).length > 0) {
          const parentComponent = parent === undefined ? undefined : state.instances.get(parent)
          if (parent === undefined) found.push(err('CMD_MISSING_PARENT_INSTANCE', name))
          else if (parentComponent === undefined) found.push(err('CMD_NO_MATCHING_INSTANCE', parent))
          else if (!state.ancestors(name).includes(parentComponent)) found.push(err('CMD_NOT_AN_ACCEPTABLE_PARENT', name))
        } else if (parent !== undefined) found.push(err('CMD_CANNOT_HAVE_ANY_PARENT', name))
        found.push(...checkInstanceName(d.name as string, err))
        if (state.exists(newPath())) found.push(err('CMD_CONFLICTING_INSTANCE_NAME', newPath()))
        return found
      },
      apply: () => { state.instances.set(newPath(), d.component as string) }
    }
  }

  for (const kind of ['replicate', 'rename'] as const) {
    if (!lower.startsWith(kind)) continue
    const m = split(line, kind, 'as', { path: true, after: 'boundary' })
    const d = draft(kind, m)
    if (m !== null) { d.path = m[1].trim(); d.name = m[2].trim() }
    const sibling = (): string => `${(d.path as string).replace(/\/[^/]+$/, '')}/${d.name as string}`
    return {
      instruction: d,
      validate: () => {
        const found = checkInstanceName(d.name as string, err)
        const path = d.path as string
        if (!state.exists(path)) found.push(err('CMD_NO_MATCHING_INSTANCE', path))
        else if (kind === 'replicate' && path.split('/').length > 2) found.push(err('CMD_NOT_A_ROOT_INSTANCE', path))
        else if (kind === 'rename' && state.exists(sibling())) found.push(err('CMD_CONFLICTING_INSTANCE_NAME', sibling()))
        return found
      },
      apply: () => { state.copySubtree(d.path as string, sibling(), kind === 'replicate') }
    }
  }

  for (const kind of ['write', 'append'] as const) {
    if (!lower.startsWith(kind)) continue
    const m = split(line, kind, 'into', { after: 'boundary' })
    const d = draft(kind, m)
    let target = ''
    if (m !== null) {
      d.content = m[1].trim()
      target = m[2].trim()
      d.file = dataFilePath(target) ?? target
    }
    return {
      instruction: d,
      validate: () => {
        if (target === '') return [err('CMD_MISSING_TARGET_FILE')]
        if (dataFilePath(target) === undefined) return [err('MC_FILE_OUTSIDE_DATA_FOLDER', target)]
        return []
      },
      apply: noop
    }
  }

  if (lower.startsWith('execute')) {
    const m = /^execute\s+(.*)$/is.exec(line)
    const d = draft('execute', m)
    if (m !== null) d.command = m[1].trim().replace(/\.commands$/, '')
    return {
      instruction: d,
      validate: () => {
        const name = d.command as string
        if (name === '') return [err('CMD_MISSING_COMMAND_NAME')]
        if (name === state.name) return [err('CMD_LOOPING_COMMAND', name)]
        const other = Object.prototype.hasOwnProperty.call(state.context.commandFiles, name) ? state.context.commandFiles[name] : undefined
        if (other === undefined) return [err('CMD_INEXISTING_COMMAND', name)]
        if (new RegExp(`execute\\s+${escapeRegExp(name)}`, 'i').test(other)) return [err('CMD_NASTY_LOOPING_COMMAND', name)]
        return []
      },
      apply: noop
    }
  }
  return undefined
}

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c)
const isWord = (c: string | undefined): boolean => c !== undefined && /\w/.test(c)

/**
 * Roboconf's `^<head>\s+(A)\s*<keyword>\b(B)$` patterns (case-insensitive, A greedy: the last fitting keyword), in
 * linear time: the regular expressions backtrack cubically on runs of spaces. `path`: A starts with '/';
 * `spaceBefore`: `\s+` before the keyword; `after`: `\b` or `\s+` after it. Returns [A, B] like RegExp groups 1-2.
 */
function split (line: string, head: string, keyword: string,
  options: { path?: boolean, spaceBefore?: boolean, after: 'boundary' | 'space' }): RegExpExecArray | null {
  const start = new RegExp(`^${head}\\s+`, 'i').exec(line)
  if (start === null) return null
  const from = start[0].length
  if (options.path === true && line[from] !== '/') return null
  const lower = line.toLowerCase()
  const min = from + (options.path === true ? 1 : 0) + (options.spaceBefore === true ? 1 : 0)
  for (let i = lower.lastIndexOf(keyword); i >= min; i = lower.lastIndexOf(keyword, i - 1)) {
    if (options.spaceBefore === true && !isSpace(line[i - 1])) continue
    const next = line[i + keyword.length]
    if (options.after === 'boundary' ? isWord(next) : !isSpace(next)) continue
    const result = [line, line.slice(from, i), line.slice(i + keyword.length)] as unknown as RegExpExecArray
    return result
  }
  return null
}

/** `(.*)\s+under\s+(.*)` on a value: the last ' under '. */
function splitUnder (value: string): RegExpExecArray | null {
  const lower = value.toLowerCase()
  for (let i = lower.lastIndexOf('under'); i >= 1; i = lower.lastIndexOf('under', i - 1)) {
    if (!isSpace(value[i - 1]) || !isSpace(value[i + 5])) continue
    return [value, value.slice(0, i), value.slice(i + 5)] as unknown as RegExpExecArray
  }
  return null
}

function checkInstanceName (name: string, err: (code: string, detail?: string) => ModelError): ModelError[] {
  if (name.trim() === '') return [err('CMD_MISSING_INSTANCE_NAME')]
  if (!PATTERN_FLEX_ID.test(name)) return [err('CMD_INVALID_INSTANCE_NAME', name)]
  return []
}

/**
 * Where a Write/Append target lands, relative to the DM's folder for such files: `/this/file` -> `this/file`,
 * `%TMP%/x` -> `tmp/x`. Undefined when the path would leave that folder (`..`).
 */
export function dataFilePath (target: string): string | undefined {
  const parts: string[] = []
  for (const part of target.split('%TMP%').join(`/${COMMANDS_TMP_FOLDER}/`).split(/[/\\]+/)) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (parts.length === 0) return undefined
      parts.pop()
    } else parts.push(part)
  }
  return parts.length === 0 ? undefined : parts.join('/')
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function parseDefine (line: string, lineNumber: number, state: State, err: (code: string, detail?: string) => ModelError): Parsed {
  // `define\s+([^=]*)\s*=\s*(.*)`, by hand: the pattern backtracks quadratically on spaces
  const head = /^define\s/i.test(line) ? line.indexOf('=') : -1
  const m = head < 0 ? null : [line, line.slice('define'.length, head), line.slice(head + 1)]
  const d: Draft = { kind: 'define', line: lineNumber, text: line, syntaxError: m === null, name: '', value: '' }
  let value = ''
  if (m !== null) {
    d.name = m[1].trim()
    value = m[2].trim()
    const under = splitUnder(value)
    if (under !== null) { value = under[1].trim(); d.under = under[2].trim() }
    d.value = value
  }
  return {
    instruction: d,
    validate: () => {
      const found: ModelError[] = []
      if ((d.name as string) === '') found.push(err('CMD_EMPTY_VARIABLE_NAME'))
      else if (value.startsWith(FORMATTED_TIME_PREFIX) && value.endsWith(')')) {
        const pattern = datePatternOf(value)
        if (pattern.includes('$(')) found.push(err('CMD_NO_MIX_FOR_PATTERNS', d.name as string))
        else if (!isValidDatePattern(pattern)) found.push(err('CMD_INVALID_DATE_PATTERN', pattern))
      } else if (value.includes(FORMATTED_TIME_PREFIX)) found.push(err('CMD_NO_MIX_FOR_PATTERNS', value))
      if (value.includes(EXISTING_INDEX_PREFIX) && !EXISTING_INDEX.test(value)) found.push(err('CMD_INVALID_INDEX_PATTERN', value))
      if (found.length === 0 && d.under !== undefined && !state.exists(d.under as string)) found.push(err('CMD_NO_MATCHING_INSTANCE', d.under as string))
      return found
    },
    apply: () => {
      const resolved = resolveValue(value, state, d.under as string | undefined)
      if (resolved !== undefined) {
        state.variables.set(d.name as string, resolved)
        d.value = resolved
        return
      }
      // A query that matched nothing disables the instructions using the variable; a stand-in instance keeps
      // them checkable
      d.disabled = true
      state.disabledVariables.add(d.name as string)
      state.variables.set(d.name as string, 'fake')
      state.instances.set(`${(d.under as string | undefined) ?? ''}/fake`, FAKE_COMPONENT)
    }
  }
}

function datePatternOf (value: string): string {
  return value.slice(FORMATTED_TIME_PREFIX.length, -1).trim()
}

/** Generated values: times, UUID, the first free index among siblings, an existing index. */
function resolveValue (raw: string, state: State, parent: string | undefined): string | undefined {
  const now = state.context.now?.() ?? new Date()
  let value = raw.split('$(NANO_TIME)').join(String(process.hrtime.bigint()))
    .split('$(MILLI_TIME)').join(String(now.getTime()))
    .split('$(UUID)').join(crypto.randomUUID())
  if (value.startsWith(FORMATTED_TIME_PREFIX) && value.endsWith(')')) value = formatDate(now, datePatternOf(value))
  if (value.includes(SMART_INDEX)) {
    let index = 1
    while (state.exists(`${parent ?? ''}/${value.split(SMART_INDEX).join(String(index))}`)) index++
    value = value.split(SMART_INDEX).join(String(index))
  }
  const m = EXISTING_INDEX.exec(value)
  if (value.includes(EXISTING_INDEX_PREFIX) && m !== null) {
    const index = existingIndex(state, parent, m[1], m[4], m[2] === 'MIN', m[3])
    if (index === undefined) return undefined
    value = `${m[1]}${index}${m[4]}`
  }
  return inject(value, state.variables)
}

function existingIndex (state: State, parent: string | undefined, prefix: string, suffix: string, minimum: boolean,
  bound: string | undefined): number | undefined {
  const pattern = new RegExp(`^${escapeRegExp(`${parent ?? ''}/${prefix}`)}(\\d+)${escapeRegExp(suffix)}$`)
  let indexes = [...state.instances.keys()].map(p => pattern.exec(p)).filter(m => m !== null).map(m => Number(m[1]))
  if (bound !== undefined) {
    const limit = Number(bound.slice(1).trim())
    indexes = indexes.filter(i => bound.startsWith('<') ? i < limit : i > limit)
  }
  if (indexes.length === 0) return undefined
  return minimum ? Math.min(...indexes) : Math.max(...indexes)
}

// Java SimpleDateFormat patterns: letters are fields, '...' quotes text ('' is a quote)
const DATE_LETTERS = 'GyYMLwWDdFEuaHkKhmsSzZX'

function tokenizeDatePattern (pattern: string): Array<{ field: string, width: number } | { text: string }> | undefined {
  const tokens: Array<{ field: string, width: number } | { text: string }> = []
  let i = 0
  while (i < pattern.length) {
    const c = pattern[i]
    if (c === '\'') {
      const end = pattern.indexOf('\'', i + 1)
      if (end < 0) return undefined
      tokens.push({ text: end === i + 1 ? '\'' : pattern.slice(i + 1, end) })
      i = end + 1
    } else if (/[a-zA-Z]/.test(c)) {
      if (!DATE_LETTERS.includes(c)) return undefined
      let width = 1
      while (pattern[i + width] === c) width++
      tokens.push({ field: c, width })
      i += width
    } else {
      tokens.push({ text: c })
      i++
    }
  }
  return tokens
}

function isValidDatePattern (pattern: string): boolean {
  return tokenizeDatePattern(pattern) !== undefined
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

/** Formats a date (local time) with a SimpleDateFormat pattern already validated. */
export function formatDate (date: Date, pattern: string): string {
  const pad = (n: number, width: number): string => String(n).padStart(width, '0')
  return (tokenizeDatePattern(pattern) ?? []).map(t => {
    if ('text' in t) return t.text
    const { field, width } = t
    switch (field) {
      case 'y': case 'Y': return width === 2 ? pad(date.getFullYear() % 100, 2) : pad(date.getFullYear(), width)
      case 'M': case 'L': return width >= 4 ? MONTHS[date.getMonth()] : width === 3 ? MONTHS[date.getMonth()].slice(0, 3) : pad(date.getMonth() + 1, width)
      case 'd': return pad(date.getDate(), width)
      case 'H': return pad(date.getHours(), width)
      case 'k': return pad(date.getHours() === 0 ? 24 : date.getHours(), width)
      case 'K': return pad(date.getHours() % 12, width)
      case 'h': return pad(date.getHours() % 12 === 0 ? 12 : date.getHours() % 12, width)
      case 'm': return pad(date.getMinutes(), width)
      case 's': return pad(date.getSeconds(), width)
      case 'S': return pad(date.getMilliseconds(), width)
      case 'E': return width >= 4 ? DAYS[date.getDay()] : DAYS[date.getDay()].slice(0, 3)
      case 'u': return String(date.getDay() === 0 ? 7 : date.getDay())
      case 'a': return date.getHours() < 12 ? 'AM' : 'PM'
      case 'D': return pad(Math.floor((date.getTime() - new Date(date.getFullYear(), 0, 1).getTime()) / 86_400_000) + 1, width)
      case 'G': return 'AD'
      case 'Z': case 'X': case 'z': {
        const offset = -date.getTimezoneOffset()
        return `${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60), 2)}${pad(Math.abs(offset) % 60, 2)}`
      }
      default: return pad(0, width)
    }
  }).join('')
}
