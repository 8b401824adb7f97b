// Line-oriented parser of Roboconf's graph and instances DSL (reference §2.1–2.3), reproducing Roboconf's
// FileDefinitionParser verdicts: same blocks, same P_* codes, same line numbers. The result is a lossless syntax
// tree: every block keeps its source text, so serializeFile() gives the file back unchanged (comments included).
import { MAX_ERRORS_PER_FILE, MAX_INSTANCE_NESTING, PATTERN_ID } from './constants.js'
import { modelError } from './errors.js'
import type { ModelError } from './types.js'

export type FileKind = 'graph' | 'instances' | 'aggregator' | 'empty' | 'undetermined'

export interface BlankBlock { kind: 'blank', line: number, text: string }
export interface CommentBlock { kind: 'comment', line: number, text: string }
export interface UnknownBlock { kind: 'unknown', line: number, text: string }
export interface ImportBlock { kind: 'import', line: number, uri: string, text?: string }
export interface PropertyBlock { kind: 'property', line: number, name: string, value: string, text?: string }
export interface HolderBlock {
  kind: 'component' | 'facet' | 'instance'
  line: number
  /** Component or facet name; for an instance, its component's name. */
  name: string
  inner: Block[]
  /** Source text of the header line and of the closing line (absent for blocks built in memory). */
  header?: string
  closing?: string
}
export type Block = BlankBlock | CommentBlock | UnknownBlock | ImportBlock | PropertyBlock | HolderBlock

export interface FileDefinition {
  /** Path relative to the template root, used in errors. */
  file: string
  kind: FileKind
  blocks: Block[]
  /** P_* errors. */
  errors: ModelError[]
  endsWithNewline: boolean
}

const YES = 1
const NO = 2
const CANCEL = 3
type Code = typeof YES | typeof NO | typeof CANCEL

class TooManyErrors extends Error {
  constructor () { super('too many errors'); this.name = 'TooManyErrors' }
}

function startsWithKeyword (line: string, keyword: string): boolean {
  const trimmed = line.trim().toLowerCase()
  return trimmed === keyword || (trimmed.startsWith(keyword) && /\s/.test(trimmed.charAt(keyword.length)))
}

/** Removes the keyword (and the blanks before it) that starts the line, whatever its case. */
function dropKeyword (line: string, keyword: string): string {
  const at = line.toLowerCase().indexOf(keyword)
  return line.slice(at + keyword.length)
}

/** [text before the first '#', trimmed; the comment with the blanks before it]. `#` is a comment even in quotes. */
export function splitComment (line: string): [string, string] {
  const index = line.indexOf('#')
  if (index < 0) return [line, '']
  const before = line.slice(0, index)
  const blanks = /\s+$/.exec(before)?.[0] ?? ''
  return [before.trim(), blanks + line.slice(index)]
}

class Parser {
  private readonly lines: string[]
  private cursor = 0
  line = 0
  private depth = 0
  readonly definition: FileDefinition

  constructor (text: string, file: string) {
    this.lines = text.split('\n').map(l => l.endsWith('\r') ? l.replace(/\r/g, '') : l)
    const endsWithNewline = text.endsWith('\n')
    // "a\nb\n" has two lines, not three
    if (endsWithNewline) this.lines.pop()
    this.definition = { file, kind: 'undetermined', blocks: [], errors: [], endsWithNewline }
  }

  private nextLine (): string | null {
    this.line++
    return this.cursor < this.lines.length ? this.lines[this.cursor++] : null
  }

  private error (code: string, line = this.line, detail = ''): void {
    if (this.definition.errors.length >= MAX_ERRORS_PER_FILE) throw new TooManyErrors()
    this.definition.errors.push(modelError(code, this.definition.file, line, detail))
  }

  parse (): FileDefinition {
    const blocks = this.definition.blocks
    try {
      let line: string | null
      while ((line = this.nextLine()) !== null) {
        if (this.blankOrComment(line, blocks)) continue
        let code = this.recognizeImport(line)
        if (code === YES) continue
        code = this.recognizeFacet(line)
        if (code === CANCEL) break
        if (code === YES) continue
        code = this.recognizeInstanceOf(line, undefined)
        if (code === CANCEL) break
        if (code === YES) continue
        code = this.recognizeComponent(line)
        if (code !== YES) blocks.push({ kind: 'unknown', line: 0, text: line })
        if (code === CANCEL) break
        if (code === NO) this.error('P_UNRECOGNIZED_BLOCK', this.line, line.trim().slice(0, 60))
      }
    } catch (err) {
      if (!(err instanceof TooManyErrors)) throw err
      this.definition.errors.push(modelError('MC_TOO_MANY_ERRORS', this.definition.file, this.line,
        `stopped at line ${this.line}`))
    }
    this.definition.kind = this.fileKind()
    return this.definition
  }

  private fileKind (): FileKind {
    let facets = false; let components = false; let instances = false; let imports = false; let ignorable = 0
    for (const block of this.definition.blocks) {
      if (block.kind === 'component') components = true
      else if (block.kind === 'facet') facets = true
      else if (block.kind === 'instance') instances = true
      else if (block.kind === 'import') imports = true
      else if (block.kind === 'blank' || block.kind === 'comment') ignorable++
    }
    if (instances) {
      if (!facets && !components) return 'instances'
      this.definition.errors.push(modelError('P_INVALID_FILE_TYPE', this.definition.file, 1))
      return 'undetermined'
    }
    if (facets || components) return 'graph'
    if (imports) return 'aggregator'
    if (ignorable === this.definition.blocks.length) {
      this.definition.errors.push(modelError('P_EMPTY_FILE', this.definition.file, 1))
      return 'empty'
    }
    return 'undetermined'
  }

  private blankOrComment (line: string, blocks: Block[]): boolean {
    if (line.trim() === '') {
      blocks.push({ kind: 'blank', line: this.line, text: line })
      return true
    }
    if (line.trim().startsWith('#')) {
      blocks.push({ kind: 'comment', line: this.line, text: line })
      return true
    }
    return false
  }

  private recognizeImport (line: string): Code {
    const realLine = splitComment(line)[0].trim()
    const m = /import\s+([^;]*)/i.exec(realLine)
    if (m === null) return NO
    this.definition.blocks.push({ kind: 'import', line: this.line, uri: m[1].trim(), text: line })
    const rest = realLine.slice(m.index + m[0].length)
    if (!rest.startsWith(';')) this.error('P_IMPORT_ENDS_WITH_SEMI_COLON', this.line, m[1].trim())
    else if (rest.indexOf(';') < rest.length - 1) this.error('P_ONE_BLOCK_PER_LINE')
    return YES
  }

  private recognizeFacet (line: string): Code {
    if (!startsWithKeyword(line, 'facet')) return NO
    return this.recognizeHolder(line, dropKeyword(line, 'facet'), 'facet', undefined)
  }

  private recognizeInstanceOf (line: string, parent: HolderBlock | undefined): Code {
    if (!startsWithKeyword(line, 'instance of')) return NO
    if (this.depth >= MAX_INSTANCE_NESTING) {
      this.error('MC_NESTING_TOO_DEEP', this.line, String(MAX_INSTANCE_NESTING))
      return CANCEL
    }
    this.depth++
    try {
      return this.recognizeHolder(line, dropKeyword(line, 'instance of'), 'instance', parent)
    } finally {
      this.depth--
    }
  }

  private recognizeComponent (line: string): Code {
    const altered = line.trim().toLowerCase()
    if (altered === '' || altered.startsWith('#') || startsWithKeyword(altered, 'facet') ||
      startsWithKeyword(altered, 'instance of') || startsWithKeyword(altered, 'import')) return NO
    return this.recognizeHolder(line, line, 'component', undefined)
  }

  private recognizeProperty (line: string, holder: HolderBlock): Code {
    const realLine = splitComment(line)[0].trim()
    const m = /([^:\s]+)\s*:\s*(.*)$/.exec(realLine)
    if (m === null) return NO
    const value = m[2].replace(/;$/, '')
    holder.inner.push({ kind: 'property', line: this.line, name: m[1], value, text: line })
    if (!m[2].endsWith(';')) this.error('P_PROPERTY_ENDS_WITH_SEMI_COLON', this.line, m[1])
    // Only quoted export values may hold semicolons
    const unquoted = realLine.includes('"') ? value.replace(/"[^"]*"/g, '') : value
    if (unquoted.includes(';')) this.error('P_ONE_BLOCK_PER_LINE')
    return YES
  }

  private recognizeHolder (source: string, line: string, kind: HolderBlock['kind'], parent: HolderBlock | undefined): Code {
    const realLine = splitComment(line)[0].trim()
    const bracket = realLine.indexOf('{')
    let result: Code
    let holder: HolderBlock | undefined
    if (bracket >= 0 && bracket < realLine.length - 1) {
      this.error('P_O_C_BRACKET_EXTRA_CHARACTERS', this.line, realLine.slice(bracket + 1).trim())
      result = CANCEL
    } else if (bracket < 0) {
      if (realLine.trim() === '' || PATTERN_ID.test(realLine)) {
        this.error('P_O_C_BRACKET_MISSING', this.line, realLine)
        result = CANCEL
      } else {
        result = NO
      }
    } else {
      result = YES
      holder = { kind, line: this.line, name: realLine.slice(0, bracket).trim(), inner: [], header: source }
      this.definition.blocks.push(holder)
    }

    let errorInside = false
    let current: string | null = null
    if (holder !== undefined) {
      while ((current = this.nextLine()) !== null && !current.trim().startsWith('}')) {
        if (this.blankOrComment(current, holder.inner)) continue
        let code = this.recognizeInstanceOf(current, holder)
        if (code === NO) code = this.recognizeProperty(current, holder)
        if (code === CANCEL) result = CANCEL
        if (code !== YES) {
          errorInside = true
          break
        }
      }
    }

    if (errorInside) {
      if (result === YES) {
        this.error(kind === 'instance' ? 'P_INVALID_PROPERTY_OR_INSTANCE' : 'P_INVALID_PROPERTY', this.line,
          current?.trim().slice(0, 60) ?? '')
      }
      result = CANCEL
    } else if (result === YES && current !== null) {
      const rest = splitComment(current.replace(/\s*\}/, ''))[0]
      if (rest.trim() !== '') {
        this.error('P_C_C_BRACKET_EXTRA_CHARACTERS', this.line, rest.trim().slice(0, 60))
        result = CANCEL
      }
      if (holder !== undefined) holder.closing = current
    } else if (result === YES) {
      this.error('P_C_C_BRACKET_MISSING', this.line, holder?.name ?? '')
    }

    // A nested instance that parsed moves from the file's blocks into its parent
    if (result === YES && parent !== undefined && holder !== undefined) {
      const blocks = this.definition.blocks
      blocks.splice(blocks.lastIndexOf(holder), 1)
      parent.inner.push(holder)
    }
    return result
  }
}

/** Parses the text of a graph or instances file. Never throws on input. */
export function parseFile (text: string, file: string): FileDefinition {
  return new Parser(text, file).parse()
}

/** Gives the file back: the source text of parsed blocks, a canonical form for blocks built in memory. */
export function serializeFile (definition: Pick<FileDefinition, 'blocks' | 'endsWithNewline'>): string {
  const lines: string[] = []
  for (const block of definition.blocks) serializeBlock(block, 0, lines)
  return lines.join('\n') + (definition.endsWithNewline ? '\n' : '')
}

function serializeBlock (block: Block, depth: number, lines: string[]): void {
  const indent = '\t'.repeat(depth)
  switch (block.kind) {
    case 'blank':
    case 'comment':
    case 'unknown':
      lines.push(block.text)
      break
    case 'import':
      lines.push(block.text ?? `${indent}import ${block.uri};`)
      break
    case 'property':
      lines.push(block.text ?? `${indent}${block.name}: ${block.value};`)
      break
    default: {
      const keyword = block.kind === 'facet' ? 'facet ' : block.kind === 'instance' ? 'instance of ' : ''
      lines.push(block.header ?? `${indent}${keyword}${block.name} {`)
      for (const inner of block.inner) serializeBlock(inner, depth + 1, lines)
      lines.push(block.closing ?? `${indent}}`)
    }
  }
}
