// The Agent service: takes the DM's messages (through the link), runs them on the life-cycle engine, keeps its local
// state, starts the mesh once the model is known, and receives the mesh's import changes (ImportListener).
// Restarted with a saved model, it restores everything and restarts what was started, with no DM.
import { isInstanceStatus, type InstanceStatus } from '../protocol/lifecycle.js'
import type { SignedBinding, SignedExternalOwnership } from '../protocol/domain.js'
import { DM_MESSAGE_VERSION, type DmToAgentMessage, type Import, type MeshParameters, type RecipeFiles, type SignedOwnership,
  type ScopedModel } from '../protocol/messages.js'
import { subtreeTopDown } from './lifecycle/tree.js'
import { STATE_FORMAT_VERSION } from './constants.js'
import { InvalidMessageError, errorMessage } from './errors.js'
import { LifecycleEngine, type InstanceSummary } from './lifecycle/engine.js'
import { stderrLogger, type Logger } from '../common/log.js'
import { createDefaultPlugins, pluginRegistry } from './plugins/index.js'
import type { Plugin } from './plugins/types.js'
import type { DmNotifier, ExportPublisher, ImportListener, LifecycleObserver, MeshFactory, MeshHandle } from './ports.js'
import { AgentStateStore, StateSaver, type SavedAgentState, type StateFileWriter } from './state.js'

export interface AgentComponents {
  /** Folder of the agent's local state (created if missing). */
  stateDir: string
  /** The link to the DM. */
  notifier: DmNotifier
  /** Starts the mesh when the model is known. Without it, exports go to `publisher` (tests) or nowhere. */
  meshFactory?: MeshFactory
  /** Where exports go when there is no meshFactory (tests record them here). */
  publisher?: ExportPublisher
  /** Extra plug-ins; one with the name of a default plug-in replaces it. */
  plugins?: Plugin[]
  /** Default: stderr. */
  log?: Logger
  /** Writes the state folder's files; default writeAtomically (tests slow it down). */
  stateWriter?: StateFileWriter
  /** Told how long recipe steps take and how soon updates follow import changes (metrics); default none. */
  observer?: LifecycleObserver
}

export interface AgentOptions {
  /** The machine's address, the value of exported `ip` variables. Default: the scoped instance's `ip.address`. */
  ipAddress?: string
  /** Timeout of a script or puppet run (ms). Default DEFAULT_RECIPE_TIMEOUT_MS (5 minutes). */
  recipeTimeoutMs?: number
}

export interface Agent extends ImportListener {
  /** Restores the saved state, if any: model, states, imports; starts the mesh and restarts started instances. */
  start (): Promise<void>
  /** Waits for running actions, then stops the mesh. */
  stop (): Promise<void>
  /**
   * Takes one DM message. Resolves once the message is accepted and queued: life-cycle actions run in the background
   * (one at a time per instance), so a slow script never holds the link. Never rejects: bad messages are logged.
   */
  handle (message: DmToAgentMessage): Promise<void>
  /** True while the agent has no model (its heartbeats ask the DM for it). */
  modelRequired (): boolean
  /** The mesh's dialable addresses (empty without a mesh). */
  meshAddresses (): string[]
  /** The domain exchange's dialable addresses (empty when the agent takes no part in it). */
  domainAddresses (): string[]
  instanceStatus (instancePath: string): InstanceStatus | undefined
  instances (): InstanceSummary[]
  importsOf (instancePath: string): Record<string, Import[]>
  /** The application and scoped instance, once the model is known. */
  identity (): { application: string, scopedInstancePath: string } | undefined
  /** Resolves once every queued life-cycle action has run and the local state they changed is saved. */
  settled (): Promise<void>
  /** A component's probes (`<Component>.measures` and its properties), as they came with its recipes. */
  probeFiles (component: string): { measures?: string, properties?: string }
  /** The probe period the DM sent with the model, in milliseconds. */
  probePeriodMs (): number | undefined
  /** The variables an instance exports (its probes may name them: `{{ ip }}`, `{{ port }}`). */
  exportsOf (instancePath: string): Record<string, string | null>
}

export function createAgent (components: AgentComponents, options: AgentOptions = {}): Agent {
  return new AgentService(components, options)
}

class AgentService implements Agent {
  private readonly log: Logger
  private readonly store: AgentStateStore
  private readonly saver: StateSaver
  private readonly engine: LifecycleEngine
  private readonly components: AgentComponents
  private recipes: Record<string, RecipeFiles> = {}
  private mesh: MeshHandle | undefined
  private meshParameters: MeshParameters | undefined
  /** Problems found while restoring, reported with the scoped instance once the model is known. */
  private restoreProblems: string[] = []

  constructor (components: AgentComponents, options: AgentOptions) {
    this.components = components
    this.log = components.log ?? stderrLogger
    this.store = new AgentStateStore(components.stateDir, components.stateWriter)
    this.saver = new StateSaver(this.store, () => this.savedState(), err => {
      this.log.error(`local state not saved in ${this.store.stateDir}: ${errorMessage(err)}`)
    })
    const plugins = pluginRegistry([...createDefaultPlugins({ recipeTimeoutMs: options.recipeTimeoutMs }).values(),
      ...(components.plugins ?? [])])
    // The engine publishes through this forwarder: the mesh only exists once the model has arrived.
    const publisher: ExportPublisher = {
      setInterests: prefixes => this.publisher()?.setInterests(prefixes),
      announce: (path, component, variables) => this.publisher()?.announce(path, component, variables),
      withdraw: path => this.publisher()?.withdraw(path),
      request: prefixes => this.publisher()?.request(prefixes)
    }
    this.engine = new LifecycleEngine({
      plugins,
      notifier: components.notifier,
      publisher,
      log: this.log,
      instanceDir: path => this.store.instanceDir(path),
      recipes: component => this.recipes[component],
      persist: urgency => this.saver.changed(urgency),
      ...(components.observer === undefined ? {} : { observer: components.observer })
    }, { ipAddress: options.ipAddress })
  }

  async start (): Promise<void> {
    const loaded = this.store.load()
    this.recipes = loaded.recipes
    for (const problem of loaded.problems) this.log.error(problem.message)
    this.restoreProblems = loaded.problems.map(p => p.message)
    if (loaded.state === undefined) return
    const { model, mesh, imports } = loaded.state
    try {
      this.engine.load(model, imports)
    } catch (err) {
      const problem = `saved model in ${this.store.stateDir} not usable (${errorMessage(err)}); waiting for the DM's model`
      this.log.error(problem)
      this.restoreProblems.push(problem)
      return
    }
    this.meshParameters = mesh
    this.log.info(`restored ${model.application} ${model.scopedInstancePath} from ${this.store.stateDir}`)
    // States first (their actions queued), then the mesh, whose import changes then queue behind them.
    this.engine.restoreStates()
    await this.startMesh(model, mesh)
    this.mesh?.expectRestored?.(Object.values(imports).flatMap(byPrefix => Object.entries(byPrefix)
      .flatMap(([prefix, list]) => list.map(i => ({ prefix, exporterPath: i.instancePath })))))
    this.engine.activateScopedInstance(this.takeRestoreProblems())
  }

  async stop (): Promise<void> {
    await this.engine.settled()
    await this.saver.flush()
    const mesh = this.mesh
    this.mesh = undefined
    if (mesh !== undefined) await mesh.stop()
  }

  async handle (message: DmToAgentMessage): Promise<void> {
    try {
      await this.dispatch(message)
    } catch (err) {
      this.log.error(`DM message ${describe(message)} not applied: ${errorMessage(err)}`)
    }
  }

  importAdded (prefix: string, exported: Import): void {
    this.fromMesh(() => { this.engine.importAdded(prefix, exported) })
  }

  importRemoved (prefix: string, exporterPath: string): void {
    this.fromMesh(() => { this.engine.importRemoved(prefix, exporterPath) })
  }

  /** The mesh calls in from its own event handlers: an error here is the agent's, logged, never thrown back. */
  private fromMesh (call: () => void): void {
    try {
      call()
    } catch (err) {
      this.log.error(`import change not applied: ${errorMessage(err)}`)
    }
  }

  modelRequired (): boolean {
    return this.engine.currentModel() === undefined
  }

  meshAddresses (): string[] {
    return this.mesh?.listenAddresses() ?? []
  }

  domainAddresses (): string[] {
    return this.mesh?.domainAddresses?.() ?? []
  }

  instanceStatus (instancePath: string): InstanceStatus | undefined {
    return this.engine.status(instancePath)
  }

  probeFiles (component: string): { measures?: string, properties?: string } {
    const files = this.recipes[component] ?? {}
    const decode = (name: string): string | undefined => files[name] === undefined ? undefined : Buffer.from(files[name], 'base64').toString('utf8')
    const measures = decode(`${component}.measures`)
    const properties = decode(`${component}.measures.properties`)
    return { ...(measures === undefined ? {} : { measures }), ...(properties === undefined ? {} : { properties }) }
  }

  probePeriodMs (): number | undefined {
    return this.engine.currentModel()?.probePeriodMs
  }

  exportsOf (instancePath: string): Record<string, string | null> {
    return this.engine.exportsOf(instancePath) ?? {}
  }

  instances (): InstanceSummary[] {
    return this.engine.instances()
  }

  importsOf (instancePath: string): Record<string, Import[]> {
    return this.engine.importsOf(instancePath)
  }

  identity (): { application: string, scopedInstancePath: string } | undefined {
    const model = this.engine.currentModel()
    return model === undefined ? undefined : { application: model.application, scopedInstancePath: model.scopedInstancePath }
  }

  async settled (): Promise<void> {
    await this.engine.settled()
    await this.saver.flush()
  }

  private async dispatch (message: DmToAgentMessage): Promise<void> {
    if (typeof message !== 'object' || message === null) throw new InvalidMessageError('not an object')
    if (message.v !== DM_MESSAGE_VERSION) throw new InvalidMessageError(`version ${String(message.v)}, expected ${DM_MESSAGE_VERSION}`)
    switch (message.kind) {
      case 'setScopedInstance':
        await this.setScopedInstance(message.model, message.mesh, message.recipes)
        return
      case 'changeState':
        if (!isInstanceStatus(message.newState)) throw new InvalidMessageError(`unknown state "${String(message.newState)}"`)
        this.requireModel(message.kind)
        await this.storeRecipes(message.recipes)
        void this.engine.requestState(message.instancePath, message.newState)
        return
      case 'addInstance':
        this.requireModel(message.kind)
        await this.storeRecipes(message.recipes)
        this.engine.addInstance(message.parentPath, message.instance)
        return
      case 'removeInstance':
        this.requireModel(message.kind)
        void this.engine.removeInstance(message.instancePath)
        return
      case 'resendStates':
        this.engine.resendStates()
        return
      case 'resynchronize':
        this.engine.resynchronize()
        return
      case 'renewOwnership':
        await this.renewOwnership(message.ownership, message.externalOwnership)
        return
      case 'changeBinding':
        this.requireModel(message.kind)
        await this.changeBinding(message.binding, message.bootstrapPeers)
        return
      case 'domainPeers':
        this.requireModel(message.kind)
        this.mesh?.addDomainPeers?.(message.bootstrapPeers)
        return
      case 'meshPeers':
        this.requireModel(message.kind)
        await this.addMeshPeers(message.bootstrapPeers)
        return
      case 'setProbePeriod': {
        const model = this.requireModel(message.kind)
        model.probePeriodMs = message.probePeriodMs
        // kept with the model: a restarted agent probes at the application's period without the DM
        await this.persist()
        return
      }
      default:
        throw new InvalidMessageError(`unknown kind "${String((message as { kind?: unknown }).kind)}"`)
    }
  }

  /** Only the first model is used (reference §1.5 step 5); later ones only bring recipe files. */
  private async setScopedInstance (model: ScopedModel, mesh: MeshParameters, recipes: Record<string, RecipeFiles>): Promise<void> {
    if (typeof model?.instance?.path !== 'string' || typeof model.components !== 'object') {
      throw new InvalidMessageError('setScopedInstance without a usable model')
    }
    await this.storeRecipes(recipes)
    if (this.engine.currentModel() !== undefined) {
      this.log.warn(`model for ${model.scopedInstancePath} received again: this agent keeps the one it has`)
      return
    }
    this.engine.load(model, {})
    // What runs here is what this agent deployed: states the DM may carry start from NOT_DEPLOYED.
    for (const instance of subtreeTopDown(model.instance)) instance.status = 'NOT_DEPLOYED'
    this.meshParameters = mesh
    await this.persist()
    await this.startMesh(model, mesh)
    this.engine.activateScopedInstance(this.takeRestoreProblems())
    this.engine.resendStates()
  }

  /** A later expiry of the same ownership (this peer, this scoped instance): kept in the state, shown to peers. */
  private async renewOwnership (ownership: SignedOwnership, externalOwnership?: SignedExternalOwnership): Promise<void> {
    const current = this.meshParameters?.ownership
    if (current === undefined) throw new InvalidMessageError('renewOwnership before the model (setScopedInstance)')
    if (ownership.peerId !== current.peerId || ownership.scopedInstancePath !== current.scopedInstancePath || ownership.application !== current.application) {
      throw new InvalidMessageError(`renewOwnership for peer ${ownership.peerId} of ${ownership.scopedInstancePath}, not this agent's (peer ${current.peerId} of ${current.scopedInstancePath})`)
    }
    const domain = this.meshParameters?.domain
    this.meshParameters = {
      ...this.meshParameters as MeshParameters,
      ownership,
      // the external one as the domain exchange judges it (same peer, prefix and scope), kept for a restart without the DM
      ...(domain?.ownership !== undefined && externalOwnership !== undefined && externalOwnership.peerId === domain.ownership.peerId &&
        externalOwnership.prefix === domain.ownership.prefix && externalOwnership.scopedInstancePath === domain.ownership.scopedInstancePath
        ? { domain: { ...domain, ownership: externalOwnership } }
        : {})
    }
    this.mesh?.renewOwnership?.(ownership, externalOwnership)
    await this.persist()
  }

  /**
   * Agents of the application to dial, sent because the model carried none: the mesh dials them, and they are kept
   * as the bootstrap peers, so that a restarted agent dials them without the DM.
   */
  private async addMeshPeers (addresses: string[]): Promise<void> {
    this.mesh?.addPeers?.(addresses)
    if (this.meshParameters === undefined) return
    this.meshParameters = { ...this.meshParameters, bootstrapPeers: addresses }
    await this.persist()
  }

  /**
   * The application's binding of an external prefix changed: the domain exchange checks it (DM signature, this
   * application, a newer version; a refusal is counted in its view) and applies it; kept in the state when accepted,
   * so a restarted agent imports from the same applications without the DM.
   */
  private async changeBinding (binding: SignedBinding, bootstrapPeers: string[]): Promise<void> {
    const domain = this.meshParameters?.domain
    if (domain === undefined || this.mesh?.changeBinding === undefined) {
      this.log.warn(`binding of ${binding.prefix} received, but this agent takes no part in the domain exchange (none of its instances imports external prefixes): ignored`)
      return
    }
    if (!this.mesh.changeBinding(binding, bootstrapPeers)) return
    this.meshParameters = {
      ...this.meshParameters as MeshParameters,
      domain: { ...domain, bindings: [...domain.bindings.filter(b => b.prefix !== binding.prefix), binding] }
    }
    await this.persist()
  }

  private async startMesh (model: ScopedModel, parameters: MeshParameters): Promise<void> {
    if (this.components.meshFactory === undefined) return
    try {
      this.mesh = await this.components.meshFactory(model, parameters, this)
    } catch (err) {
      const problem = `the mesh did not start: ${errorMessage(err)}; imports and exports stay local until the agent restarts`
      this.log.error(problem)
      this.restoreProblems.push(problem)
    }
  }

  private publisher (): ExportPublisher | undefined {
    return this.mesh ?? this.components.publisher
  }

  private async storeRecipes (recipes: Record<string, RecipeFiles> | undefined): Promise<void> {
    for (const [component, files] of Object.entries(recipes ?? {})) this.recipes[component] = files
    await Promise.all(Object.entries(recipes ?? {}).map(async ([component, files]) => {
      await this.store.saveRecipes(component, files)
        .catch((err: unknown) => { this.log.error(`recipes of ${component} not saved in ${this.store.stateDir}: ${errorMessage(err)}`) })
    }))
  }

  /** Saves the local state as it is now; resolves once that is on disk (a failure is logged). */
  private persist (): Promise<void> {
    return this.saver.changed('now')
  }

  private savedState (): SavedAgentState | undefined {
    const model = this.engine.currentModel()
    if (model === undefined || this.meshParameters === undefined) return undefined
    return { version: STATE_FORMAT_VERSION, model, mesh: this.meshParameters, imports: this.engine.importsSnapshot() }
  }

  private takeRestoreProblems (): string | undefined {
    const problems = this.restoreProblems
    this.restoreProblems = []
    return problems.length > 0 ? problems.join('; ') : undefined
  }

  private requireModel (kind: string): ScopedModel {
    const model = this.engine.currentModel()
    if (model === undefined) throw new InvalidMessageError(`${kind} before the model (setScopedInstance)`)
    return model
  }
}

function describe (message: DmToAgentMessage): string {
  const kind = (message as { kind?: unknown } | null)?.kind
  return typeof kind === 'string' ? kind : '(no kind)'
}

