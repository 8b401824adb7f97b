// Shared pieces of the operator commands: DM options, connecting, the instance tree drawing, JSON output,
// compiler-style model errors and argument parsers that turn bad values into usage errors (exit 2).
import { readFileSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { createDmClient, type DmClient, type InstanceNode } from '../client.js'
import { resolveDmConfig } from '../config.js'
import { isInstanceStatus, type InstanceStatus } from '../../protocol/lifecycle.js'
import { formatModelError as formatFinding, type ModelError } from '../../protocol/model/index.js'
import type { InstanceProblem } from '../../protocol/messages.js'
import { errorMessage } from '../../protocol/errors.js'

export interface DmOptions { dm?: string, token?: string, tokenFile?: string, context?: string }

/** Adds `--context`, `--dm` and `--token` to a command that talks to the DM. */
export function withDmOptions (command: Command): Command {
  return command
    .option('--context <name>', 'the DM of this context of ~/.meshconf/config.json (default: the current context; see meshconf context list)')
    .option('--dm <url>', 'URL of the DM (default: $MESHCONF_DM, else the current context, else http://127.0.0.1:7400)')
    .option('--token <token>', 'bearer token of the DM (default: $MESHCONF_TOKEN, else the current context\'s); other users of the host can read a command line: prefer --token-file')
    .option('--token-file <file>', 'a file holding the DM\'s bearer token (e.g. <data dir>/token), instead of --token')
}

/** A `--token-file` that cannot be used. */
export class TokenFileOptionError extends Error {
  constructor (file: string, reason: string) {
    super(`cannot read the token from --token-file ${file}: ${reason} (give a readable file holding the DM's token)`)
    this.name = 'TokenFileOptionError'
  }
}

/** The token of `--token`, else of `--token-file` (trimmed), else undefined. */
function tokenOption (options: DmOptions): string | undefined {
  if (options.token !== undefined || options.tokenFile === undefined) return options.token
  let text: string
  try {
    text = readFileSync(options.tokenFile, 'utf8').trim()
  } catch (err) {
    throw new TokenFileOptionError(options.tokenFile, errorMessage(err))
  }
  if (text === '') throw new TokenFileOptionError(options.tokenFile, 'it is empty')
  return text
}

/** The DM's messages name REST calls; on the command line these say what to type instead. */
const CLI_HINTS: Record<string, string> = {
  REST_APPLICATION_NOT_FOUND: '`meshconf app list` lists the applications',
  REST_INSTANCE_NOT_FOUND: '`meshconf status <app>` shows the instance paths',
  REST_TEMPLATE_NOT_FOUND: '`meshconf template list` lists the templates',
  REST_TARGET_NOT_FOUND: '`meshconf target list` lists the targets'
}

export function connect (options: DmOptions): DmClient {
  const config = resolveDmConfig({ dm: options.dm, token: tokenOption(options), context: options.context })
  return createDmClient({ url: config.url, token: config.token, hints: CLI_HINTS })
}

/** Prints exactly one JSON document on stdout. */
export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor (stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && (process.env.NO_COLOR ?? '') === ''
}

const STATUS_COLORS: Record<InstanceStatus, number> = {
  NOT_DEPLOYED: 90, // grey
  DEPLOYING: 36, // cyan: in the middle of an action
  DEPLOYED_STOPPED: 33, // yellow
  UNRESOLVED: 35, // magenta: waiting for imports
  WAITING_FOR_ANCESTOR: 35,
  STARTING: 36,
  DEPLOYED_STARTED: 32, // green
  STOPPING: 36,
  UNDEPLOYING: 36,
  PROBLEM: 31 // red
}

export function formatStatus (status: InstanceStatus, color: boolean): string {
  return color ? `\u001b[${STATUS_COLORS[status] ?? 0}m${status}\u001b[0m` : status
}

/** Every node of the tree, parents before children. */
export function flattenInstances (nodes: InstanceNode[]): InstanceNode[] {
  const out: InstanceNode[] = []
  const visit = (node: InstanceNode): void => { out.push(node); node.children.forEach(visit) }
  nodes.forEach(visit)
  return out
}

export function findInstance (nodes: InstanceNode[], path: string): InstanceNode | undefined {
  return flattenInstances(nodes).find(n => n.path === path)
}

export function isRootPath (path: string): boolean {
  return path.split('/').length === 2
}

/** Key of the instance data holding why an instance is in PROBLEM (reference §3.1). */
const LAST_PROBLEM = 'last.problem'
const IP_ADDRESS = 'ip.address'

/**
 * Draws the instance tree: roots by path, children by name under tree glyphs, the component in parentheses,
 * then the state in one column (coloured when asked), the machine's IP and the last problem when known.
 */
export function renderInstanceTree (nodes: InstanceNode[], options: { color: boolean }): string[] {
  const rows: Array<{ label: string, node: InstanceNode, under: string }> = []
  const visit = (node: InstanceNode, prefix: string, glyph: string): void => {
    const name = glyph === '' ? node.path : node.name
    const childPrefix = glyph === '' ? '' : prefix + (glyph === '└─ ' ? '   ' : '│  ')
    // lines under an instance keep its children's tree line going
    const under = (glyph === '' ? '' : childPrefix) + (node.children.length > 0 ? '│  ' : '   ')
    rows.push({ label: `${prefix}${glyph}${name} (${node.component})`, node, under })
    node.children.forEach((child, i) => { visit(child, childPrefix, i === node.children.length - 1 ? '└─ ' : '├─ ') })
  }
  nodes.forEach(root => { visit(root, '', '') })
  const width = Math.max(0, ...rows.map(r => r.label.length))
  return rows.flatMap(({ label, node, under }) => {
    let line = `${label.padEnd(width)}  ${formatStatus(node.status, options.color)}`
    if (node.data?.[IP_ADDRESS] !== undefined) line += `  ${node.data[IP_ADDRESS]}`
    const lines = [line]
    // the current problem, one line under the instance; what an UNRESOLVED instance waits for
    const problem = node.data?.[LAST_PROBLEM]
    if (problem !== undefined) lines.push(`${under}! ${oneLine(problem, PROBLEM_LINE_CHARS)}`)
    if ((node.missingImports ?? []).length > 0 && node.status !== 'DEPLOYED_STARTED') {
      lines.push(`${under}waits for ${node.missingImports!.map(p => `${p}.*`).join(', ')}`)
    }
    return lines
  })
}

/** Longest problem line `status` draws, in characters (`describe` shows it whole). */
const PROBLEM_LINE_CHARS = 160

function oneLine (text: string, max: number): string {
  const first = text.split('\n')[0]
  return first.length <= max ? first : `${first.slice(0, max - 1)}…`
}

/**
 * A failure in a few lines: what failed, how (step, plug-in, exit code or signal, duration, when), then the recipe's
 * last stderr and stdout, indented.
 */
export function formatProblem (problem: InstanceProblem): string[] {
  const how = [
    `step ${problem.step}`,
    ...(problem.plugin !== undefined ? [`plug-in ${problem.plugin}`] : []),
    ...(problem.exitCode !== undefined ? [`exit code ${problem.exitCode}`] : []),
    ...(problem.signal !== undefined ? [`signal ${problem.signal}`] : []),
    ...(problem.timedOut === true ? ['timed out'] : []),
    ...(problem.durationMs !== undefined ? [`after ${(problem.durationMs / 1000).toFixed(1)} s`] : []),
    `at ${problem.at}`
  ]
  const block = (name: string, text: string | undefined): string[] =>
    text === undefined || text.trim() === '' ? [] : [`${name}:`, ...text.replace(/\n$/, '').split('\n').map(l => `  ${l}`)]
  return [oneLine(problem.message, Number.MAX_SAFE_INTEGER), how.join(', '), ...block('stderr', problem.stderr), ...block('stdout', problem.stdout)]
}

/** `3 instances: 2 DEPLOYED_STARTED, 1 NOT_DEPLOYED` */
export function summarizeStatuses (nodes: InstanceNode[]): string {
  const all = flattenInstances(nodes)
  const counts = new Map<string, number>()
  for (const node of all) counts.set(node.status, (counts.get(node.status) ?? 0) + 1)
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n} ${s}`)
  return `${all.length} instance${all.length === 1 ? '' : 's'}${parts.length > 0 ? ': ' + parts.join(', ') : ''}`
}

/** `lamp/graph/main.graph:12: SEVERE P_UNKNOWN_COMPONENT: message`, the file relative to `root` when given. */
export function formatModelError (error: ModelError, root?: string): string {
  if (root === undefined) return formatFinding(error)
  const base = root.replace(/\/+$/, '')
  return error.file !== undefined ? formatFinding({ ...error, file: `${base}/${error.file}` }) : `${base}: ${formatFinding(error)}`
}

/** Parses `--to N`: a whole number >= 1 (at least one machine stays, to be replicated later). */
export function parseMachineCount (value: string): number {
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError(`"${value}" is not a whole number >= 1 (e.g. --to 3; to remove every machine, use \`meshconf undeploy\` and \`meshconf instance delete\`).`)
  }
  return Number(value)
}

/** Longest wait a command accepts, in seconds (a week; timers cannot go much beyond 24 days). */
const MAX_WAIT_SECONDS = 7 * 24 * 3600

/** Parses a duration in seconds (> 0, decimals allowed, at most a week). */
export function parseSeconds (value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_WAIT_SECONDS) {
    throw new InvalidArgumentError(`"${value}" is not a number of seconds > 0 and <= ${MAX_WAIT_SECONDS} (a week).`)
  }
  return n
}

export function parseStatus (value: string): InstanceStatus {
  const upper = value.trim().toUpperCase()
  if (!isInstanceStatus(upper)) throw new InvalidArgumentError(`"${value}" is not an instance state (e.g. DEPLOYED_STARTED, NOT_DEPLOYED).`)
  return upper
}

/** Parses an instance path: `/Root/Child` (a missing leading slash is added). */
export function parseInstancePath (value: string): string {
  const path = (value.startsWith('/') ? value : '/' + value).replace(/\/+$/, '')
  if (path === '' || path.split('/').slice(1).some(s => s.trim() === '')) {
    throw new InvalidArgumentError(`"${value}" is not an instance path (e.g. "/Tomcat VM 1/Tomcat").`)
  }
  return path
}

/** Ends the command with a usage error (exit 2) detected after parsing. */
export function usageError (command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: 2, code: 'meshconf.usage' })
}

/** Seconds since `start` (a performance.now() value), one decimal. */
export function secondsSince (start: number): string {
  return ((performance.now() - start) / 1000).toFixed(1)
}

/** A RabbitMQ URL (amqp:// or amqps://), e.g. amqp://guest:guest@127.0.0.1:5672. */
export function parseAmqpUrl (value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a URL: expected amqp://user:password@host:port, e.g. amqp://guest:guest@127.0.0.1:5672`)
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not an amqp:// or amqps:// URL, e.g. amqp://guest:guest@127.0.0.1:5672`)
  }
  return value
}
