// `meshconf scale <app> <Component> --to N [--root /path] [--dry-run]`: the DM adds or removes whole machines (root
// instances) carrying a component (POST /api/applications/:app/scale); the command prints the plan and follows the
// machines to DEPLOYED_STARTED or NOT_DEPLOYED.
import type { Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { describePlan } from '../autonomy/scale.js'
import { followInstances, progressLine, reportOutcome, DEFAULT_WAIT_SECONDS, type Expectation, type FollowOutcome } from './lifecycle.js'
import { connect, flattenInstances, parseMachineCount, parseSeconds, printJson, useColor, withDmOptions, type DmOptions } from './output.js'

interface ScaleOptions extends DmOptions {
  to: number
  root?: string
  dryRun?: boolean
  timeout?: number
  json?: boolean
}

interface ScaleReport {
  application: string
  component: string
  from: number
  to: number
  model: string
  added: string[]
  removed: string[]
  dryRun: boolean
  outcome?: FollowOutcome
}

async function scale (app: string, component: string, options: ScaleOptions): Promise<void> {
  const client = connect(options)
  const timeoutSeconds = options.timeout ?? DEFAULT_WAIT_SECONDS
  const log = options.json === true ? () => {} : (line: string) => { console.log(line) }
  const color = useColor()
  const request = { component, count: options.to, ...(options.root !== undefined ? { root: options.root } : {}) }
  // the plan first: what will be followed, and what a dry run shows
  const plan = await client.scale(app, { ...request, dryRun: true })
  log(`scale ${app}: ${describePlan(plan)}`)
  const report: ScaleReport = {
    application: app, component, from: plan.from, to: plan.to, model: plan.model, added: plan.add, removed: plan.remove, dryRun: options.dryRun === true
  }
  if (options.dryRun === true || (plan.add.length === 0 && plan.remove.length === 0)) {
    if (options.json === true) printJson(report)
    return
  }

  const events = await client.openEvents({ application: app })
  let removals: Expectation[] = []
  if (plan.remove.length > 0) {
    const tree = await client.getInstances(app)
    removals = flattenInstances(tree.filter(r => plan.remove.includes(r.path))).map(n => ({ path: n.path, accept: new Set(['NOT_DEPLOYED'] as const) }))
  }
  const width = (expectations: Expectation[]): number => Math.max(0, ...expectations.map(e => e.path.length))
  // removals are followed while the DM undeploys them (its answer comes once they are deleted)
  const following = removals.length > 0
    ? followInstances({ client, application: app, events, expectations: removals, timeoutSeconds, onReached: (p, s, t) => { log(progressLine(p, s, t, width(removals), color)) } })
    : undefined
  let done
  try {
    done = await client.scale(app, { ...request, dryRun: false }, timeoutSeconds * 1000)
  } catch (err) {
    events.close()
    throw err
  }
  report.added = done.add
  report.removed = done.remove
  if (following !== undefined) {
    report.outcome = await following
    for (const path of done.remove) log(`  deleted ${path}`)
  } else {
    const fresh = await client.getInstances(app)
    const additions = flattenInstances(fresh.filter(r => done.add.includes(r.path))).map(n => ({ path: n.path, accept: new Set(['DEPLOYED_STARTED'] as const) }))
    report.outcome = await followInstances({
      client, application: app, events, expectations: additions, timeoutSeconds, onReached: (p, s, t) => { log(progressLine(p, s, t, width(additions), color)) }
    })
  }

  if (options.json === true) printJson(report)
  else if (report.outcome.ok) log(`scale ${app}: ${component} now on ${options.to} machine(s)`)
  process.exitCode = reportOutcome(report.outcome, timeoutSeconds, color)
}

export const registerScaleCommand: CommandRegistration = (program: Command) => {
  withDmOptions(program.command('scale')
    .description('add or remove whole machines carrying a component: the DM replicates one, or undeploys then deletes the highest-numbered')
    .argument('<app>', 'application name')
    .argument('<component>', 'component the machines carry, e.g. Tomcat')
    .requiredOption('--to <count>', 'number of machines wanted (whole number >= 1)', parseMachineCount)
    .option('--root <path>', 'root instance to replicate, and whose likes are counted (when machines carry other components too)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--timeout <seconds>', `how long to wait for the machines to start or stop (default ${DEFAULT_WAIT_SECONDS} s)`, parseSeconds)
    .option('--json', 'print one JSON document (what was added or removed, and how the states went)'))
    .action(scale)
}
