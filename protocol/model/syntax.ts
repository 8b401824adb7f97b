// Checks of parsed blocks (Roboconf's ParsingModelValidator, PM_* codes) and the value parsers shared by the
// graph and instances converters.
import { PATTERN_FLEX_ID, PATTERN_ID, PATTERN_IMPORT } from './constants.js'
import { modelError } from './errors.js'
import type { Block, FileDefinition, HolderBlock, PropertyBlock } from './parser.js'
import type { ModelError } from './types.js'

export const COMPONENT_PROPERTIES = ['installer', 'children', 'exports', 'extends', 'facets', 'imports']
export const FACET_PROPERTIES = ['children', 'exports', 'extends']
export const INSTANCE_PROPERTIES = ['name', 'count', 'channels', 'instance-data', 'instance-state']
/** Properties that may appear several times in a block. */
const REPEATABLE = new Set(['imports', 'exports'])

/** `a, b ,c` -> [a, b, c] (Roboconf's splitNicely: split on commas, trim each part). */
export function splitList (value: string): string[] {
  return value.split(',').map(s => s.trim())
}

export interface ExportDeclaration {
  /** Name as written, without the random marker. */
  name: string
  value: string | null
  /** `random[kind]` marker, kind as written. */
  randomKind?: string
}

/** Parses an `exports:` value: `a, b = 1, c = "x, y"` (quoted values may hold commas and semicolons). */
export function parseExports (value: string, file: string, line: number): { variables: ExportDeclaration[], errors: ModelError[] } {
  const variables: ExportDeclaration[] = []
  const errors: ModelError[] = []
  let cursor = 0
  const add = (rawName: string, v: string | null): void => {
    const random = /^random\[([^\]]*)\]\s+(.*)$/i.exec(rawName)
    if (random !== null) variables.push({ name: random[2].trim(), value: v, randomKind: random[1] })
    else variables.push({ name: rawName, value: v })
  }
  while (cursor < value.length) {
    const c = value.charAt(cursor)
    if (/\s/.test(c) || c === ',') cursor++
    // One declaration: name [= value | = "value"]
    let name = ''
    let ch = ''
    while (cursor < value.length && (ch = value.charAt(cursor)) !== ',' && ch !== '=') { name += ch; cursor++ }
    name = name.trim()
    if (ch !== '=' || cursor >= value.length) {
      if (name === '') errors.push(modelError('PM_EMPTY_VARIABLE_NAME', file, line))
      else add(name, null)
      continue
    }
    cursor++
    let raw = ''
    ch = ''
    while (cursor < value.length && (ch = value.charAt(cursor)) !== ',' && ch !== '"') { raw += ch; cursor++ }
    if (ch !== '"' || cursor >= value.length) {
      const trimmed = raw.trim()
      add(name, trimmed === '' ? null : trimmed)
      continue
    }
    if (raw.trim() !== '') {
      errors.push(modelError('PM_INVALID_EXPORT_COMPLEX_VALUE', file, line, name))
      cursor++
      continue
    }
    cursor++
    let quoted = ''
    ch = ''
    while (cursor < value.length && (ch = value.charAt(cursor)) !== '"') { quoted += ch; cursor++ }
    if (ch !== '"' || cursor >= value.length) {
      errors.push(modelError('PM_INVALID_EXPORT_COMPLEX_VALUE', file, line, name))
      continue
    }
    cursor++
    let trailing = false
    while (cursor < value.length) {
      const t = value.charAt(cursor)
      if (t === ',') break
      if (/\s/.test(t)) cursor++
      else { trailing = true; break }
    }
    if (trailing) {
      errors.push(modelError('PM_INVALID_EXPORT_COMPLEX_VALUE', file, line, name))
      // Skip the rest of this declaration
      while (cursor < value.length && value.charAt(cursor) !== ',') cursor++
      continue
    }
    add(name, quoted)
    cursor++
  }
  return { variables, errors }
}

export interface ImportDeclaration { name: string, optional: boolean, external: boolean }

/** `external Lamp.ip (optional)` -> name, flags (both markers case-insensitive). */
export function parseImport (raw: string): ImportDeclaration {
  let s = raw.trim()
  const optional = s.toLowerCase().endsWith('(optional)')
  if (optional) s = s.slice(0, -'(optional)'.length).trim()
  const external = /^external\s/i.test(s)
  if (external) s = s.slice('external'.length).trim()
  return { name: s, optional, external }
}

export function properties (holder: HolderBlock, name: string): PropertyBlock[] {
  return holder.inner.filter((b): b is PropertyBlock => b.kind === 'property' && b.name === name)
}

/** Values of every `name:` property of the block, split on commas. */
export function listProperty (holder: HolderBlock, name: string): string[] {
  return properties(holder, name).flatMap(p => splitList(p.value)).filter(s => s !== '')
}

/** PM_* checks of a parsed file (parsing errors not included). */
export function validateBlocks (definition: FileDefinition): ModelError[] {
  const errors: ModelError[] = []
  for (const block of definition.blocks) validateBlock(block, definition.file, errors)
  return errors
}

export function validateBlock (block: Block, file: string, errors: ModelError[]): void {
  switch (block.kind) {
    case 'import':
      if (block.uri.trim() === '') errors.push(modelError('PM_EMPTY_IMPORT_LOCATION', file, block.line))
      break
    case 'unknown':
      errors.push(modelError('PM_INVALID_BLOCK_TYPE', file, block.line))
      break
    case 'component':
    case 'facet':
    case 'instance':
      validateHolder(block, file, errors)
      break
    default:
      break
  }
}

function validateHolder (holder: HolderBlock, file: string, errors: ModelError[]): void {
  const { name, line } = holder
  if (name.trim() === '') errors.push(modelError(holder.kind === 'facet' ? 'PM_EMPTY_FACET_NAME' : 'PM_EMPTY_COMPONENT_NAME', file, line))
  else if (!PATTERN_ID.test(name)) errors.push(modelError('PM_INVALID_NAME', file, line, name))
  else if (name.includes('.') && holder.kind !== 'instance') errors.push(modelError('PM_DOT_IS_NOT_ALLOWED', file, line, name))

  const strict = holder.kind !== 'instance'
  const supported = holder.kind === 'component' ? COMPONENT_PROPERTIES : holder.kind === 'facet' ? FACET_PROPERTIES : INSTANCE_PROPERTIES
  const found = new Set<string>()
  for (const region of holder.inner) {
    if (region.kind !== 'property') {
      if (holder.kind === 'instance' && !['blank', 'comment', 'property', 'instance'].includes(region.kind)) {
        errors.push(modelError('PM_INVALID_INSTANCE_ELEMENT', file, region.line))
      }
      validateBlock(region, file, errors)
      continue
    }
    if (found.has(region.name) && !REPEATABLE.has(region.name)) errors.push(modelError('PM_DUPLICATE_PROPERTY', file, region.line, region.name))
    found.add(region.name)
    if (supported.includes(region.name)) validateProperty(region, file, errors)
    else if (strict) errors.push(modelError('PM_PROPERTY_NOT_APPLIABLE', file, region.line, region.name))
  }

  if (holder.kind === 'instance') {
    const nameProperty = properties(holder, 'name')[0]
    if (nameProperty === undefined) errors.push(modelError('PM_MISSING_INSTANCE_NAME', file, line))
    else if (!PATTERN_FLEX_ID.test(nameProperty.value)) errors.push(modelError('PM_INVALID_INSTANCE_NAME', file, line, nameProperty.value))
  }
}

function validateProperty (p: PropertyBlock, file: string, errors: ModelError[]): void {
  const { value, line } = p
  if (value.trim() === '') {
    errors.push(modelError('PM_EMPTY_PROPERTY_VALUE', file, line, p.name))
    return
  }
  switch (p.name) {
    case 'children':
      for (const s of splitList(value)) if (!PATTERN_ID.test(s)) errors.push(modelError('PM_INVALID_CHILD_NAME', file, line, s))
      break
    case 'facets':
    case 'extends':
      for (const s of splitList(value)) {
        if (s === '') errors.push(modelError('PM_EMPTY_REFERENCED_NAME', file, line, p.name))
        else if (!PATTERN_ID.test(s)) errors.push(modelError('PM_INVALID_NAME', file, line, s))
      }
      break
    case 'imports':
      for (const s of splitList(value)) {
        const { name } = parseImport(s)
        if (name === '') errors.push(modelError('PM_EMPTY_VARIABLE_NAME', file, line))
        else if (!PATTERN_IMPORT.test(name)) errors.push(modelError('PM_INVALID_IMPORTED_VAR_NAME', file, line, name))
        else if (!name.includes('.') || name.indexOf('.') === name.length - 1) errors.push(modelError('PM_INCOMPLETE_IMPORTED_VAR_NAME', file, line, name))
      }
      break
    case 'exports': {
      const parsed = parseExports(value, file, line)
      errors.push(...parsed.errors)
      for (const v of parsed.variables) {
        if (/^external\s/i.test(v.name)) {
          errors.push(modelError('PM_INVALID_EXPORTED_VAR_NAME', file, line, v.name))
          errors.push(modelError('PM_EXTERNAL_IS_KEYWORD_FOR_IMPORTS', file, line, v.name))
        } else if (!PATTERN_ID.test(v.name)) {
          errors.push(modelError('PM_INVALID_EXPORTED_VAR_NAME', file, line, v.name))
        }
      }
      break
    }
    case 'installer':
      if (!PATTERN_FLEX_ID.test(value)) errors.push(modelError('PM_INVALID_INSTALLER_NAME', file, line, value))
      break
    case 'count': {
      const count = /^[+-]?\d{1,10}$/.test(value) ? Number(value) : -1
      if (count < 1 || count > 2147483647) errors.push(modelError('PM_INVALID_INSTANCE_COUNT', file, line, value))
      else if (count === 1) errors.push(modelError('PM_USELESS_INSTANCE_COUNT', file, line))
      break
    }
    default:
      break
  }
}
