// `meshconf logs <app> <machine path> [--tail N] [--instance path] [--follow]`: a machine's recent log, gathered from
// its agent through the DM (embedded endpoint or RabbitMQ); for a terminated machine, what the DM kept of it
// (marked as kept). Recipe output lines carry their instance and step.
import { InvalidArgumentError, type Command } from 'commander'
import type { AgentLogLine } from '../../protocol/messages.js'
import type { CommandRegistration } from '../cli.js'
import { isDocument, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { connect, parseInstancePath, withDmOptions, type DmOptions } from './output.js'

/** Lines `meshconf logs` shows by default (the last ones). */
export const DEFAULT_LOG_TAIL = 200
/** How often --follow asks for new lines, in ms. */
export const LOGS_FOLLOW_INTERVAL_MS = 1_000

interface LogsOptions extends DmOptions, OutputOptions {
  tail?: number
  instance?: string
  follow?: boolean
}

/** `2026-12-06T15:04:05.123Z WARN  [/vm1/db] start: script scripts/start.sh (stderr): ...` */
export function logLine (line: AgentLogLine): string {
  return `${line.at} ${line.level.toUpperCase().padEnd(5)} ${line.message}`
}

function parseTail (value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > 100_000) {
    throw new InvalidArgumentError(`"${value}" is not a whole number from 1 to 100000 (e.g. --tail 50).`)
  }
  return Number(value)
}

async function logs (app: string, machine: string, options: LogsOptions): Promise<void> {
  const client = connect(options)
  const instance = options.instance !== undefined ? { instance: options.instance } : {}
  const first = await client.machineLogs(app, machine, { tail: options.tail ?? DEFAULT_LOG_TAIL, ...instance })
  const document = isDocument(options)
  if (first.kept) console.error(`meshconf: ${machine} has no machine now: its log as the DM kept it when the machine was terminated`)
  if (document && options.follow !== true) {
    await printDocument(options, { application: app, machine, kept: first.kept, lastSeq: first.lastSeq, lines: first.lines })
    return
  }
  const print = (lines: AgentLogLine[]): void => {
    for (const line of lines) process.stdout.write((document ? JSON.stringify(line) : logLine(line)) + '\n')
  }
  print(first.lines)
  if (options.follow !== true || first.kept) return
  let after = first.lastSeq
  let stopped = false
  const stop = (): void => { stopped = true }
  process.once('SIGINT', stop)
  try {
    while (!stopped) {
      await new Promise(resolve => setTimeout(resolve, LOGS_FOLLOW_INTERVAL_MS))
      if (stopped) break
      const next = await client.machineLogs(app, machine, { after, ...instance })
      print(next.lines)
      after = next.lines.at(-1)?.seq ?? next.lastSeq
      if (next.kept) break
    }
  } finally {
    process.off('SIGINT', stop)
  }
}

export const registerLogsCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withDmOptions(program.command('logs')
    .description('a machine\'s recent log, through its agent (or what the DM kept of a terminated machine)')
    .argument('<app>', 'application name')
    .argument('<machine>', 'the machine\'s path, e.g. "/MySQL VM"', parseInstancePath)
    .option('--tail <n>', `the last n lines (default ${DEFAULT_LOG_TAIL})`, parseTail)
    .option('--instance <path>', 'only the lines of this instance (and its subtree): what its recipes printed, with their step', parseInstancePath)
    .option('--follow', 'then print new lines as they come, until Ctrl-C (with -o json: one JSON object a line)')))
    .action(async (app: string, machine: string, options: LogsOptions) => { await logs(app, machine, options) })
}
