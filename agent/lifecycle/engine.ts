// The agent's life-cycle engine (reference §3.2–3.4): deploy / start / stop / undeploy through plug-ins with the
// parent preconditions, WAITING_FOR_ANCESTOR and UNRESOLVED, subtree stop/undeploy, and the reactions to imports that
// come and go (§3.3). Every state or import change is saved (persist) and reported to the DM (notifier).
// Differences from Roboconf, on purpose: a re-announced import with changed values replaces the stored one and
// triggers `update` (A.8); WAITING_FOR_ANCESTOR transitions are reported like any other (A.10); refused requests
// are reported to the DM with a problem instead of being dropped silently.
import { rm } from 'node:fs/promises'
import { DEPLOYABLE_UNDER, plannedActions, type InstanceStatus } from '../../protocol/lifecycle.js'
import { importedPrefixes, instanceExports, tailorImport } from '../../protocol/model/exports.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import type { Import, InstanceProblem, InstanceReport, RecipeFiles, ScopedModel } from '../../protocol/messages.js'
import type { DmNotifier, ExportPublisher, LifecycleObserver } from '../ports.js'
import type { SaveUrgency } from '../state.js'
import { ActionRefusedError, InvalidInstanceError, NoPluginError, UnknownInstanceError, errorMessage } from '../errors.js'
import type { ExecutionContext, ImportChange, Plugin, PluginRegistry } from '../plugins/types.js'
import type { Logger } from '../../common/log.js'
import { ActionQueue, type Claim } from './queue.js'
import { trace } from '../../common/trace.js'
import { isoTime } from '../../common/clock.js'
import { checkAddition, checkModel } from './model.js'
import { importStore, importsByPrefix, importsReport, restoreImports, sameVariables, sinceStore, type ImportsSnapshot,
  type InstanceImports, type InstanceImportsSince } from './imports.js'
import { writeRecipes } from './recipes.js'
import { stepProblem } from './problem.js'
import { subtreeDeepestFirst, subtreeTopDown } from './tree.js'

export interface LifecycleEngineComponents {
  plugins: PluginRegistry
  notifier: DmNotifier
  publisher: ExportPublisher
  log: Logger
  /** The working folder of an instance. */
  instanceDir: (instancePath: string) => string
  /** The recipe files last received for a component. */
  recipes: (component: string) => RecipeFiles | undefined
  /**
   * Called after every change of the model, a state or an import, so that the local state can be saved, as soon as
   * `urgency` says (SaveUrgency: `now` before a plug-in step, `shortly` for a settled state, `soon` for imports, which
   * the mesh gives back after a restart anyway). Returns what resolves once that state is on disk (or failed to be).
   */
  persist: (urgency: SaveUrgency) => Promise<void> | void
  /** Told how long steps take and how soon updates follow import changes; default none. */
  observer?: LifecycleObserver
}

export interface LifecycleEngineOptions {
  /** The machine's address: the value of every exported `ip` variable. Default: the scoped instance's `ip.address`. */
  ipAddress?: string
}

export interface InstanceSummary { path: string, component: string, status: InstanceStatus }

export class LifecycleEngine {
  private readonly components: LifecycleEngineComponents
  private readonly options: LifecycleEngineOptions
  private model: ScopedModel | undefined
  private readonly byPath = new Map<string, Instance>()
  private readonly parentOf = new Map<string, Instance | undefined>()
  private readonly imports = new Map<string, InstanceImports>()
  /** Since when (ISO time) each import is held: instance path -> prefix -> exporting instance path -> time. */
  private readonly importsSince = new Map<string, InstanceImportsSince>()
  private readonly queue = new ActionQueue()
  /**
   * The save of the last state change. A plug-in step runs once the state it runs under (DEPLOYING, STARTING, ...) is
   * on disk, so an agent killed during a script knows after its restart what it was doing; announcing a start does
   * not wait for the save (a restart re-runs a start whose end was not saved, and announces again).
   */
  private lastStateSaved: Promise<void> | void = undefined

  constructor (components: LifecycleEngineComponents, options: LifecycleEngineOptions = {}) {
    this.components = components
    this.options = options
  }

  /** Takes a model (with its states) and the imports saved with it. Runs nothing. */
  load (model: ScopedModel, imports: ImportsSnapshot = {}): void {
    checkModel(model)
    this.model = model
    this.index()
    restoreImports(this.imports, this.importsSince, imports, path => this.byPath.has(path))
  }

  currentModel (): ScopedModel | undefined {
    return this.model
  }

  importsSnapshot (): ImportsSnapshot {
    const out: ImportsSnapshot = {}
    for (const path of this.imports.keys()) out[path] = this.importsOf(path)
    return out
  }

  status (instancePath: string): InstanceStatus | undefined {
    const instance = this.byPath.get(instancePath)
    return instance === undefined ? undefined : instance.status
  }

  instances (): InstanceSummary[] {
    if (this.model === undefined) return []
    return subtreeTopDown(this.model.instance).map(i => ({ path: i.path, component: i.component, status: i.status }))
  }

  /** The variables an instance exports (full names), as it announces them; undefined for an unknown instance. */
  exportsOf (instancePath: string): Record<string, string | null> | undefined {
    const instance = this.byPath.get(instancePath)
    return instance === undefined ? undefined : instanceExports(this.componentOf(instance), instance, this.ipAddress())
  }

  /** Imports of an instance by prefix, in arrival order. */
  importsOf (instancePath: string): Record<string, Import[]> {
    return importsByPrefix(this.imports.get(instancePath))
  }

  /** Resolves once every queued action has run. */
  settled (): Promise<void> {
    return this.queue.settled()
  }

  /**
   * The model arrived (or was restored) and the mesh is up: the scoped instance is DEPLOYED_STARTED, the exports of
   * the started instances are published, the mesh learns which prefixes matter here and is asked for them
   * (reference §1.5 step 5).
   */
  activateScopedInstance (problem?: string): void {
    const scoped = this.requireModel().instance
    this.setStatus(scoped, 'DEPLOYED_STARTED', problem)
    this.resynchronize()
    this.publishInterests()
    this.safely(() => this.components.publisher.request(this.allImportedPrefixes()))
  }

  /**
   * After a restart: brings instances back to the states they had. Started (or starting) instances are started
   * again (their files are on disk), interrupted actions fall back to a stable state. Everything is queued before
   * this returns, so that import changes the mesh reports afterwards run after it.
   */
  restoreStates (): void {
    const scoped = this.requireModel().instance
    const toStart: Instance[] = []
    for (const instance of subtreeTopDown(scoped)) {
      if (instance === scoped) continue
      const status = instance.status
      if (status === 'DEPLOYED_STARTED' || status === 'STARTING') {
        instance.status = 'DEPLOYED_STOPPED'
        toStart.push(instance)
      } else if (status === 'STOPPING') {
        instance.status = 'DEPLOYED_STOPPED'
      } else if (status === 'DEPLOYING' || status === 'UNDEPLOYING') {
        instance.status = 'NOT_DEPLOYED'
        void this.enqueue(instance, async () => {
          await rm(this.components.instanceDir(instance.path), { recursive: true, force: true })
        })
      }
    }
    this.components.persist('now')
    this.resendStates()
    for (const instance of toStart) this.enqueue(instance, async () => { await this.start(instance) })
  }

  /** A state requested by the DM (reference §3.2 table). Resolves when the action has run. */
  requestState (instancePath: string, requested: InstanceStatus): Promise<void> {
    const instance = this.byPath.get(instancePath)
    if (instance === undefined) throw new UnknownInstanceError(instancePath)
    if (instance === this.model?.instance) {
      this.refuse(instance, 'the scoped instance (the machine) is managed by the DM, not by its agent')
      return Promise.resolve()
    }
    try {
      this.pluginFor(instance)
    } catch (err) {
      this.refuse(instance, errorMessage(err))
      return Promise.resolve()
    }
    return this.enqueue(instance, async () => {
      const plan = plannedActions(instance.status, requested)
      if (plan === 'ignored') {
        this.refuse(instance, `${requested} requested while ${instance.status}: ignored`)
        return
      }
      for (const action of plan) {
        const done = action === 'deploy' ? await this.deploy(instance)
          : action === 'start' ? await this.start(instance)
            : action === 'stop' ? await this.stop(instance, false)
              : action === 'undeploy' ? await this.undeploy(instance)
                : this.markStopped(instance)
        if (!done) break
      }
    })
  }

  /** A new instance (and its children) under a local parent (reference §3.2, add). */
  addInstance (parentPath: string, instance: Instance): void {
    const model = this.requireModel()
    const parent = this.byPath.get(parentPath)
    if (parent === undefined) throw new InvalidInstanceError(instance.path, `its parent "${parentPath}" is not in this agent's model`)
    checkAddition(model, this.byPath, instance, parent)
    for (const added of subtreeTopDown(instance)) added.status = 'NOT_DEPLOYED'
    parent.children.push(instance)
    this.index()
    this.components.persist('now')
    this.publishInterests()
    const prefixes = new Set<string>()
    for (const added of subtreeTopDown(instance)) {
      for (const prefix of importedPrefixes(this.componentOf(added)).keys()) prefixes.add(prefix)
      this.notify(added)
    }
    if (prefixes.size > 0) this.safely(() => this.components.publisher.request(prefixes))
  }

  /** Removes an instance whose whole subtree is NOT_DEPLOYED (reference §3.2, remove). Resolves when done. */
  removeInstance (instancePath: string): Promise<void> {
    const instance = this.byPath.get(instancePath)
    if (instance === undefined) throw new UnknownInstanceError(instancePath)
    if (instance === this.model?.instance) {
      this.refuse(instance, 'the scoped instance cannot be removed by its agent')
      return Promise.resolve()
    }
    return this.enqueue(instance, async () => {
      const deployed = subtreeTopDown(instance).filter(i => i.status !== 'NOT_DEPLOYED')
      if (deployed.length > 0) {
        this.refuse(instance, `cannot remove: ${deployed.map(i => `${i.path} is ${i.status}`).join(', ')}; undeploy first`)
        return
      }
      const parent = this.parentOf.get(instancePath)
      if (parent !== undefined) parent.children.splice(parent.children.indexOf(instance), 1)
      for (const removed of subtreeTopDown(instance)) {
        this.imports.delete(removed.path)
        this.importsSince.delete(removed.path)
      }
      this.index()
      this.components.persist('now')
      this.publishInterests()
      this.safely(() => this.components.notifier.instanceRemoved(instancePath))
    })
  }

  /** An exporter announced a prefix (mesh). Every local instance importing it records it, then reacts (§3.3). */
  importAdded (prefix: string, exported: Import): void {
    const reportedAt = performance.now()
    for (const instance of this.importersOf(prefix)) {
      if (instance.path === exported.instancePath) continue
      void this.enqueue(instance, async () => {
        trace('engine.action', instance.path)
        if (this.byPath.get(instance.path) !== instance) return
        const variables = tailorImport(this.componentOf(instance).imports, prefix, exported.variables)
        const store = importStore(this.imports, instance.path, prefix)
        const known = store.get(exported.instancePath)
        if (known !== undefined && known.component === exported.component && sameVariables(known.variables, variables)) return
        const imported: Import = { instancePath: exported.instancePath, component: exported.component, variables }
        store.set(exported.instancePath, imported)
        if (known === undefined) sinceStore(this.importsSince, instance.path, prefix).set(exported.instancePath, isoTime(Date.now()))
        this.components.persist('soon')
        this.notify(instance)
        await this.reactToImports(instance, { importChanged: imported, statusChanged: 'DEPLOYED_STARTED' }, reportedAt)
      })
    }
  }

  /** An exporter withdrew a prefix (mesh). Instances that imported it forget it, then react (§3.3). */
  importRemoved (prefix: string, exporterPath: string): void {
    const reportedAt = performance.now()
    for (const instance of this.importersOf(prefix)) {
      void this.enqueue(instance, async () => {
        trace('engine.action', instance.path)
        const store = this.imports.get(instance.path)?.get(prefix)
        const removed = store?.get(exporterPath)
        if (store === undefined || removed === undefined || this.byPath.get(instance.path) !== instance) return
        store.delete(exporterPath)
        this.importsSince.get(instance.path)?.get(prefix)?.delete(exporterPath)
        this.components.persist('soon')
        this.notify(instance)
        await this.reactToImports(instance, { importChanged: removed, statusChanged: 'DEPLOYED_STOPPED' }, reportedAt)
      })
    }
  }

  /** Re-reports every instance's state and imports (DM restart). */
  resendStates (): void {
    if (this.model === undefined) return
    for (const instance of subtreeTopDown(this.model.instance)) this.notify(instance)
  }

  /** Re-announces the exports of every started instance. */
  resynchronize (): void {
    if (this.model === undefined) return
    for (const instance of subtreeTopDown(this.model.instance)) {
      if (instance.status === 'DEPLOYED_STARTED') this.announce(instance)
    }
  }

  // ---- actions (each runs inside the queue, holding its claims) ----

  private async deploy (instance: Instance): Promise<boolean> {
    const parent = this.parentOf.get(instance.path)
    if (instance.status !== 'NOT_DEPLOYED') return false
    if (parent !== undefined && !DEPLOYABLE_UNDER.has(parent.status)) {
      this.refuse(instance, `cannot deploy: its parent ${parent.path} is ${parent.status}; deploy the parent first`)
      return false
    }
    this.setStatus(instance, 'DEPLOYING')
    const began = performance.now()
    try {
      await this.lastStateSaved
      const plugin = this.pluginFor(instance)
      await writeRecipes(this.components.instanceDir(instance.path), instance.component, this.components.recipes(instance.component) ?? {})
      const context = this.context(instance)
      await plugin.initialize(context)
      await plugin.deploy(context)
      this.stepDone('deploy', 'ok', began)
      this.setStatus(instance, 'DEPLOYED_STOPPED')
      return true
    } catch (err) {
      this.fail(instance, 'deploy', err, 'NOT_DEPLOYED', began)
      return false
    }
  }

  private async start (instance: Instance): Promise<boolean> {
    const status = instance.status
    if (status !== 'DEPLOYED_STOPPED' && status !== 'WAITING_FOR_ANCESTOR' && status !== 'UNRESOLVED') return false
    const parent = this.parentOf.get(instance.path)
    if (parent !== undefined && parent.status !== 'DEPLOYED_STARTED') {
      if (parent.status === 'UNRESOLVED' || parent.status === 'WAITING_FOR_ANCESTOR') {
        if (status !== 'WAITING_FOR_ANCESTOR') this.setStatus(instance, 'WAITING_FOR_ANCESTOR')
      } else {
        this.refuse(instance, `cannot start: its parent ${parent.path} is ${parent.status}; start the parent first`)
      }
      return false
    }
    if (!this.mandatoryImportsPresent(instance)) {
      if (status !== 'UNRESOLVED') this.setStatus(instance, 'UNRESOLVED')
      this.safely(() => this.components.publisher.request(importedPrefixes(this.componentOf(instance)).keys()))
      return false
    }
    this.setStatus(instance, 'STARTING')
    const began = performance.now()
    try {
      await this.lastStateSaved
      await this.pluginFor(instance).start(this.context(instance))
    } catch (err) {
      this.fail(instance, 'start', err, status, began)
      return false
    }
    this.stepDone('start', 'ok', began)
    this.setStatus(instance, 'DEPLOYED_STARTED')
    this.announce(instance)
    for (const child of instance.children) {
      if (child.status === 'WAITING_FOR_ANCESTOR') void this.enqueue(child, async () => { await this.start(child) })
    }
    return true
  }

  /** Stops the instance and its started descendants; the plug-in runs for the instance only (§3.2, §3.4). */
  private async stop (instance: Instance, dueToImports: boolean): Promise<boolean> {
    if (instance.status !== 'DEPLOYED_STARTED') return false
    const subtree = subtreeDeepestFirst(instance)
    for (const member of subtree) {
      if (member.status !== 'DEPLOYED_STARTED') continue
      this.setStatus(member, 'STOPPING')
      this.safely(() => this.components.publisher.withdraw(member.path))
    }
    let failure: InstanceProblem | undefined
    const began = performance.now()
    try {
      await this.lastStateSaved
      await this.pluginFor(instance).stop(this.context(instance))
    } catch (err) {
      failure = stepProblem(() => this.componentOf(instance).installer, 'stop', err, began, `stop failed (the instance is considered stopped): ${errorMessage(err)}`)
      this.stepDone('stop', 'failed', began)
      this.components.log.warn(`[${instance.path}] ${failure.message}`)
    }
    if (failure === undefined) this.stepDone('stop', 'ok', began)
    for (const member of subtree) {
      const status = member.status
      if (member === instance) this.setStatus(member, dueToImports ? 'UNRESOLVED' : 'DEPLOYED_STOPPED', failure?.message, failure)
      else if (status === 'STOPPING' || status === 'UNRESOLVED') {
        this.setStatus(member, dueToImports ? 'WAITING_FOR_ANCESTOR' : 'DEPLOYED_STOPPED')
      }
    }
    return true
  }

  /** Undeploys the whole subtree; the plug-in runs for the instance only; files of the subtree are deleted. */
  private async undeploy (instance: Instance): Promise<boolean> {
    const status = instance.status
    if (status !== 'DEPLOYED_STOPPED' && status !== 'UNRESOLVED' && status !== 'WAITING_FOR_ANCESTOR') return false
    const members = subtreeDeepestFirst(instance).filter(m => m.status !== 'NOT_DEPLOYED')
    for (const member of members) {
      this.setStatus(member, 'UNDEPLOYING')
      this.safely(() => this.components.publisher.withdraw(member.path))
    }
    const began = performance.now()
    try {
      await this.lastStateSaved
      await this.pluginFor(instance).undeploy(this.context(instance))
    } catch (err) {
      for (const member of members) if (member !== instance) this.setStatus(member, 'DEPLOYED_STOPPED')
      this.fail(instance, 'undeploy', err, 'DEPLOYED_STOPPED', began)
      return false
    }
    this.stepDone('undeploy', 'ok', began)
    for (const member of members) {
      await rm(this.components.instanceDir(member.path), { recursive: true, force: true })
      this.setStatus(member, 'NOT_DEPLOYED')
    }
    return true
  }

  /** UNRESOLVED or WAITING_FOR_ANCESTOR -> DEPLOYED_STOPPED, with the waiting descendants, no plug-in call. */
  private markStopped (instance: Instance): boolean {
    this.setStatus(instance, 'DEPLOYED_STOPPED')
    for (const member of subtreeTopDown(instance)) {
      if (member !== instance && member.status === 'WAITING_FOR_ANCESTOR') this.setStatus(member, 'DEPLOYED_STOPPED')
    }
    return true
  }

  /** Reference §3.3, for an instance whose imports just changed. */
  private async reactToImports (instance: Instance, change: ImportChange, reportedAt?: number): Promise<void> {
    if (instance === this.model?.instance) return
    const complete = this.mandatoryImportsPresent(instance)
    const status = instance.status
    if (complete && status === 'UNRESOLVED') {
      await this.start(instance)
    } else if (complete && status === 'DEPLOYED_STARTED') {
      const began = performance.now()
      trace('engine.update', instance.path)
      try {
        const updating = this.pluginFor(instance).update(this.context(instance), change)
        // observed once the plug-in's update is under way (a recipe's lookup issued), not before it
        if (reportedAt !== undefined) this.components.observer?.update(began - reportedAt)
        await updating
        this.stepDone('update', 'ok', began)
      } catch (err) {
        this.fail(instance, 'update', err, 'DEPLOYED_STARTED', began)
      }
    } else if (!complete && status === 'DEPLOYED_STARTED') {
      await this.stop(instance, true)
    }
  }

  // ---- helpers ----

  /** Queues an action on an instance: it changes the instance and its subtree, and reads its parent. */
  private enqueue (instance: Instance, action: () => Promise<void>): Promise<void> {
    const claims: Claim[] = subtreeTopDown(instance).map(i => [i.path, 'write'] as const)
    const parent = this.parentOf.get(instance.path)
    if (parent !== undefined) claims.push([parent.path, 'read'])
    return this.queue.run(claims, async () => {
      try {
        await action()
      } catch (err) {
        this.components.log.error(`[${instance.path}] unexpected engine error: ${errorMessage(err)}`)
      }
    })
  }

  private setStatus (instance: Instance, status: InstanceStatus, problem?: string, failure?: InstanceProblem): void {
    instance.status = status
    trace('engine.status', `${instance.path} ${status}`)
    if (STEP_STATES.has(status)) this.lastStateSaved = this.components.persist('now')
    else this.components.persist('shortly')
    this.notify(instance, problem, failure)
  }

  private notify (instance: Instance, problem?: string, failure?: InstanceProblem): void {
    this.safely(() => this.components.notifier.instanceChanged(instance.path, instance.status,
      this.importsOf(instance.path), problem, this.report(instance, failure)))
  }

  /** What an instance waits for and holds, with its last failure: sent with every state. */
  private report (instance: Instance, failure?: InstanceProblem): InstanceReport {
    const imports = instance === this.model?.instance ? { missingImports: [], heldImports: [] }
      : importsReport(importedPrefixes(this.componentOf(instance)), this.imports.get(instance.path), this.importsSince.get(instance.path))
    return { ...(failure === undefined ? {} : { failure }), ...imports }
  }

  /** A request that cannot be honoured: logged and reported to the DM, the state unchanged. */
  private refuse (instance: Instance, reason: string): void {
    const problem = new ActionRefusedError(instance.path, reason).message
    this.components.log.warn(problem)
    this.notify(instance, problem)
  }

  private fail (instance: Instance, step: string, err: unknown, fallback: InstanceStatus, began: number): void {
    const failure = stepProblem(() => this.componentOf(instance).installer, step, err, began, `${step} failed: ${errorMessage(err)}`)
    this.stepDone(step, 'failed', began)
    this.components.log.error(`[${instance.path}] ${failure.message}`)
    this.setStatus(instance, fallback, failure.message, failure)
  }

  private stepDone (step: string, result: 'ok' | 'failed', began: number): void {
    this.components.observer?.step(step, result, performance.now() - began)
  }

  private announce (instance: Instance): void {
    const component = this.componentOf(instance)
    const variables = instanceExports(component, instance, this.ipAddress())
    this.safely(() => this.components.publisher.announce(instance.path, component.name, variables))
  }

  private publishInterests (): void {
    this.safely(() => this.components.publisher.setInterests(this.allImportedPrefixes()))
  }

  private allImportedPrefixes (): Set<string> {
    const prefixes = new Set<string>()
    if (this.model === undefined) return prefixes
    for (const instance of subtreeTopDown(this.model.instance)) {
      for (const prefix of importedPrefixes(this.componentOf(instance)).keys()) prefixes.add(prefix)
    }
    return prefixes
  }

  private importersOf (prefix: string): Instance[] {
    if (this.model === undefined) return []
    return subtreeTopDown(this.model.instance).filter(i => importedPrefixes(this.componentOf(i)).has(prefix))
  }

  /** At least one import for every mandatory prefix (optional imports never block). */
  private mandatoryImportsPresent (instance: Instance): boolean {
    for (const [prefix, { optional }] of importedPrefixes(this.componentOf(instance))) {
      if (!optional && (this.imports.get(instance.path)?.get(prefix)?.size ?? 0) === 0) return false
    }
    return true
  }

  private pluginFor (instance: Instance): Plugin {
    const component = this.componentOf(instance)
    const plugin = this.components.plugins.get(component.installer.toLowerCase())
    if (plugin === undefined) throw new NoPluginError(component.installer, component.name, [...this.components.plugins.keys()])
    return plugin
  }

  private componentOf (instance: Instance): Component {
    const component = this.requireModel().components[instance.component]
    if (component === undefined) {
      throw new InvalidInstanceError(instance.path, `component "${instance.component}" is not in the application's graph`)
    }
    return component
  }

  private context (instance: Instance): ExecutionContext {
    const ancestors = []
    for (let parent = this.parentOf.get(instance.path); parent !== undefined; parent = this.parentOf.get(parent.path)) {
      const component = this.componentOf(parent)
      ancestors.push({ path: parent.path, component: component.name, exports: instanceExports(component, parent, this.ipAddress()) })
    }
    const component = this.componentOf(instance)
    return {
      application: this.requireModel().application,
      instance,
      component,
      exports: instanceExports(component, instance, this.ipAddress()),
      imports: this.importsOf(instance.path),
      ancestors,
      instanceDir: this.components.instanceDir(instance.path),
      log: this.components.log
    }
  }

  private ipAddress (): string | undefined {
    return this.options.ipAddress ?? this.model?.instance.data['ip.address']
  }

  private requireModel (): ScopedModel {
    if (this.model === undefined) throw new ActionRefusedError('(agent)', 'no model yet: the DM has not sent it')
    return this.model
  }

  private index (): void {
    this.byPath.clear()
    this.parentOf.clear()
    if (this.model === undefined) return
    const visit = (instance: Instance, parent: Instance | undefined): void => {
      this.byPath.set(instance.path, instance)
      this.parentOf.set(instance.path, parent)
      for (const child of instance.children) visit(child, instance)
    }
    visit(this.model.instance, undefined)
  }

  /** Edges (DM link, mesh) must not break the engine: their errors are logged. */
  private safely (call: () => void): void {
    try {
      call()
    } catch (err) {
      this.components.log.error(`notifier or mesh call failed: ${errorMessage(err)}`)
    }
  }
}

/** The states a plug-in step runs under: saved before the step (a restart knows what was under way). */
const STEP_STATES: ReadonlySet<InstanceStatus> = new Set(['DEPLOYING', 'STARTING', 'STOPPING', 'UNDEPLOYING'])
