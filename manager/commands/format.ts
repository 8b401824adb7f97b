// The CLI's one output convention, shared by every command (and by the commands other areas add):
// - `-o table|wide|json|yaml` on every read command (`--json` is `-o json`);
// - every JSON/YAML document has `ok` at its top level; times are ISO-8601 with a zone, durations `…Ms` numbers;
// - errors under `-o json|yaml` are one document on stdout `{ ok: false, code, message }`, same exit codes;
// - one wait flag: `--wait[=DURATION]` / `--no-wait`, durations written `90s`, `2m`, `500ms`, `1h`.
// Kept light (commander only): `meshconf --help` and completion load it.
import { InvalidArgumentError, Option, type Command } from 'commander'

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml'
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml']

export interface OutputOptions {
  /** `-o, --output` */
  output?: OutputFormat
  /** `--json`, the same as `-o json` */
  json?: boolean
}

/** Adds `-o, --output <format>` and `--json` to a read command. */
export function withOutputOptions (command: Command): Command {
  return command
    .addOption(new Option('-o, --output <format>', 'output format: table, wide (every column, nothing cut), json or yaml (default table)')
      .choices(OUTPUT_FORMATS))
    .option('--json', 'the same as -o json')
}

export function outputFormat (options: OutputOptions): OutputFormat {
  return options.json === true ? 'json' : options.output ?? 'table'
}

/** True when the command prints one document (json or yaml) instead of lines for people. */
export function isDocument (options: OutputOptions): boolean {
  const format = outputFormat(options)
  return format === 'json' || format === 'yaml'
}

/** Whether argv asks for a document output (`-o json`, `--output=yaml`, `--json`, …): errors are then documents too. */
export function documentFormatOf (argv: string[]): 'json' | 'yaml' | undefined {
  let found: 'json' | 'yaml' | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') break
    let value: string | undefined
    if (arg === '--json') value = 'json'
    else if (arg === '-o' || arg === '--output') value = argv[i + 1]
    else if (arg.startsWith('--output=')) value = arg.slice('--output='.length)
    else if (/^-o\w/.test(arg)) value = arg.slice(2)
    if (value === 'json' || value === 'yaml') found = value
  }
  return found
}

/** Serializes a document as JSON (2-space indented) or YAML (through the `yaml` package, loaded when needed). */
export async function serializeDocument (format: 'json' | 'yaml', document: object): Promise<string> {
  if (format === 'json') return JSON.stringify(document, null, 2) + '\n'
  const { stringify } = await import('yaml')
  return stringify(document)
}

/** `{ ok: true, ...document }`, with `ok` first; a document that says `ok` itself keeps its value. */
export function withOk (document: object): Record<string, unknown> {
  return { ok: true, ...document }
}

/** Prints one document (json or yaml, as asked) with `ok` at its top level. */
export async function printDocument (options: OutputOptions, document: object): Promise<void> {
  const format = outputFormat(options)
  process.stdout.write(await serializeDocument(format === 'yaml' ? 'yaml' : 'json', withOk(document)))
}

/**
 * Prints a read command's result: a document under `-o json|yaml`, else the lines `table(wide)` draws (wide:
 * every column, nothing cut).
 */
export async function printResult (options: OutputOptions, document: object, table: (wide: boolean) => string[]): Promise<void> {
  if (isDocument(options)) await printDocument(options, document)
  else for (const line of table(outputFormat(options) === 'wide')) process.stdout.write(line + '\n')
}

/** The error document of `-o json|yaml`: `{ ok: false, code, message }` (and `details` when the DM gave some). */
export function errorDocument (err: unknown, fallbackCode = 'CLI_FAILED'): { ok: false, code: string, message: string, details?: unknown[] } {
  const e = err as { code?: unknown, message?: unknown, name?: unknown, details?: unknown }
  const code = typeof e?.code === 'string' && e.code !== '' ? e.code : typeof e?.name === 'string' && e.name !== 'Error' ? e.name : fallbackCode
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const details = Array.isArray(e?.details) && e.details.length > 0 ? e.details : undefined
  return { ok: false, code, message, ...(details !== undefined ? { details } : {}) }
}

/** Width of the terminal stdout is on, or undefined when it is not one (no cutting then). */
export function terminalColumns (): number | undefined {
  return process.stdout.isTTY === true && process.stdout.columns > 0 ? process.stdout.columns : undefined
}

/** Cuts a cell to `max` characters with an ellipsis. */
export function cut (text: string, max: number): string {
  return text.length <= max ? text : max <= 1 ? text.slice(0, max) : text.slice(0, max - 1) + '…'
}

/** Longest a cell of the last column may be in `table` format when stdout is not a terminal, in characters. */
const MAX_LAST_CELL_CHARS = 60

/**
 * Rows under a header, in columns two spaces apart. In `table` format the last column is cut to fit the terminal
 * (or MAX_LAST_CELL_CHARS); `wide` cuts nothing.
 */
export function tableLines (header: string[], rows: string[][], wide = false): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const last = header.length - 1
  if (!wide && last > 0) {
    const before = widths.slice(0, last).reduce((a, b) => a + b + 2, 0)
    const room = Math.max(header[last].length, (terminalColumns() ?? before + MAX_LAST_CELL_CHARS) - before)
    widths[last] = Math.min(widths[last], room)
  }
  return [header, ...rows].map(row => row.map((c, i) => {
    const cell = wide ? (c ?? '') : cut(c ?? '', widths[i])
    return i === last ? cell : cell.padEnd(widths[i])
  }).join('  ').trimEnd())
}

/** `1 warning`, `2 warnings`: one rule for every count the CLI prints. */
export function plural (count: number, word: string, pluralWord = word + 's'): string {
  return `${count} ${count === 1 ? word : pluralWord}`
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/** Longest duration a flag accepts, in milliseconds (a week; timers cannot go much beyond 24 days). */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000

/** Parses `90s`, `2m`, `1h`, `500ms`, `1m30s`, or a bare number of seconds; returns milliseconds (> 0, <= a week). */
export function parseDuration (value: string): number {
  const text = value.trim()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000
  else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) {
    ms = 0
    for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * DURATION_UNITS_MS[unit]
  } else ms = NaN
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new InvalidArgumentError(`"${value}" is not a duration > 0 and <= a week: write e.g. 90s, 2m, 1h or 500ms.`)
  }
  return Math.round(ms)
}

/** `90s`, `2m`, `1m30s`, `500ms`: how durations are written back to people. */
export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.round(ms / 100) / 10
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  const rest = Math.round(s - m * 60)
  return rest === 0 ? `${m}m` : `${m}m${rest}s`
}

export interface WaitOptions {
  /** `--wait` (true) or `--no-wait` (false) */
  wait?: boolean
  /** `--wait=DURATION`, in milliseconds (the CLI turns `--wait=X` into the hidden `--wait-for X`). */
  waitFor?: number
}

/** The hidden option `--wait=DURATION` becomes (commander cannot give an optional value only after `=`). */
export const WAIT_FOR_FLAG = '--wait-for'

/**
 * Adds the one wait flag: `--wait[=DURATION]` and `--no-wait`. `what` says what is waited for, `defaultMs` how
 * long `--wait` alone waits. `noWait` describes `--no-wait`; `false` for a command that always waits (the option
 * is then hidden, and the command refuses it with a usage error).
 */
export function withWaitOptions (command: Command, what: string, defaultMs: number, defaultNote = '',
  noWait: string | false = 'return once the DM accepted the request'): Command {
  return command
    .option('--wait', `wait until ${what}, at most DURATION with --wait=DURATION (e.g. 90s, 2m; default ${formatDuration(defaultMs)})${defaultNote}`)
    .addOption(noWait === false ? new Option('--no-wait').hideHelp() : new Option('--no-wait', noWait))
    .addOption(new Option(`${WAIT_FOR_FLAG} <duration>`).hideHelp().argParser(parseDuration))
}

/** Rewrites `--wait=DURATION` into `--wait-for DURATION` (what withWaitOptions declares). */
export function rewriteWaitFlags (argv: string[]): string[] {
  const out: string[] = []
  for (const arg of argv) {
    if (arg === '--') { out.push(...argv.slice(out.length)); return out }
    if (arg.startsWith('--wait=')) out.push(WAIT_FOR_FLAG, arg.slice('--wait='.length))
    else out.push(arg)
  }
  return out
}

/**
 * How long to wait, in milliseconds, or undefined for not waiting. `--no-wait` never waits; `--wait=D` waits D;
 * `--wait` waits `defaultMs`; with neither, `waitByDefault` decides (today: when a person watches the terminal).
 */
export function resolveWaitMs (options: WaitOptions, defaultMs: number, waitByDefault: boolean = process.stdout.isTTY === true): number | undefined {
  if (options.wait === false) return undefined
  if (options.waitFor !== undefined) return options.waitFor
  if (options.wait === true || waitByDefault) return defaultMs
  return undefined
}

/** An ISO-8601 time with its zone (`2026-12-06T15:04:05.123Z`) from an ISO string, epoch milliseconds or a Date. */
export function isoTime (value: string | number | Date | undefined | null): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const date = value instanceof Date ? value : new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}
