// `meshconf scale <app> <Component> --to N [--root /path] [--dry-run]`: the DM adds or removes whole machines (root
// instances) carrying a component (POST /api/applications/:app/scale); the command prints the plan and follows the
// machines to DEPLOYED_STARTED or NOT_DEPLOYED.
import type { Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { describePlan } from '../autonomy/scale.js'
import { isDocument, printDocument, resolveWaitMs, withOutputOptions, withWaitOptions, type OutputOptions, type WaitOptions } from './format.js'
import { DEFAULT_WAIT_MS, followWithProgress, reportOutcome, type Expectation, type FollowOutcome } from './lifecycle.js'
import { connect, flattenInstances, parseMachineCount, useColor, withDmOptions, type DmOptions } from './output.js'

interface ScaleOptions extends DmOptions, OutputOptions, WaitOptions {
  to: number
  root?: string
  dryRun?: boolean
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
}

async function scale (app: string, component: string, options: ScaleOptions): Promise<void> {
  const client = connect(options)
  // scale waits unless told not to: the DM answers a scale-down once the machines are deleted
  const timeoutMs = resolveWaitMs(options, DEFAULT_WAIT_MS, true) ?? DEFAULT_WAIT_MS
  const log = isDocument(options) ? () => {} : (line: string) => { console.log(line) }
  const request = { component, count: options.to, ...(options.root !== undefined ? { root: options.root } : {}) }
  // the plan first: what will be followed, and what a dry run shows
  const plan = await client.scale(app, { ...request, dryRun: true })
  log(`scale ${app}: ${describePlan(plan)}`)
  const report: ScaleReport = {
    application: app, component, from: plan.from, to: plan.to, model: plan.model, added: plan.add, removed: plan.remove, dryRun: options.dryRun === true
  }
  if (options.dryRun === true || (plan.add.length === 0 && plan.remove.length === 0)) {
    if (isDocument(options)) await printDocument(options, { ...report, waited: false })
    return
  }
  if (options.wait === false) {
    const done = await client.scale(app, { ...request, dryRun: false }, timeoutMs)
    if (isDocument(options)) await printDocument(options, { ...report, added: done.add, removed: done.remove, waited: false })
    else log(`scale ${app}: asked; follow it with \`meshconf status ${JSON.stringify(app)} --watch\``)
    return
  }

  const events = await client.openEvents({ application: app })
  let removals: Expectation[] = []
  if (plan.remove.length > 0) {
    const tree = await client.getInstances(app)
    removals = flattenInstances(tree.filter(r => plan.remove.includes(r.path))).map(n => ({ path: n.path, accept: new Set(['NOT_DEPLOYED'] as const) }))
  }
  // removals are followed while the DM undeploys them (its answer comes once they are deleted)
  const following = removals.length > 0
    ? followWithProgress(client, app, events, removals, timeoutMs, { ...options, title: `scale ${app}` })
    : undefined
  let done
  try {
    done = await client.scale(app, { ...request, dryRun: false }, timeoutMs)
  } catch (err) {
    events.close()
    throw err
  }
  report.added = done.add
  report.removed = done.remove
  let outcome: FollowOutcome
  if (following !== undefined) {
    outcome = await following
    for (const path of done.remove) log(`  deleted ${path}`)
  } else {
    const fresh = await client.getInstances(app)
    const additions = flattenInstances(fresh.filter(r => done.add.includes(r.path))).map(n => ({ path: n.path, accept: new Set(['DEPLOYED_STARTED'] as const) }))
    outcome = await followWithProgress(client, app, events, additions, timeoutMs, { ...options, title: `scale ${app}` })
  }

  if (isDocument(options)) await printDocument(options, { ...report, waited: true, ...outcome })
  else if (outcome.ok) log(`scale ${app}: ${component} now on ${options.to} machine(s)`)
  process.exitCode = reportOutcome(outcome, timeoutMs, useColor())
}

export const registerScaleCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withWaitOptions(withDmOptions(program.command('scale')
    .description('add or remove whole machines carrying a component: the DM replicates one, or undeploys then deletes the highest-numbered')
    .argument('<app>', 'application name')
    .argument('<component>', 'component the machines carry, e.g. Tomcat')
    .requiredOption('--to <count>', 'number of machines wanted (whole number >= 1)', parseMachineCount)
    .option('--root <path>', 'root instance to replicate, and whose likes are counted (when machines carry other components too)')
    .option('--dry-run', 'print the plan and change nothing')),
  'the machines are started, or undeployed and deleted', DEFAULT_WAIT_MS, '; waits unless --no-wait'))
    .action(scale)
}
