// `meshconf scale <app> <Component> --to N`: adds or removes whole machines (root instances) carrying a component,
// replicating an existing one, and follows them to DEPLOYED_STARTED or NOT_DEPLOYED.
import type { Command } from 'commander'
import type { DmClient, InstanceNode } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { isDocument, printDocument, resolveWaitMs, withOutputOptions, withWaitOptions, type OutputOptions, type WaitOptions } from './format.js'
import { DEFAULT_WAIT_MS, followWithProgress, reportOutcome, type Expectation, type FollowOutcome } from './lifecycle.js'
import { connect, flattenInstances, parseMachineCount, useColor, withDmOptions, type DmOptions } from './output.js'

/** No root instance carries the component: there is nothing to replicate. */
export class NoCarrierError extends Error {
  constructor (readonly application: string, readonly component: string) {
    super(`no root instance of ${application} carries a ${component} instance, so there is none to replicate ` +
      `(check the component's name with \`meshconf status ${JSON.stringify(application)}\`, or add one with \`meshconf instance add\`)`)
    this.name = 'NoCarrierError'
  }
}

/** `Tomcat VM 3` -> { base: 'Tomcat VM', number: 3 }; a name without a number counts as number 1. */
export function splitNumberedName (name: string): { base: string, number: number } {
  const match = /^(.*\S)\s+(\d+)$/.exec(name)
  return match !== null ? { base: match[1], number: Number(match[2]) } : { base: name, number: 1 }
}

/** Root instances whose subtree holds an instance of `component` (the root itself included). */
export function carriersOf (tree: InstanceNode[], component: string): InstanceNode[] {
  return tree.filter(root => flattenInstances([root]).some(n => n.component === component))
}

/** Orders carriers by number, then name: the first is the one copied, the last ones are removed first. */
function byNumber (a: InstanceNode, b: InstanceNode): number {
  const na = splitNumberedName(a.name)
  const nb = splitNumberedName(b.name)
  return na.number - nb.number || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** The next `count` free names `<base> <k>` after the highest number in use among the roots of that base. */
export function nextFreeNames (roots: InstanceNode[], base: string, count: number): string[] {
  const taken = new Set(roots.map(r => r.name))
  let k = Math.max(0, ...roots.map(r => splitNumberedName(r.name)).filter(s => s.base === base).map(s => s.number))
  const names: string[] = []
  while (names.length < count) {
    k++
    const name = `${base} ${k}`
    if (!taken.has(name)) names.push(name)
  }
  return names
}

interface ScaleOptions extends DmOptions, OutputOptions, WaitOptions {
  to: number
}

interface ScaleReport {
  application: string
  component: string
  from: number
  to: number
  added: string[]
  removed: string[]
  /** How the machines went, when the command waited. */
  outcome?: FollowOutcome
}

/** Opens the events, sends the requests, and follows the expectations (unless not waiting). */
async function follow (client: DmClient, app: string, expectations: Expectation[], timeoutMs: number | undefined,
  send: () => Promise<void>, options: OutputOptions): Promise<FollowOutcome | undefined> {
  if (timeoutMs === undefined) {
    await send()
    return undefined
  }
  const events = await client.openEvents({ application: app })
  try {
    await send()
  } catch (err) {
    events.close()
    throw err
  }
  return await followWithProgress(client, app, events, expectations, timeoutMs, { ...options, title: `scale ${app}` })
}

async function scale (app: string, component: string, options: ScaleOptions): Promise<void> {
  const client = connect(options)
  // scale waits unless told not to: removing machines deletes them once undeployed
  const timeoutMs = resolveWaitMs(options, DEFAULT_WAIT_MS, true)
  const log = isDocument(options) ? () => {} : (line: string) => { console.log(line) }
  const tree = await client.getInstances(app)
  const carriers = carriersOf(tree, component).sort(byNumber)
  if (carriers.length === 0) throw new NoCarrierError(app, component)
  const report: ScaleReport = { application: app, component, from: carriers.length, to: options.to, added: [], removed: [] }

  if (options.to > carriers.length) {
    const model = carriers[0]
    const names = nextFreeNames(tree, splitNumberedName(model.name).base, options.to - carriers.length)
    log(`scale ${app}: ${component} on ${carriers.length} machine(s) -> ${options.to}: replicating ${model.path} as ${names.join(', ')}`)
    const copies: InstanceNode[] = []
    for (const name of names) {
      copies.push(await client.replicateInstance(app, model.path, name))
      report.added.push(`/${name}`)
    }
    // The copy's subtree as the DM made it (the replicate answer may or may not carry the children).
    const fresh = await client.getInstances(app)
    const expectations = flattenInstances(fresh.filter(r => report.added.includes(r.path)))
      .map(n => ({ path: n.path, accept: new Set(['DEPLOYED_STARTED'] as const) }))
    report.outcome = await follow(client, app, expectations, timeoutMs, async () => {
      for (const copy of copies) await client.runAction(app, { action: 'deploy-and-start-all', path: copy.path })
    }, options)
  } else if (options.to < carriers.length) {
    const extras = carriers.slice(options.to).reverse() // highest-numbered first
    report.removed = extras.map(r => r.path)
    log(`scale ${app}: ${component} on ${carriers.length} machine(s) -> ${options.to}: removing ${report.removed.join(', ')}`)
    const expectations = flattenInstances(extras).map(n => ({ path: n.path, accept: new Set(['NOT_DEPLOYED'] as const) }))
    report.outcome = await follow(client, app, expectations, timeoutMs, async () => {
      for (const root of extras) await client.runAction(app, { action: 'undeploy-all', path: root.path })
    }, options)
    if (report.outcome === undefined) log(`  undeploying ${report.removed.join(', ')}; with --no-wait they are not deleted: \`meshconf instance delete\` them once NOT_DEPLOYED`)
    else if (report.outcome.ok) {
      for (const root of extras) {
        await client.deleteInstance(app, root.path)
        log(`  deleted ${root.path}`)
      }
    }
  } else {
    log(`scale ${app}: ${component} is already on ${carriers.length} machine(s)`)
  }

  const { outcome, ...rest } = report
  if (isDocument(options)) await printDocument(options, { ...rest, waited: outcome !== undefined, ...(outcome ?? {}) })
  else if (outcome?.ok === true) log(`scale ${app}: ${component} now on ${options.to} machine(s)`)
  if (outcome !== undefined && timeoutMs !== undefined) process.exitCode = reportOutcome(outcome, timeoutMs, useColor())
}

export const registerScaleCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withWaitOptions(withDmOptions(program.command('scale')
    .description('add or remove whole machines carrying a component (replicating an existing one)')
    .argument('<app>', 'application name')
    .argument('<component>', 'component the machines carry, e.g. Tomcat')
    .requiredOption('--to <count>', 'number of machines wanted (whole number >= 1)', parseMachineCount)),
  'the machines are started or undeployed and deleted', DEFAULT_WAIT_MS, '; waits unless --no-wait'))
    .action(scale)
}
