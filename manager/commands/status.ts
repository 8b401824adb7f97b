// `meshconf status <app> [--watch]`: the instance tree with live states.
import type { Command } from 'commander'
import type { ApplicationDetails, DmEvent, InstanceNode } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import {
  formatDuration, isDocument, isoTime, printDocument, resolveWaitMs, withOutputOptions, withWaitOptions, type OutputOptions, type WaitOptions
} from './format.js'
import { DEFAULT_WAIT_MS } from './lifecycle.js'
import {
  connect, findInstance, flattenInstances, formatStatus, parseStatus, renderInstanceTree,
  summarizeStatuses, usageError, useColor, withDmOptions, type DmOptions
} from './output.js'

interface StatusOptions extends DmOptions, OutputOptions, WaitOptions {
  watch?: boolean
  /** Stop watching once every instance is in this state (exit 0). */
  until?: InstanceStatus
  /** How long to watch, in milliseconds (from the wait flag; undefined: until Ctrl-C or --until). */
  timeout?: number
}

/** The application as the status document shows it. */
function statusDocument (details: ApplicationDetails): object {
  return { application: { ...details, createdAt: isoTime(details.createdAt) }, summary: summarizeStatuses(details.instances) }
}

/** Clears a terminal and moves the cursor home, so a redraw replaces the previous tree. */
const CLEAR_SCREEN = '\u001b[H\u001b[2J'

function render (details: ApplicationDetails, color: boolean): string {
  const lines = [
    `${details.name} (template ${details.template.name} ${details.template.version}): ${summarizeStatuses(details.instances)}`,
    ...renderInstanceTree(details.instances, { color })
  ]
  return lines.join('\n') + '\n'
}

function allIn (nodes: InstanceNode[], status: InstanceStatus): boolean {
  return flattenInstances(nodes).every(n => n.status === status)
}

async function status (app: string, options: StatusOptions, command: Command): Promise<void> {
  const color = useColor()
  // --wait=DURATION watches that long, --wait alone the default wait, --no-wait (or neither) without a limit
  options.timeout = resolveWaitMs(options, DEFAULT_WAIT_MS, false)
  if (options.until !== undefined) options.watch = true
  if (options.watch !== true) {
    if (options.waitFor !== undefined) usageError(command, '--wait=DURATION goes with --watch or --until')
    if (options.wait !== undefined) usageError(command, `--${options.wait ? '' : 'no-'}wait goes with --watch or --until`)
    const details = await connect(options).getApplication(app)
    if (isDocument(options)) await printDocument(options, statusDocument(details))
    else process.stdout.write(render(details, color))
    return
  }

  // Ctrl-C ends the watch normally from the start, even before the first tree is drawn.
  let interrupt = (): void => { interrupted = true }
  let interrupted = false
  const onInterrupt = (): void => { interrupt() }
  process.on('SIGINT', onInterrupt)
  try {
    await watch(app, options, color, (fn) => { interrupt = fn; if (interrupted) fn() })
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}

async function watch (app: string, options: StatusOptions, color: boolean, onInterrupt: (stop: () => void) => void): Promise<void> {
  const client = connect(options)
  // Subscribe before reading the tree, so no change falls between the two.
  const events = await client.openEvents({ application: app })
  let details: ApplicationDetails
  try {
    details = await client.getApplication(app)
  } catch (err) {
    events.close() // an open socket would keep the process alive
    throw err
  }
  const tty = process.stdout.isTTY === true
  if (!isDocument(options)) process.stdout.write((tty ? CLEAR_SCREEN : '') + render(details, color))

  const outcome = await new Promise<{ code: number, message?: string }>((resolve) => {
    let refreshing = Promise.resolve()
    let finished = false
    const done = (code: number, message?: string): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      events.off('event', onEvent)
      events.off('close', onClose)
      events.close()
      // Wait for a refresh in flight, so the last document printed is the last state seen.
      refreshing.finally(() => { resolve({ code, message }) }).catch(() => {})
    }
    const checkUntil = (): void => {
      if (options.until !== undefined && allIn(details.instances, options.until)) done(0)
    }
    const refresh = (): void => {
      refreshing = refreshing.then(async () => {
        if (finished) return
        details = await client.getApplication(app)
        if (!isDocument(options) && tty) process.stdout.write(CLEAR_SCREEN + render(details, color))
        checkUntil()
      }).catch((err: Error) => { done(1, err.message) })
    }
    const onEvent = (event: DmEvent): void => {
      // REST writes show up as their effects (instance and application events)
      if (event.type === 'request') return
      if (event.type !== 'instance') { refresh(); return }
      const node = findInstance(details.instances, event.path)
      // Unknown instances (added since) and problems (whose reason is in the instance data) need the full tree.
      if (node === undefined || event.status === 'PROBLEM') { refresh(); return }
      if (node.status === event.status) return
      node.status = event.status
      if (!isDocument(options)) {
        if (tty) process.stdout.write(CLEAR_SCREEN + render(details, color))
        else process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${event.path} ${formatStatus(event.status, color)}\n`)
      }
      checkUntil()
    }
    const onClose = (): void => { done(1, `the DM closed the events stream of ${app}`) }
    const timer = options.timeout !== undefined
      ? setTimeout(() => {
        done(options.until !== undefined ? 1 : 0, options.until !== undefined
          ? `timeout after ${formatDuration(options.timeout ?? 0)}: ${flattenInstances(details.instances).filter(n => n.status !== options.until).length} instance(s) not ${options.until}`
          : undefined)
      }, options.timeout)
      : undefined
    events.on('event', onEvent)
    events.on('close', onClose)
    onInterrupt(() => { done(0) })
    checkUntil()
  })
  if (isDocument(options)) await printDocument(options, { ...statusDocument(details), ...(outcome.code !== 0 ? { ok: false, code: 'CLI_WATCH_ENDED', message: outcome.message ?? '' } : {}) })
  if (outcome.message !== undefined) console.error(`meshconf: ${outcome.message}`)
  if (outcome.code !== 0) process.exitCode = outcome.code
}

export const registerStatusCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withWaitOptions(withDmOptions(program.command('status')
    .description('show the instance tree of an application with its live states')
    .argument('<app>', 'application name')
    .option('--watch', 'redraw on every change until Ctrl-C (with -o json|yaml: one document, the last state seen, when watching ends)')
    .option('--until <state>', 'watch until every instance is in this state, e.g. DEPLOYED_STARTED', parseStatus)),
  'Ctrl-C or --until, with --watch or --until', DEFAULT_WAIT_MS, '; exit 1 if --until was not reached',
  'with --watch or --until: no time limit (the default)'))
    .action(status)
}
