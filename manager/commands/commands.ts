// `meshconf commands list|show|run <app> [<name>] [--dry-run]` and `meshconf history <app>`: the application's
// commands files (commands/*.commands), executed by the DM, and what commands, scales, rules and schedules did.
import { InvalidArgumentError, type Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { formatDuration, isDocument, printDocument, resolveWaitMs, withOutputOptions, withWaitOptions, type OutputOptions, type WaitOptions } from './format.js'
import { DEFAULT_WAIT_MS } from './lifecycle.js'
import { connect, formatModelError, usageError, withDmOptions, type DmOptions } from './output.js'

interface JsonOption extends DmOptions, OutputOptions {}

async function list (app: string, options: JsonOption): Promise<void> {
  const files = await connect(options).listCommands(app)
  if (isDocument(options)) return await printDocument(options, { commands: files })
  if (files.length === 0) console.log(`${app} has no commands files (commands/*.commands in its template)`)
  for (const f of files) {
    const severe = f.errors.filter(e => e.level === 'SEVERE').length
    console.log(`${f.name}  ${f.instructions} instruction(s)${severe > 0 ? `  ${severe} error(s) against the application now: meshconf commands show ${JSON.stringify(app)} ${f.name}` : ''}`)
  }
}

async function show (app: string, name: string, options: JsonOption): Promise<void> {
  const file = await connect(options).readCommands(app, name)
  if (isDocument(options)) return await printDocument(options, file)
  process.stdout.write(file.text.endsWith('\n') ? file.text : `${file.text}\n`)
  for (const e of file.errors) console.error(formatModelError(e))
  if (file.errors.some(e => e.level === 'SEVERE')) process.exitCode = 1
}

async function run (app: string, name: string, options: JsonOption & WaitOptions & { dryRun?: boolean }, command: Command): Promise<void> {
  if (options.wait === false) usageError(command, `commands run waits for the DM's answer: --wait=DURATION sets how long (default ${formatDuration(DEFAULT_WAIT_MS)})`)
  // the DM answers once every instruction ran: the request waits that long
  const timeoutMs = resolveWaitMs(options, DEFAULT_WAIT_MS, true) ?? DEFAULT_WAIT_MS
  const execution = await connect(options).runCommands(app, name, { dryRun: options.dryRun, timeoutMs })
  if (isDocument(options)) await printDocument(options, execution)
  else {
    for (const i of execution.instructions) {
      console.log(`${String(i.line).padStart(4)}  ${i.outcome.padEnd(7)}  ${i.text}${i.detail !== '' ? `  (${i.detail})` : ''}`)
    }
    console.log(`${name}: ${execution.dryRun ? 'dry run, nothing executed' : execution.ok ? 'done' : 'stopped at the first failure'}`)
  }
  if (!execution.ok) process.exitCode = 1
}

async function history (app: string, options: JsonOption & { offset?: number, limit?: number }): Promise<void> {
  const page = await connect(options).history(app, { offset: options.offset, limit: options.limit })
  if (isDocument(options)) return await printDocument(options, page)
  for (const e of page.entries) {
    const who = e.sourceName !== '' ? `${e.source}:${e.sourceName}` : e.source
    console.log(`${e.startedAt}  ${who.padEnd(16)}  ${e.command}${e.line > 0 ? `:${e.line}` : ''}  ${e.outcome.padEnd(7)}  ${e.instruction}  ${e.durationMs} ms${e.detail !== '' ? `  (${e.detail})` : ''}`)
  }
  console.log(`${page.entries.length} of ${page.total} entr${page.total === 1 ? 'y' : 'ies'}, newest first (from ${page.offset})`)
}

function parseCount (value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number`)
  return Number(value)
}

export const registerCommandsCommands: CommandRegistration = (program: Command) => {
  const commands = program.command('commands').description('the application\'s commands files (commands/*.commands), executed by the DM')
  withOutputOptions(withDmOptions(commands.command('list').description('list the commands files, validated against the application now')
    .argument('<app>', 'application name'))).action(list)
  withOutputOptions(withDmOptions(commands.command('show').description('print a commands file and what validating it finds')
    .argument('<app>', 'application name').argument('<name>', 'commands file name, without .commands'))).action(show)
  withOutputOptions(withWaitOptions(withDmOptions(commands.command('run').description('execute a commands file in sequence on the DM (stops at the first failure)')
    .argument('<app>', 'application name').argument('<name>', 'commands file name, without .commands')
    .option('--dry-run', 'validate and list the instructions, run nothing')), 'every instruction ran', DEFAULT_WAIT_MS, '; always waits', false))
    .action(run)
  withOutputOptions(withDmOptions(program.command('history').description('what commands, scales, rules and schedules did, newest first')
    .argument('<app>', 'application name')
    .option('--offset <n>', 'entries skipped (default 0)', parseCount)
    .option('--limit <n>', 'entries shown, 1 to 1000 (default 50)', parseCount))).action(history)
}

async function scheduleAdd (app: string, command: string, options: JsonOption & { cron: string, name?: string }): Promise<void> {
  const job = await connect(options).addSchedule({ application: app, command, cron: options.cron, ...(options.name !== undefined ? { name: options.name } : {}) })
  if (isDocument(options)) return await printDocument(options, job)
  console.log(`scheduled ${job.name} (${job.id}): ${command} of ${app} on "${job.cron}"`)
}

async function scheduleList (app: string | undefined, options: JsonOption): Promise<void> {
  const jobs = await connect(options).listSchedules(app)
  if (isDocument(options)) return await printDocument(options, { schedules: jobs })
  if (jobs.length === 0) console.log('no scheduled job')
  for (const j of jobs) console.log(`${j.id}  ${j.name}  ${j.application}  ${j.command}  "${j.cron}"  next ${j.nextRunAt ?? '-'}  last ${j.lastRunAt ?? '-'}`)
}

async function scheduleDelete (id: string, options: DmOptions): Promise<void> {
  await connect(options).deleteSchedule(id)
  console.log(`deleted scheduled job ${id}`)
}

export const registerScheduleCommands: CommandRegistration = (program: Command) => {
  const schedule = program.command('schedule').description('cron jobs on the DM that execute a commands file (kept across restarts; missed runs are not replayed)')
  withOutputOptions(withDmOptions(schedule.command('add').description('schedule a commands file of an application')
    .argument('<app>', 'application name').argument('<command>', 'commands file name, without .commands')
    .requiredOption('--cron <expression>', '5 fields (minute hour day month weekday), or 6 with seconds first, e.g. "*/5 * * * *"')
    .option('--name <name>', 'a name for the job (default <app>-<command>-<id>)'))).action(scheduleAdd)
  withOutputOptions(withDmOptions(schedule.command('list').description('list the scheduled jobs, with their next and last runs')
    .argument('[app]', 'only the jobs of this application'))).action(scheduleList)
  withDmOptions(schedule.command('delete').description('delete a scheduled job').argument('<id>', 'job id (schedule list)')).action(scheduleDelete)
}

async function rules (app: string, options: JsonOption): Promise<void> {
  const list = await connect(options).listRules(app)
  if (isDocument(options)) return await printDocument(options, { rules: list })
  if (list.length === 0) console.log(`${app} has no autonomic rules (rules.autonomic/*.drl in its template)`)
  for (const r of list) {
    const timing = [r.sleepPeriodSeconds !== undefined ? `sleep ${r.sleepPeriodSeconds} s` : '', r.timeWindowSeconds !== undefined ? `window ${r.timeWindowSeconds} s` : '', r.scaleDown ? 'scale-down' : '']
      .filter(x => x !== '').join(', ')
    console.log(`${r.name}  when ${r.eventName} then ${r.commands.join(', ')}${timing !== '' ? `  (${timing})` : ''}${r.running ? '  RUNNING' : ''}`)
    console.log(`  last fired: ${r.lastFiredAt ?? 'never'}`)
    if (r.lastDecision !== undefined) {
      console.log(`  last event: ${r.lastDecision.at} ${r.lastDecision.eventName} from ${r.lastDecision.path}: ${r.lastDecision.fired ? 'fired' : 'did not fire'}: ${r.lastDecision.reason}`)
    }
  }
}

export const registerRulesCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withDmOptions(program.command('rules').description('the autonomic rules of an application: last firing, and why each did or did not fire')
    .argument('<app>', 'application name'))).action(rules)
}
