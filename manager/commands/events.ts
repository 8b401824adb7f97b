// `meshconf events [<app>] [--path P] [--since 10m] [--limit N] [--follow]`: the DM's event history, one line an
// event (time, kind, application, path, what happened, who made it happen); with --follow, then the live events as
// they come (replayed from the last one listed, so none falls between the two).
import { InvalidArgumentError, type Command } from 'commander'
import type { DmClient, DmEvent, HistoryEvent } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { describeEvent, type DmEvent as DmSideEvent } from '../events.js'
import { isDocument, outputFormat, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { connect, parseInstancePath, withDmOptions, type DmOptions } from './output.js'

/** How many events `meshconf events` lists by default (the most recent). */
export const DEFAULT_EVENTS_LIMIT = 100

interface EventsOptions extends DmOptions, OutputOptions {
  path?: string
  since?: string
  limit?: number
  follow?: boolean
}

/** `2026-12-06T15:04:05.123Z  state    shop  /vm1/db  DEPLOYED_STARTED  (agent)` */
export function eventLine (event: Pick<HistoryEvent, 'at' | 'kind' | 'application' | 'path' | 'reason' | 'actor'>): string {
  return [event.at, event.kind.padEnd(11), event.application ?? '-', event.path ?? '-', event.reason, `(${event.actor})`].join('  ')
}

/** A live event in the history's words (the DM stores it the same way). */
export function historyEntryOf (event: DmEvent): HistoryEvent {
  const { id, ...body } = event as DmEvent & { id?: number }
  return { id: id ?? 0, ...describeEvent(body as unknown as DmSideEvent), body }
}

function inPath (event: { path?: string }, path: string | undefined): boolean {
  return path === undefined || (event.path !== undefined && (event.path === path || event.path.startsWith(`${path}/`)))
}

function parseLimit (value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > 10_000) {
    throw new InvalidArgumentError(`"${value}" is not a whole number from 1 to 10000 (e.g. --limit 50).`)
  }
  return Number(value)
}

function parseSinceOption (value: string): string {
  if (!/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value.trim()) && Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError(`"${value}" is neither a duration back from now (30s, 10m, 2h, 1d) nor an ISO time (2026-12-06T15:00:00Z).`)
  }
  return value.trim()
}

async function follow (client: DmClient, app: string | undefined, options: EventsOptions, lastId: number): Promise<void> {
  // after the last listed event; with none listed, the events since the same point (none before it matched)
  const stream = await client.openEvents({
    ...(app !== undefined ? { application: app } : {}),
    ...(lastId > 0 ? { after: lastId } : { since: options.since ?? '0s' })
  })
  const document = isDocument(options)
  await new Promise<void>(resolve => {
    const stop = (): void => { process.off('SIGINT', stop); stream.close(); resolve() }
    stream.on('event', (event: DmEvent) => {
      const entry = historyEntryOf(event)
      if (entry.id !== 0 && entry.id <= lastId) return
      if (!inPath(entry, options.path)) return
      lastId = Math.max(lastId, entry.id)
      process.stdout.write((document ? JSON.stringify(entry) : eventLine(entry)) + '\n')
    })
    stream.on('close', () => { process.off('SIGINT', stop); resolve() })
    stream.on('error', () => {})
    process.on('SIGINT', stop)
  })
}

async function events (app: string | undefined, options: EventsOptions): Promise<void> {
  const client = connect(options)
  const listed = await client.listEvents({
    ...(app !== undefined ? { application: app } : {}),
    ...(options.path !== undefined ? { path: options.path } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
    limit: options.limit ?? DEFAULT_EVENTS_LIMIT
  })
  if (options.follow === true) {
    // one JSON object a line while following: a document cannot be closed before the stream ends
    for (const e of listed) process.stdout.write((isDocument(options) ? JSON.stringify(e) : eventLine(e)) + '\n')
    await follow(client, app, options, listed.at(-1)?.id ?? 0)
    return
  }
  if (isDocument(options)) await printDocument(options, { events: listed })
  else {
    if (listed.length === 0 && outputFormat(options) !== 'wide') console.error('no events (the DM keeps 100 000 events or 30 days by default)')
    for (const e of listed) process.stdout.write(eventLine(e) + '\n')
  }
}

export const registerEventsCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withDmOptions(program.command('events')
    .description('the DM\'s event history (state changes, problems, machines, REST writes), one line an event')
    .argument('[app]', 'application name (default: every application, and templates)')
    .option('--path <path>', 'only the events of this instance and its subtree', parseInstancePath)
    .option('--since <when>', 'only the events since then: a duration back from now (30s, 10m, 2h, 1d) or an ISO time', parseSinceOption)
    .option('--limit <n>', `the most recent n events (default ${DEFAULT_EVENTS_LIMIT})`, parseLimit)
    .option('--follow', 'then print the live events as they come, until Ctrl-C (with -o json: one JSON object a line)')))
    .action(async (app: string | undefined, options: EventsOptions) => { await events(app, options) })
}
