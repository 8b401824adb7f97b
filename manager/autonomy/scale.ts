// Scaling done by the DM: add or remove whole machines (root instances) carrying a component. A scale is planned
// from the instance tree, refused when ambiguous, and applied under a per-application lock; a scale-down undeploys
// each machine first (its stop and undeploy recipes run, its agent withdraws its exports from the mesh, so importers
// drop it) and only then deletes it.
import { randomUUID } from 'node:crypto'
import type { Component } from '../../protocol/model/types.js'
import { TARGET_INSTALLER } from '../constants.js'
import type { InstanceView } from '../dm.js'
import { AmbiguousScaleError, NoCarrierError, ScaleRequestError } from './errors.js'
import type { AutonomyStore, HistorySource } from './store.js'
import { errorMessage } from '../../protocol/errors.js'
import type { Logger } from '../../common/log.js'

/** Most machines a single scale may ask for. */
export const MAX_SCALE_COUNT = 1000

/** What the scaler needs of the DM. */
export interface ScaleOperations {
  instances (application: string): InstanceView[]
  replicate (application: string, path: string, newName: string): InstanceView
  removeInstance (application: string, path: string): void
  action (application: string, input: { action: 'deploy-and-start-all', path: string }): void
  changeState (application: string, path: string, state: 'NOT_DEPLOYED'): void
  /** Resolves once the machine's instances are undeployed (recipes run) and the machine terminated. */
  undeployMachine (application: string, path: string): Promise<void>
  /** Instances (outside `paths`) whose agents last reported an import from one of `paths`. */
  importersOf (application: string, paths: string[]): string[]
}

export interface ScaleRequest {
  component: string
  /** Machines carrying the component wanted (1..MAX_SCALE_COUNT). */
  count: number
  /** The root to replicate, and whose likes are counted (needed when the component alone is ambiguous). */
  root?: string
  dryRun?: boolean
}

export interface ScalePlan {
  application: string
  component: string
  /** Machines counted (the carriers, or those shaped like `root`). */
  machines: string[]
  from: number
  to: number
  /** The root copied for each added machine. */
  model: string
  /** New root paths, created NOT_DEPLOYED then deployed and started. */
  add: string[]
  /** Root paths undeployed then deleted, highest-numbered first. */
  remove: string[]
}

export interface ScaleResult extends ScalePlan {
  dryRun: boolean
}

/** `Tomcat VM 3` -> { base: 'Tomcat VM', number: 3 }; a name without a number counts as number 1. */
export function splitNumberedName (name: string): { base: string, number: number } {
  const match = /^(.*\S)\s+(\d+)$/.exec(name)
  return match !== null ? { base: match[1], number: Number(match[2]) } : { base: name, number: 1 }
}

/** The next `count` free names `<base> <k>` after the highest number in use among the roots of that base. */
export function nextFreeNames (roots: Array<{ name: string }>, base: string, count: number): string[] {
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

function isRoot (path: string): boolean {
  return path.lastIndexOf('/') === 0
}

function flatten (roots: InstanceView[]): InstanceView[] {
  const out: InstanceView[] = []
  const walk = (i: InstanceView): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

/** Orders by number, then name: the first is the one copied, the last ones are removed first. */
function byNumber (a: InstanceView, b: InstanceView): number {
  const na = splitNumberedName(a.name)
  const nb = splitNumberedName(b.name)
  return na.number - nb.number || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** The components of a machine's subtree, as a key: machines alike have the same. */
function shapeOf (root: InstanceView): string {
  return flatten([root]).map(i => i.component).sort().join('\u0000')
}

/**
 * Components a copy or a removal of `root` would add or remove besides `component`: its non-machine instances that are
 * neither of the component nor under one of its (non-machine) instances.
 */
function othersCarried (root: InstanceView, component: string, components: Record<string, Component>): string[] {
  const isMachine = (c: string): boolean => components[c]?.installer === TARGET_INSTALLER
  const others = new Set<string>()
  const walk = (i: InstanceView, covered: boolean): void => {
    const own = i.component === component
    if (!own && !covered && !isMachine(i.component)) others.add(i.component)
    // a machine component carries everything under it as "other": a copy of a VM copies what runs on it
    const coversChildren = covered || (own && !isMachine(component))
    i.children.forEach(c => walk(c, coversChildren))
  }
  walk(root, false)
  return [...others].sort()
}

/** Plans a scale from the instance tree; throws when it is refused. */
export function planScale (application: string, tree: InstanceView[], components: Record<string, Component>, request: ScaleRequest): ScalePlan {
  const { component, count } = request
  if (!Number.isInteger(count) || count < 1 || count > MAX_SCALE_COUNT) {
    throw new ScaleRequestError(`count ${count} is not a whole number of machines from 1 to ${MAX_SCALE_COUNT}: to remove every machine carrying ${component}, undeploy and delete them`)
  }
  if (components[component] === undefined) {
    throw new ScaleRequestError(`component ${JSON.stringify(component)} is not in the graph of ${application}: use one of ${Object.keys(components).sort().join(', ')}`)
  }
  const carriers = tree.filter(root => flatten([root]).some(i => i.component === component)).sort(byNumber)
  if (carriers.length === 0) throw new NoCarrierError(application, component)
  let machines: InstanceView[]
  let model: InstanceView
  if (request.root !== undefined) {
    const chosen = carriers.find(r => r.path === request.root)
    if (chosen === undefined) {
      throw new ScaleRequestError(`${request.root} is not a root instance of ${application} carrying ${component}: use one of ${carriers.map(c => c.path).join(', ')}`)
    }
    model = chosen
    machines = carriers.filter(r => shapeOf(r) === shapeOf(chosen))
  } else {
    const others = [...new Set(carriers.flatMap(r => othersCarried(r, component, components)))].sort()
    if (others.length > 0) throw new AmbiguousScaleError(application, component, carriers.map(c => c.path), others, carriers.length === tree.length && tree.length > 1)
    machines = carriers
    model = carriers[0]
  }
  const plan: ScalePlan = {
    application, component, machines: machines.map(m => m.path), from: machines.length, to: count, model: model.path, add: [], remove: []
  }
  if (count > machines.length) {
    plan.add = nextFreeNames(tree, splitNumberedName(model.name).base, count - machines.length).map(n => `/${n}`)
  } else if (count < machines.length) {
    // the model stays: it is the one the caller named, or the lowest-numbered
    plan.remove = machines.filter(m => m !== model).reverse().slice(0, machines.length - count).map(m => m.path)
  }
  return plan
}

export interface ScalerComponents {
  dm: ScaleOperations
  history: AutonomyStore
  /** The application's resolved components. */
  componentsOf: (application: string) => Record<string, Component>
  /** Subscribes to instance changes; returns the unsubscribe function. */
  onChange: (listener: () => void) => () => void
  log?: Pick<Logger, 'warn'>
}

export interface ScalerOptions {
  /**
   * Longest wait, per removed machine, for its instances to be undeployed and for every importer to drop them, in
   * milliseconds (default 30 000); then the machine goes anyway, with a warning.
   */
  drainWaitMs?: number
}

/** Default of ScalerOptions.drainWaitMs. */
export const DEFAULT_DRAIN_WAIT_MS = 30_000

/** Polling period of the drain's wait, as a backstop to change events (agents' import reports carry no event), in ms. */
const DRAIN_POLL_MS = 100

/** Scales applications; one scale at a time per application. */
export function createScaler (components: ScalerComponents, options: ScalerOptions = {}) {
  const { dm, history } = components
  const drainWaitMs = options.drainWaitMs ?? DEFAULT_DRAIN_WAIT_MS

  /** Resolves true once `done()` holds, false after drainWaitMs. */
  function waitUntil (done: () => boolean): Promise<boolean> {
    if (done()) return Promise.resolve(true)
    return new Promise(resolve => {
      const finish = (ok: boolean): void => { clearTimeout(timer); clearInterval(poll); unsubscribe(); resolve(ok) }
      // from a timer: the application deleted meanwhile (done() throws) ends the wait, never the process
      const check = (): void => {
        try { if (done()) finish(true) } catch { finish(false) }
      }
      const timer = setTimeout(() => finish(false), drainWaitMs)
      const poll = setInterval(check, DRAIN_POLL_MS)
      const unsubscribe = components.onChange(check)
    })
  }

  /**
   * Takes an instance's subtree (what a machine carries, for a root) to NOT_DEPLOYED, deepest first (every stop and
   * undeploy recipe runs), and waits until no importer holds its exports any more: the mesh withdrew them.
   */
  async function drain (application: string, path: string): Promise<void> {
    const subtree = (): InstanceView[] => {
      const found = flatten(dm.instances(application)).find(i => i.path === path)
      if (found === undefined) return []
      return isRoot(path) ? flatten(found.children) : flatten([found])
    }
    const carried = subtree()
    for (const instance of [...carried].reverse()) {
      if (instance.status === 'NOT_DEPLOYED') continue
      try {
        dm.changeState(application, instance.path, 'NOT_DEPLOYED')
      } catch {
        // its machine is not running: nothing of it is deployed, or the machine's undeploy takes it down
      }
    }
    const paths = carried.map(i => i.path)
    const deployed = (): InstanceView[] => subtree().filter(i => i.status !== 'NOT_DEPLOYED')
    const drained = await waitUntil(() => deployed().length === 0 && dm.importersOf(application, paths).length === 0)
    if (!drained) {
      components.log?.warn(`undeploying ${path} of ${application}: ${deployed().map(i => i.path).join(', ') || 'nothing'} still deployed` +
        ` and ${dm.importersOf(application, paths).join(', ') || 'no instance'} still importing from it after ${drainWaitMs} ms: going on anyway`)
    }
  }

  /** Undeploys an instance's subtree (a root: what it carries, then the machine), waiting until it is done. */
  async function undeploy (application: string, path: string): Promise<void> {
    await drain(application, path)
    if (isRoot(path)) await dm.undeployMachine(application, path)
  }

  /** Undeploys, then deletes an instance's subtree. */
  async function retire (application: string, path: string): Promise<void> {
    await undeploy(application, path)
    dm.removeInstance(application, path)
  }

  const locks = new Map<string, Promise<unknown>>()

  /** Runs `work` after the application's previous scale (even a failed one). */
  function serialized<T> (application: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(application) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(work)
    const settled = next.catch(() => {})
    locks.set(application, settled)
    void settled.then(() => { if (locks.get(application) === settled) locks.delete(application) })
    return next
  }

  async function apply (plan: ScalePlan): Promise<void> {
    const { application } = plan
    const created: string[] = []
    try {
      for (const path of plan.add) {
        dm.replicate(application, plan.model, path.slice(1))
        created.push(path)
      }
    } catch (err) {
      // all or nothing: copies made before the failure go
      for (const path of created) dm.removeInstance(application, path)
      throw err
    }
    for (const path of created) dm.action(application, { action: 'deploy-and-start-all', path })
    await Promise.all(plan.remove.map(async path => { await retire(application, path) }))
  }

  return {
    undeploy,
    retire,
    /**
     * Plans and (unless a dry run) applies a scale. Resolves once added machines are asked for (they deploy in the
     * background) and removed ones are undeployed and deleted. Recorded in the history.
     */
    scale (application: string, request: ScaleRequest, who: { source: HistorySource, name?: string } = { source: 'user' }): Promise<ScaleResult> {
      return serialized(application, async () => {
        const started = Date.now()
        const instruction = `scale ${request.component} to ${request.count}${request.root !== undefined ? ` replicating ${request.root}` : ''}${request.dryRun === true ? ' (dry run)' : ''}`
        const record = (outcome: 'ok' | 'error', detail: string): void => {
          history.record({
            application, command: 'scale', instruction, line: 0, source: who.source, sourceName: who.name ?? '', outcome, detail,
            startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, executionId: randomUUID()
          })
        }
        let plan: ScalePlan
        try {
          plan = planScale(application, dm.instances(application), components.componentsOf(application), request)
          if (request.dryRun !== true) await apply(plan)
        } catch (err) {
          record('error', errorMessage(err))
          throw err
        }
        record('ok', describePlan(plan))
        return { ...plan, dryRun: request.dryRun === true }
      })
    }
  }
}

/** One line saying what a plan does. */
export function describePlan (plan: ScalePlan): string {
  const head = `${plan.component} on ${plan.from} machine(s) -> ${plan.to}`
  if (plan.add.length > 0) return `${head}: replicating ${plan.model} as ${plan.add.map(p => p.slice(1)).join(', ')}`
  if (plan.remove.length > 0) return `${head}: undeploying then deleting ${plan.remove.join(', ')}`
  return `${head}: nothing to do`
}

export type Scaler = ReturnType<typeof createScaler>
