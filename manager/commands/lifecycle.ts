// `meshconf deploy|start|stop|undeploy <app> [path] [--all]`: asks the DM for states, then (with --wait) follows
// the events and lists each instance as it reaches its state.
import type { Command } from 'commander'
import type { ApplicationAction, DmClient, DmEvent, DmEventStream, InstanceNode, RequestableStatus } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { InstanceProblem } from '../../protocol/messages.js'
import {
  formatDuration, isDocument, printDocument, resolveWaitMs, withOutputOptions, withWaitOptions, type OutputOptions, type WaitOptions
} from './format.js'
import {
  connect, findInstance, flattenInstances, formatProblem, formatStatus, isRootPath, parseInstancePath, useColor, withDmOptions,
  type DmOptions
} from './output.js'
import { createProgress } from './progress.js'

/** How long --wait waits when given no duration, in milliseconds (10 minutes). */
export const DEFAULT_WAIT_MS = 600_000
/** How often a follow re-reads the tree, in case an event was lost, in milliseconds. */
export const RECONCILE_INTERVAL_MS = 2000

export type LifecycleOperation = 'deploy' | 'start' | 'stop' | 'undeploy'

export type LifecycleRequest =
  | { kind: 'state', path: string, state: RequestableStatus }
  | { kind: 'action', action: ApplicationAction, path?: string }

/** An instance to follow and the states that count as done for it. */
export interface Expectation {
  path: string
  accept: ReadonlySet<InstanceStatus>
}

export interface LifecyclePlan {
  requests: LifecycleRequest[]
  expectations: Expectation[]
}

/** The instance path is not in the application. */
export class UnknownInstanceError extends Error {
  constructor (readonly application: string, readonly path: string) {
    super(`application ${application} has no instance ${path} (see \`meshconf status ${JSON.stringify(application)}\`)`)
    this.name = 'UnknownInstanceError'
  }
}

const DEPLOYED: ReadonlySet<InstanceStatus> = new Set(['DEPLOYED_STOPPED', 'DEPLOYED_STARTED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR'])
const STARTED: ReadonlySet<InstanceStatus> = new Set(['DEPLOYED_STARTED'])
const STOPPED: ReadonlySet<InstanceStatus> = new Set(['DEPLOYED_STOPPED', 'NOT_DEPLOYED'])
/** Descendants of a stopped instance may also wait for their ancestor. */
const STOPPED_BELOW: ReadonlySet<InstanceStatus> = new Set(['DEPLOYED_STOPPED', 'NOT_DEPLOYED', 'WAITING_FOR_ANCESTOR'])
const UNDEPLOYED: ReadonlySet<InstanceStatus> = new Set(['NOT_DEPLOYED'])

/**
 * What to ask the DM and what to wait for. Root (scoped) instances are machines: deploying or starting one creates
 * the machine (DEPLOYED_STARTED), stopping does not apply to them (their subtree is stopped instead).
 * With `all` (or no path) the whole subtree (or application) is concerned.
 */
export function planLifecycle (
  application: string, operation: LifecycleOperation, tree: InstanceNode[], path: string | undefined, all: boolean
): LifecyclePlan {
  const node = path !== undefined ? findInstance(tree, path) : undefined
  if (path !== undefined && node === undefined) throw new UnknownInstanceError(application, path)
  const whole = all || node === undefined
  const subtree = flattenInstances(node !== undefined ? [node] : tree)
  const expect = (nodes: InstanceNode[], accept: ReadonlySet<InstanceStatus>): Expectation[] => nodes.map(n => ({ path: n.path, accept }))
  const scope = path !== undefined ? { path } : {}

  switch (operation) {
    case 'start':
      return whole
        ? { requests: [{ kind: 'action', action: 'deploy-and-start-all', ...scope }], expectations: expect(subtree, STARTED) }
        : { requests: [{ kind: 'state', path: node!.path, state: 'DEPLOYED_STARTED' }], expectations: expect([node!], STARTED) }
    case 'deploy': {
      // No deploy-all action exists: ask each undeployed instance, parents first; deployed ones stay as they are.
      const targets = whole ? subtree : [node!]
      return {
        requests: targets.filter(n => n.status === 'NOT_DEPLOYED')
          .map(n => ({ kind: 'state', path: n.path, state: isRootPath(n.path) ? 'DEPLOYED_STARTED' : 'DEPLOYED_STOPPED' })),
        expectations: targets.map(n => ({ path: n.path, accept: isRootPath(n.path) ? STARTED : DEPLOYED }))
      }
    }
    case 'stop': {
      const concerned = subtree.filter(n => !isRootPath(n.path))
      const expectations = concerned.map(n => ({ path: n.path, accept: n.path === path ? STOPPED : STOPPED_BELOW }))
      return whole || isRootPath(node!.path)
        ? { requests: [{ kind: 'action', action: 'stop-all', ...scope }], expectations }
        : { requests: [{ kind: 'state', path: node!.path, state: 'DEPLOYED_STOPPED' }], expectations }
    }
    case 'undeploy':
      return whole
        ? { requests: [{ kind: 'action', action: 'undeploy-all', ...scope }], expectations: expect(subtree, UNDEPLOYED) }
        : { requests: [{ kind: 'state', path: node!.path, state: 'NOT_DEPLOYED' }], expectations: expect(subtree, UNDEPLOYED) }
  }
}

export async function sendRequests (client: DmClient, application: string, requests: LifecycleRequest[]): Promise<void> {
  for (const r of requests) {
    if (r.kind === 'state') await client.changeInstanceState(application, r.path, r.state)
    else await client.runAction(application, { action: r.action, ...(r.path !== undefined ? { path: r.path } : {}) })
  }
}

export interface FollowOutcome {
  ok: boolean
  timedOut: boolean
  /** Each instance when it first reached an accepted state, `elapsedMs` after the follow began. */
  reached: Array<{ path: string, status: InstanceStatus, elapsedMs: number }>
  pending: Array<{ path: string, status?: InstanceStatus }>
  /**
   * Instances that went to PROBLEM, or whose action failed (a recipe, a machine's creation), while followed: the DM's
   * `last.problem` when known, and the failure the agent reported.
   */
  problems: Array<{ path: string, problem?: string, failure?: InstanceProblem }>
}

export interface FollowOptions {
  client: DmClient
  application: string
  /** Opened before the requests were sent, so no change is missed; closed by the follow. */
  events: DmEventStream
  expectations: Expectation[]
  /** Longest wait, in milliseconds. */
  timeoutMs: number
  /** Called once per instance, when it first reaches an accepted state. */
  onReached?: (path: string, status: InstanceStatus, elapsedMs: number) => void
  /** Called at every state change of a followed instance (progress lines). */
  onChange?: (path: string, status: InstanceStatus) => void
}

/**
 * The one wait loop of the CLI (start, stop, deploy, undeploy, scale, instance delete --force).
 * Follows instance states until every expectation is met, an instance goes to PROBLEM, or the time is up.
 * Events drive it; the tree is re-read every RECONCILE_INTERVAL_MS so a lost event or a closed stream only delays.
 * A PROBLEM already there at the start is not a failure (the request may be what repairs it).
 */
export async function followInstances (options: FollowOptions): Promise<FollowOutcome> {
  const { client, application, events, expectations } = options
  const start = performance.now()
  const accepted = new Map(expectations.map(e => [e.path, e.accept]))
  const known = new Map<string, InstanceStatus>()
  const reached: FollowOutcome['reached'] = []
  const reachedPaths = new Set<string>()
  const problems: FollowOutcome['problems'] = []
  let snapshots = 0

  return await new Promise<FollowOutcome>((resolve) => {
    let finished = false
    const finish = (timedOut: boolean): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      clearInterval(poller)
      events.off('event', onEvent)
      events.close()
      const pending = expectations.filter(e => !reachedPaths.has(e.path)).map(e => ({ path: e.path, status: known.get(e.path) }))
      resolve({ ok: pending.length === 0 && problems.length === 0, timedOut, reached, pending, problems })
    }
    const apply = (path: string, status: InstanceStatus, initial: boolean): void => {
      const accept = accepted.get(path)
      if (accept === undefined || finished) return
      const previous = known.get(path)
      known.set(path, status)
      if (previous !== status) options.onChange?.(path, status)
      if (accept.has(status) && !reachedPaths.has(path)) {
        reachedPaths.add(path)
        const elapsedMs = Math.round(performance.now() - start)
        reached.push({ path, status, elapsedMs })
        options.onReached?.(path, status, elapsedMs)
      }
      if (status === 'PROBLEM' && !initial && previous !== 'PROBLEM' && !accept.has('PROBLEM')) {
        const entry: FollowOutcome['problems'][number] = { path }
        problems.push(entry)
        // The reason is in the instance data: read it before ending.
        client.getInstances(application)
          .then(tree => { entry.problem = findInstance(tree, path)?.data?.['last.problem'] })
          .catch(() => {})
          .finally(() => { finish(false) })
        return
      }
      if (reachedPaths.size === accepted.size) finish(false)
    }
    const snapshot = (): void => {
      client.getInstances(application).then(tree => {
        const initial = snapshots++ === 0
        for (const n of flattenInstances(tree)) apply(n.path, n.status, initial)
      }).catch(() => { /* the next poll or event will tell; the timeout bounds the wait */ })
    }
    const onEvent = (event: DmEvent): void => {
      if (event.type !== 'instance' || event.application !== application) return
      // a failure of an awaited instance ends the wait at once: nothing more will come for it
      if (event.problem !== undefined && accepted.has(event.path) && !finished) {
        problems.push({ path: event.path, problem: event.problem.message, failure: event.problem })
        known.set(event.path, event.status)
        finish(false)
        return
      }
      apply(event.path, event.status, false)
    }
    events.on('event', onEvent)
    const timer = setTimeout(() => { finish(true) }, options.timeoutMs)
    const poller = setInterval(snapshot, RECONCILE_INTERVAL_MS)
    if (accepted.size === 0) finish(false)
    else snapshot()
  })
}

interface LifecycleOptions extends DmOptions, OutputOptions, WaitOptions {
  all?: boolean
}

/** `  /Tomcat VM 2/Tomcat  DEPLOYED_STARTED  6.3 s`, paths padded to `width` so the states line up. */
export function progressLine (path: string, status: InstanceStatus, elapsedMs: number, width: number, color: boolean): string {
  return `  ${path.padEnd(width)}  ${formatStatus(status, color)}  ${(elapsedMs / 1000).toFixed(1)} s`
}

/** Prints a follow's outcome (stderr); returns the exit code. */
export function reportOutcome (outcome: FollowOutcome, timeoutMs: number, color: boolean): number {
  for (const p of outcome.problems) {
    if (p.failure !== undefined) console.error(`meshconf: ${p.path} failed\n${formatProblem(p.failure).map(l => `  ${l}`).join('\n')}`)
    else console.error(`meshconf: ${p.path} went to ${formatStatus('PROBLEM', color)}${p.problem !== undefined ? `: ${p.problem}` : ''}`)
  }
  if (outcome.timedOut) {
    console.error(`meshconf: timeout after ${formatDuration(timeoutMs)}; still waiting for: ` +
      outcome.pending.map(p => `${p.path} (${p.status ?? 'unknown'})`).join(', '))
    if (outcome.pending.some(p => p.status === 'UNRESOLVED')) {
      console.error('meshconf: UNRESOLVED instances wait for the exports they import: start the instances exporting them ' +
        '(`meshconf status <app>` shows what runs)')
    }
  }
  return outcome.ok ? 0 : 1
}

/**
 * Follows a plan's expectations with the progress display (a live line on a terminal, a line per instance reaching
 * its state otherwise; nothing under -o json|yaml). The events stream must be open before the requests are sent.
 */
export async function followWithProgress (client: DmClient, application: string, events: DmEventStream, expectations: Expectation[],
  timeoutMs: number, options: OutputOptions & { title: string }): Promise<FollowOutcome> {
  const color = useColor()
  const width = Math.max(0, ...expectations.map(e => e.path.length))
  const progress = isDocument(options) ? undefined : createProgress({ title: options.title, total: expectations.length })
  try {
    return await followInstances({
      client, application, events, expectations, timeoutMs,
      onChange: (path, status) => { progress?.update(path, status) },
      onReached: (path, status, elapsedMs) => { progress?.log(progressLine(path, status, elapsedMs, width, color)) }
    })
  } finally {
    progress?.stop()
  }
}

async function runLifecycle (operation: LifecycleOperation, app: string, path: string | undefined, options: LifecycleOptions): Promise<void> {
  const client = connect(options)
  const color = useColor()
  const tree = await client.getInstances(app)
  const plan = planLifecycle(app, operation, tree, path, options.all === true)
  // waits by default: a script as much as a person wants to know that an instance failed
  const timeoutMs = resolveWaitMs(options, DEFAULT_WAIT_MS, true)
  const where = path !== undefined ? `${path}${options.all === true ? ' and its subtree' : ''}` : 'all instances'

  const events = timeoutMs !== undefined ? await client.openEvents({ application: app }) : undefined
  try {
    await sendRequests(client, app, plan.requests)
  } catch (err) {
    events?.close()
    throw err
  }
  if (events === undefined || timeoutMs === undefined) {
    if (isDocument(options)) await printDocument(options, { application: app, operation, requests: plan.requests, waited: false })
    else console.log(`${operation} requested for ${where} of ${app}: follow it with \`meshconf status ${JSON.stringify(app)} --watch\``)
    return
  }
  if (!isDocument(options)) console.log(`${operation} ${app}: ${where}, waiting for ${plan.expectations.length} instance(s)`)
  const outcome = await followWithProgress(client, app, events, plan.expectations, timeoutMs, { ...options, title: `${operation} ${app}` })
  if (isDocument(options)) await printDocument(options, { application: app, operation, requests: plan.requests, waited: true, ...outcome })
  else if (outcome.ok) console.log(`${operation} ${app}: done, ${outcome.reached.length} instance(s) reached their state`)
  process.exitCode = reportOutcome(outcome, timeoutMs, color)
}

const DESCRIPTIONS: Record<LifecycleOperation, string> = {
  deploy: 'deploy instances (DEPLOYED_STOPPED; a root instance gets its machine created)',
  start: 'deploy and start instances (DEPLOYED_STARTED)',
  stop: 'stop instances (DEPLOYED_STOPPED; machines keep running)',
  undeploy: 'undeploy instances (NOT_DEPLOYED; a root instance gets its machine terminated)'
}

export const registerLifecycleCommands: CommandRegistration = (program: Command) => {
  for (const operation of ['deploy', 'start', 'stop', 'undeploy'] as const) {
    withOutputOptions(withWaitOptions(withDmOptions(program.command(operation)
      .description(DESCRIPTIONS[operation])
      .argument('<app>', 'application name')
      .argument('[path]', 'instance path, e.g. "/Tomcat VM 1" (default: every instance)', parseInstancePath)
      .option('--all', 'the instance and its whole subtree')),
    'every instance reached its state or one failed', DEFAULT_WAIT_MS, '; the default'))
      .action(async (app: string, path: string | undefined, options: LifecycleOptions) => { await runLifecycle(operation, app, path, options) })
  }
}
