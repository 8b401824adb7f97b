// The deployment manager (DM): holds templates and applications (in the store), creates and terminates machines
// through target handlers, sends commands to agents and follows their notifications (reference §1.5–1.6, §3.1–3.2).
// The DM handles scoped instances (machines) itself; every other state change is forwarded to the instance's agent,
// and a state changes on the DM only when the agent reports it. Messages to an agent wait in the store until the
// agent is up (first heartbeat), so a DM killed and restarted forgets nothing it promised.
import { EventEmitter } from 'node:events'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import yauzl from 'yauzl'
import { REQUESTABLE_STATUSES, type InstanceStatus } from '../protocol/lifecycle.js'
import { createDmSigningKey, generatePnetKey, signOwnership, type DmSigningKey } from '../protocol/mesh.js'
import { PROBLEM_OUTPUT_TAIL_BYTES, type AgentToDmMessage, type DmToAgentMessage, type InstanceProblem, type RecipeFiles,
  type ScopedModel } from '../protocol/messages.js'
import { loadApplicationTemplate, loadApplicationTemplateFromZip } from '../protocol/model/index.js'
import { localNameOf } from '../protocol/model/exports.js'
import type { ApplicationTemplate, Component, Instance, LoadResult, ModelError, TargetDefinition } from '../protocol/model/types.js'
import { meshRole, pickBootstrapPeers, type MeshRole } from './bootstrap.js'
import {
  DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_MACHINE_NAME, DATA_RUNNING_FROM, DATA_TARGET_HANDLER,
  DATA_TARGET_ID, DEFAULT_MACHINE_CREATION_CONCURRENCY, DEFAULT_MACHINE_SILENCE_MS, DEFAULT_MACHINE_UNDEPLOY_WAIT_MS, DEFAULT_TARGET_ID,
  HEARTBEAT_CHECK_INTERVAL_MS, MAX_BOOTSTRAP_AGENTS, MAX_PROBLEM_MESSAGE_CHARS, MODEL_WAIT_FOR_PEER_MS, RANDOM_PORT_MAX, RANDOM_PORT_MIN, SIGNING_KEY_FILE, TARGET_INSTALLER
} from './constants.js'
import {
  ApplicationExistsError, ApplicationNotFoundError, InstanceDeployedError, InstanceExistsError, InstanceNotFoundError,
  InvalidInstanceError, InvalidStateRequestError, InvalidTemplateError, MachineCreationError, TargetExistsError,
  TargetNotFoundError, TemplateExistsError, TemplateInUseError, TemplateNotFoundError, TemplateSourceError,
  UnknownTargetHandlerError, UnsafePathError
} from './errors.js'
import { createEventLog, firstLine, type DmEvent, type EventActor, type EventLogOptions, type PublishedEvent } from './events.js'
import type { DmMessaging } from './messaging/types.js'
import type { ApplicationRecord, EventQuery, Store, StoredEvent, StoredInstance, TemplateSummary } from './store.js'
import type { TargetHandler } from './targets/types.js'

export interface DmLogger {
  info (message: string): void
  warn (message: string): void
  error (message: string): void
}

export interface DeploymentManagerComponents {
  store: Store
  messaging: DmMessaging
  /** Target handlers by handler name (`local`, `netns`, `in-process`, …). */
  targets: TargetHandler[]
  log?: DmLogger
}

export interface DeploymentManagerOptions {
  /** Folder of the DM's files (signing key); default none: an ephemeral signing key (tests). */
  dataDirectory?: string
  /** Handler of the default target (used when no association or template target applies); default `local`. */
  defaultTargetHandler?: string
  /** Silence after which a machine goes to PROBLEM, in milliseconds; default 30 000. */
  machineSilenceMs?: number
  /** Period of the silence check, in milliseconds; default 2 000. */
  heartbeatCheckIntervalMs?: number
  /** Machines created at the same time, at most; default 128. */
  machineCreationConcurrency?: number
  /**
   * Longest wait for a machine's agent to undeploy what it carries before the machine is terminated anyway, in
   * milliseconds; default 30 000.
   */
  machineUndeployWaitMs?: number
  /** Retention of the event history (count and age); default 100 000 events, 30 days. */
  events?: EventLogOptions
}

export type { DmEvent, PublishedEvent } from './events.js'

/** An instance as the REST API shows it. */
export interface InstanceView {
  name: string
  path: string
  component: string
  status: InstanceStatus
  data: Record<string, string>
  overriddenExports: Record<string, string>
  /** The last failure its agent reported, kept after it recovers (`data["last.problem"]` is the current one). */
  problem?: InstanceProblem
  /** Mandatory import prefixes with no exporter yet, as its agent last reported. */
  missingImports?: string[]
  /** ISO time of its last change of state. */
  since?: string
  children: InstanceView[]
}

export interface ApplicationSummary {
  name: string
  template: { name: string, version: string }
  description?: string
  createdAt: string
}

export type DmAction = 'deploy-and-start-all' | 'stop-all' | 'undeploy-all'

/** States an agent reports when an action begins on an instance. */
const ACTION_STATES: ReadonlySet<InstanceStatus> = new Set(['DEPLOYING', 'STARTING', 'STOPPING', 'UNDEPLOYING'])

/** An agent's problem with its outputs cut to the size agents send (a peer may send more). */
function boundedProblem (problem: InstanceProblem): InstanceProblem {
  const cut = (text: string | undefined, max: number): string | undefined => text === undefined || text.length <= max ? text : text.slice(-max)
  return { ...problem, message: cut(problem.message, MAX_PROBLEM_MESSAGE_CHARS) ?? '', stderr: cut(problem.stderr, PROBLEM_OUTPUT_TAIL_BYTES), stdout: cut(problem.stdout, PROBLEM_OUTPUT_TAIL_BYTES) }
}

/** States that mean "no machine": heartbeats and notifications for such a scoped instance are stale. */
const NO_MACHINE: ReadonlySet<InstanceStatus> = new Set(['NOT_DEPLOYED', 'UNDEPLOYING'])

/** Names an instance may have (Roboconf: letters, digits, spaces, '-', '_', '.'). */
const INSTANCE_NAME = /^[\w.-](?:[\w .-]*[\w.-])?$/

function agentKey (application: string, scopedInstancePath: string): string {
  return `${application}\u0000${scopedInstancePath}`
}

function flatten<T extends { children: T[] }> (roots: T[]): T[] {
  const out: T[] = []
  const walk = (i: T): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

function view (instance: StoredInstance): InstanceView {
  return {
    name: instance.name, path: instance.path, component: instance.component, status: instance.status ?? 'NOT_DEPLOYED',
    data: instance.data, overriddenExports: instance.overriddenExports,
    ...(instance.problem === undefined ? {} : { problem: instance.problem }),
    ...(instance.missingImports === undefined || instance.missingImports.length === 0 ? {} : { missingImports: instance.missingImports }),
    ...(instance.statusSince === undefined ? {} : { since: instance.statusSince }),
    children: instance.children.map(view)
  }
}

function summary (record: ApplicationRecord): ApplicationSummary {
  return { name: record.name, template: record.template, description: record.description, createdAt: record.createdAt }
}

/** Rejects a zip whose entries would land outside the template folder ('..', absolute names, drive letters). */
async function checkZipEntries (zip: Buffer): Promise<void> {
  // decodeStrings off: yauzl would reject such names itself, with a less helpful error
  const entries = await new Promise<string[]>((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, decodeStrings: false, validateEntrySizes: false }, (err, file) => {
      if (err != null || file === undefined) { reject(new TemplateSourceError(`the upload is not a readable zip archive (${err?.message ?? 'no content'}): send the template folder zipped`)); return }
      const names: string[] = []
      file.on('entry', (entry: yauzl.Entry) => {
        names.push(Buffer.from(entry.fileName as unknown as Uint8Array).toString('utf8'))
        file.readEntry()
      })
      file.on('end', () => resolve(names))
      file.on('error', (e: Error) => reject(new TemplateSourceError(`the zip archive is damaged: ${e.message}`)))
      file.readEntry()
    })
  })
  for (const name of entries) {
    const segments = name.replaceAll('\\', '/').split('/')
    if (name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name) || segments.includes('..')) {
      throw new UnsafePathError('zip entry', name)
    }
  }
}

/** TCP ports listening on this host (Linux /proc/net/tcp and tcp6); empty where they cannot be read. */
function hostListeningPorts (): Set<number> {
  const ports = new Set<number>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // fields[1] is local_address (hex ip:port), fields[3] the state; 0A is LISTEN
      if (fields.length > 3 && fields[3] === '0A') ports.add(parseInt(fields[1].split(':')[1], 16))
    }
  }
  return ports
}

/** A counting semaphore: machine creations beyond the limit wait their turn. */
function limiter (max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const waiting: Array<() => void> = []
  return async fn => {
    if (active >= max) await new Promise<void>(resolve => waiting.push(resolve))
    active++
    try {
      return await fn()
    } finally {
      active--
      waiting.shift()?.()
    }
  }
}

export function createDeploymentManager (components: DeploymentManagerComponents, options: DeploymentManagerOptions = {}) {
  const { store, messaging } = components
  const log = components.log ?? console
  const handlers = new Map(components.targets.map(t => [t.id, t]))
  const defaultHandler = options.defaultTargetHandler ?? 'local'
  const silenceMs = options.machineSilenceMs ?? DEFAULT_MACHINE_SILENCE_MS
  const limit = limiter(options.machineCreationConcurrency ?? DEFAULT_MACHINE_CREATION_CONCURRENCY)
  const undeployWaitMs = options.machineUndeployWaitMs ?? DEFAULT_MACHINE_UNDEPLOY_WAIT_MS
  const events = new EventEmitter()
  events.setMaxListeners(0)
  const eventLog = createEventLog({ store }, options.events)
  const templates = new Map<string, ApplicationTemplate>()
  /** Agents that have their model: their pending messages are sent at once. */
  const readyAgents = new Set<string>()
  /** Last sign of life of each machine (heartbeat, or creation), in ms since the epoch. */
  const lastBeat = new Map<string, number>()
  /** Per-agent chain, so that the model and the pending messages go out one at a time and in order. */
  const agentChains = new Map<string, Promise<void>>()
  /** Agents sent their model that have not yet said where their mesh listens (their next heartbeat does). */
  const meshesStarting = new Set<string>()
  /** Agents known to have a mesh listening (their listen addresses are in the store). */
  const meshesListening = new Set<string>()
  /** Machines being undeployed, so that a second request (undeploy-all, then delete) waits for the first. */
  const machineUndeploys = new Map<string, Promise<void>>()
  /**
   * Agents of UNDEPLOYING machines undeploying what they carry (their notifications still count), with what ends the
   * wait for them early (the agent said its machine is down: nothing more will come).
   */
  const drainingAgents = new Map<string, () => void>()
  /** Agents of machines that are not deployed, already warned about: an existing machine's agent beats on. */
  const staleAgentsWarned = new Set<string>()
  /** Background work (machine creations, flushes), awaited by stop(). */
  const inFlight = new Set<Promise<unknown>>()
  let signingKey: DmSigningKey | undefined
  let silenceTimer: NodeJS.Timeout | undefined
  let started = false

  // ------------------------------------------------------------------------------------------------------------
  // helpers

  function background (what: string, work: Promise<unknown>): void {
    const p = work.catch(err => log.error(`${what}: ${(err as Error).message}`)).finally(() => inFlight.delete(p))
    inFlight.add(p)
  }

  /** Stores the event in the history, then publishes it with its id. */
  function emit (event: DmEvent): void {
    events.emit('event', eventLog.record(event))
  }

  /** A change of state (published when the state changed, or when it came with a problem). */
  function setStatus (application: string, path: string, status: InstanceStatus,
    extra: { problem?: InstanceProblem, actor?: EventActor } = {}): void {
    const before = store.statusOf(application, path)
    if (!store.setStatus(application, path, status) || (before === status && extra.problem === undefined)) return
    emit({ type: 'instance', application, path, status, at: new Date().toISOString(), ...extra })
  }

  function requireApplication (name: string): ApplicationRecord {
    const record = store.getApplication(name)
    if (record === undefined) throw new ApplicationNotFoundError(name)
    return record
  }

  function templateOf (record: ApplicationRecord): ApplicationTemplate {
    const key = `${record.template.name}\u0000${record.template.version}`
    let template = templates.get(key)
    if (template === undefined) {
      const stored = store.getTemplate(record.template.name, record.template.version)
      if (stored === undefined) throw new TemplateNotFoundError(record.template.name, record.template.version)
      templates.set(key, template = stored.template)
    }
    return template
  }

  function requireInstance (application: string, path: string): StoredInstance {
    const instance = store.getInstance(application, path)
    if (instance === undefined) throw new InstanceNotFoundError(application, path)
    return instance
  }

  function isScoped (template: ApplicationTemplate, instance: Pick<Instance, 'component'>): boolean {
    return template.components[instance.component]?.installer === TARGET_INSTALLER
  }

  /** The scoped instance whose agent manages `path`: the nearest scoped ancestor-or-self. */
  function scopedInstanceOf (application: string, template: ApplicationTemplate, path: string): StoredInstance {
    const segments = path.split('/').filter(s => s.length > 0)
    for (let n = segments.length; n > 0; n--) {
      const candidate = store.getInstance(application, '/' + segments.slice(0, n).join('/'))
      if (candidate !== undefined && isScoped(template, candidate)) return candidate
    }
    throw new InstanceNotFoundError(application, '/' + (segments[0] ?? ''))
  }

  /** Recipe files of a component (`graph/<Component>/`, or of the nearest extended component having one). */
  function recipesOf (template: ApplicationTemplate, componentNames: Iterable<string>): Record<string, RecipeFiles> {
    const out: Record<string, RecipeFiles> = {}
    for (const name of componentNames) {
      const dir = template.components[name]?.recipeDirectory
      if (dir === undefined || name in out) continue
      const files: RecipeFiles = {}
      const prefix = dir.endsWith('/') ? dir : `${dir}/`
      for (const [path, content] of Object.entries(template.files)) {
        if (path.startsWith(prefix)) files[path.slice(prefix.length)] = Buffer.from(content).toString('base64')
      }
      out[name] = files
    }
    return out
  }

  /** The subtree an agent manages: nested scoped instances removed, DM-only fields dropped. */
  function agentSubtree (template: ApplicationTemplate, instance: StoredInstance): Instance {
    return {
      name: instance.name, component: instance.component, path: instance.path, status: instance.status,
      overriddenExports: instance.overriddenExports, data: instance.data, channels: instance.channels,
      children: instance.children.filter(c => !isScoped(template, c)).map(c => agentSubtree(template, c))
    }
  }

  /**
   * Gives every exported `random[port]` variable without an overridden value a free port of the range,
   * stored as an overridden export (reference §1.6). Ports are unique in the whole DM, not only per machine, and
   * skip the ports listening on the DM's host: machines of the local target share that host.
   */
  function assignRandomPorts (template: ApplicationTemplate, instances: Instance[]): void {
    const used = hostListeningPorts()
    for (const record of store.listApplications()) {
      const t = templateOf(record)
      for (const i of flatten(store.instanceTrees(record.name))) {
        for (const variable of t.components[i.component]?.randomExports ?? []) {
          const value = i.overriddenExports[variable] ?? i.overriddenExports[localNameOf(variable)]
          if (value !== undefined) used.add(Number(value))
        }
      }
    }
    // From a random point of the range (wrapping): two DMs on one host (tests, simulations) rarely pick the same
    // port before either server listens on it.
    const size = RANDOM_PORT_MAX - RANDOM_PORT_MIN
    const start = Math.floor(Math.random() * size)
    let offset = 0
    for (const i of flatten(instances)) {
      for (const variable of template.components[i.component]?.randomExports ?? []) {
        if (variable in i.overriddenExports || localNameOf(variable) in i.overriddenExports) continue
        while (offset < size && used.has(RANDOM_PORT_MIN + (start + offset) % size)) offset++
        if (offset >= size) throw new InvalidInstanceError(`no free port left in [${RANDOM_PORT_MIN}, ${RANDOM_PORT_MAX}) for ${variable} of ${i.path}: delete unused instances`)
        const port = RANDOM_PORT_MIN + (start + offset) % size
        i.overriddenExports = { ...i.overriddenExports, [variable]: String(port) }
        used.add(port)
      }
    }
  }

  function componentsOf (instance: Instance): Set<string> {
    return new Set(flatten([instance]).map(i => i.component))
  }

  // ------------------------------------------------------------------------------------------------------------
  // messages to agents: stored, then sent once the agent is up

  function queue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void {
    store.enqueue(application, scopedInstancePath, message)
    if (readyAgents.has(agentKey(application, scopedInstancePath))) flush(application, scopedInstancePath)
  }

  /** Adds the recipes a message needs at the time it leaves (templates do not change, but this keeps the store small). */
  function withRecipes (application: string, message: DmToAgentMessage): DmToAgentMessage {
    const record = store.getApplication(application)
    if (record === undefined) return message
    const template = templateOf(record)
    if (message.kind === 'changeState' && message.newState !== 'NOT_DEPLOYED') {
      const instance = store.getInstance(application, message.instancePath)
      if (instance !== undefined) return { ...message, recipes: recipesOf(template, componentsOf(instance)) }
    }
    if (message.kind === 'addInstance') return { ...message, recipes: recipesOf(template, componentsOf(message.instance)) }
    return message
  }

  function onAgentChain (key: string, work: () => Promise<void>): Promise<void> {
    const next = (agentChains.get(key) ?? Promise.resolve()).then(work, work)
    const tail = next.catch(() => {})
    agentChains.set(key, tail)
    void tail.then(() => { if (agentChains.get(key) === tail) agentChains.delete(key) })
    return next
  }

  function flush (application: string, scopedInstancePath: string): void {
    const key = agentKey(application, scopedInstancePath)
    background(`sending pending messages to ${scopedInstancePath} of ${application}`, onAgentChain(key, async () => {
      for (const pending of store.pending(application, scopedInstancePath)) {
        if (!readyAgents.has(key)) return
        await messaging.sendToAgent(application, scopedInstancePath, withRecipes(application, pending.message))
        store.acknowledge(pending.id)
      }
    }))
  }

  function sendModel (application: string, scopedInstancePath: string, peerId: string): void {
    const key = agentKey(application, scopedInstancePath)
    background(`sending the model to ${scopedInstancePath} of ${application}`, onAgentChain(key, async () => {
      const record = store.getApplication(application)
      const scoped = store.getInstance(application, scopedInstancePath)
      if (record === undefined || scoped === undefined || NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) return
      const template = templateOf(record)
      const instance = agentSubtree(template, scoped)
      const model: ScopedModel = {
        application, scopedInstancePath, components: template.components, instance,
        externalExports: template.descriptor.externalExports,
        ...(template.descriptor.externalExportsPrefix !== undefined ? { externalExportsPrefix: template.descriptor.externalExportsPrefix } : {})
      }
      await peerToBootstrapFrom(application, scopedInstancePath)
      const signing = dmKey()
      const roleOf = (scoped: StoredInstance): MeshRole =>
        meshRole([...componentsOf(agentSubtree(template, scoped))].flatMap(name => template.components[name] ?? []))
      const candidates = store.agents(application)
        .filter(a => a.scopedInstancePath !== scopedInstancePath && a.listenAddresses.length > 0)
        .flatMap(a => {
          const other = store.getInstance(application, a.scopedInstancePath)
          return other === undefined ? [] : [{ peer: a.listenAddresses, role: roleOf(other) }]
        })
      const bootstrapPeers = pickBootstrapPeers(roleOf(scoped), candidates, MAX_BOOTSTRAP_AGENTS).flat()
      await messaging.sendToAgent(application, scopedInstancePath, {
        v: 1, kind: 'setScopedInstance', model, recipes: recipesOf(template, componentsOf(instance)),
        mesh: {
          bootstrapPeers, pnetKey: record.pnetKey, trustedDmKeys: [signing.publicKey],
          ownership: signOwnership(signing, { peerId, application, scopedInstancePath })
        }
      })
      readyAgents.add(key)
      meshesStarting.add(key)
    }))
    flush(application, scopedInstancePath)
  }

  /**
   * Agents learn their peers from the model's bootstrap list only. When several machines of an application come up
   * together, the first ones would get an empty list and stay alone: a model waits (a bounded time) while no agent
   * of the application is known to listen but another one is starting its mesh, so that each gets a peer.
   */
  async function peerToBootstrapFrom (application: string, scopedInstancePath: string): Promise<void> {
    const deadline = Date.now() + MODEL_WAIT_FOR_PEER_MS
    const prefix = `${application}\u0000`
    const mine = agentKey(application, scopedInstancePath)
    const other = (set: Set<string>): boolean => [...set].some(k => k.startsWith(prefix) && k !== mine)
    while (Date.now() < deadline) {
      if (other(meshesListening) || !other(meshesStarting)) break
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    // Claimed before any await, so that of agents whose heartbeats arrive together, one goes first and the
    // others wait for its mesh instead of all starting alone.
    meshesStarting.add(mine)
  }

  function dmKey (): DmSigningKey {
    if (signingKey !== undefined) return signingKey
    if (options.dataDirectory === undefined) return (signingKey = createDmSigningKey())
    const file = join(options.dataDirectory, SIGNING_KEY_FILE)
    if (existsSync(file)) return (signingKey = JSON.parse(readFileSync(file, 'utf8')) as DmSigningKey)
    signingKey = createDmSigningKey()
    mkdirSync(options.dataDirectory, { recursive: true })
    writeFileSync(file, JSON.stringify(signingKey), { mode: 0o600 })
    return signingKey
  }

  // ------------------------------------------------------------------------------------------------------------
  // machines (scoped instances)

  function targetFor (application: string, template: ApplicationTemplate, instance: StoredInstance): TargetDefinition {
    const associations = store.targetAssociations(application)
    const byScope = (match: (a: typeof associations[number]) => boolean): TargetDefinition | undefined => {
      const found = associations.find(match)
      return found === undefined ? undefined : dm.getTarget(found.targetId)
    }
    const associated = byScope(a => a.scope.kind === 'path' && a.scope.path === instance.path) ??
      byScope(a => a.scope.kind === 'component' && a.scope.component === instance.component) ??
      byScope(a => a.scope.kind === 'default')
    if (associated !== undefined) return associated
    const fromTemplate = template.targets[instance.component] ?? []
    const usable = fromTemplate.find(t => handlers.has(t.handler))
    if (usable !== undefined) return usable
    if (fromTemplate.length > 0) {
      log.warn(`${instance.path} of ${application}: the template's target(s) ${fromTemplate.map(t => `${t.id} (${t.handler})`).join(', ')} use handlers this DM does not have; using the default target (${defaultHandler})`)
    }
    return defaultTarget()
  }

  function defaultTarget (): TargetDefinition {
    return { id: DEFAULT_TARGET_ID, handler: defaultHandler, name: `default target (${defaultHandler})`, properties: {} }
  }

  function machineNameFor (application: string, path: string): string {
    const clean = `${application}${path}`.replace(/[^\w.-]+/g, '_').replace(/^[._]+/, '').slice(0, 80)
    return `${clean}-${randomBytes(4).toString('hex')}`
  }

  async function deployMachine (application: string, path: string): Promise<void> {
    const record = requireApplication(application)
    const template = templateOf(record)
    const instance = requireInstance(application, path)
    if ((instance.status ?? 'NOT_DEPLOYED') !== 'NOT_DEPLOYED') return
    const target = targetFor(application, template, instance)
    const handler = handlers.get(target.handler)
    if (handler === undefined) throw new UnknownTargetHandlerError(target.handler, [...handlers.keys()])
    const machineName = machineNameFor(application, path)
    store.transaction(() => {
      store.updateData(application, path, {
        [DATA_MACHINE_NAME]: machineName, [DATA_TARGET_ID]: target.id, [DATA_TARGET_HANDLER]: target.handler,
        [DATA_LAST_PROBLEM]: null
      })
      setStatus(application, path, 'DEPLOYING')
    })
    await createMachine(application, path, target, handler, machineName)
  }

  /**
   * Creates the machine of a DEPLOYING scoped instance under the name stored for it (by deployMachine, or before a
   * DM restart that interrupted the creation).
   */
  async function createMachine (application: string, path: string, target: TargetDefinition, handler: TargetHandler, machineName: string): Promise<void> {
    const key = agentKey(application, path)
    let machineId: string
    const began = performance.now()
    try {
      await messaging.prepareAgent(application, path)
      const params = {
        target, machineName,
        agent: { application, scopedInstancePath: path, messaging: messaging.agentEndpoint(application) }
      }
      machineId = await limit(async () => {
        const id = await handler.create(params)
        await handler.configure?.(params, id)
        return id
      })
    } catch (err) {
      const problem = new MachineCreationError(path, `${target.id} (${target.handler})`, (err as Error).message)
      const failure: InstanceProblem = {
        step: 'create machine', plugin: target.handler, durationMs: Math.round(performance.now() - began),
        at: new Date().toISOString(), message: problem.message
      }
      store.transaction(() => {
        store.updateData(application, path, {
          [DATA_MACHINE_NAME]: null, [DATA_TARGET_ID]: null, [DATA_TARGET_HANDLER]: null, [DATA_LAST_PROBLEM]: problem.message
        })
        store.setProblem(application, path, failure)
        store.forgetAgent(application, path)
        setStatus(application, path, 'NOT_DEPLOYED', { problem: failure })
      })
      throw problem
    }
    const now = store.getInstance(application, path)
    if (now === undefined || NO_MACHINE.has(now.status ?? 'NOT_DEPLOYED')) {
      // undeployed or deleted while the machine was being made: do not leave it running
      await handler.terminate(machineId)
      return
    }
    store.updateData(application, path, { [DATA_MACHINE_ID]: machineId })
    emit({ type: 'machine', application, path, action: 'created', machineId, target: target.id, at: new Date().toISOString() })
    const address = await handler.address(machineId).catch(() => undefined)
    if (address !== undefined && now.data[DATA_IP_ADDRESS] === undefined) store.updateData(application, path, { [DATA_IP_ADDRESS]: address })
    if (!lastBeat.has(key)) lastBeat.set(key, Date.now())
  }

  /** The machine is gone: its whole subtree is NOT_DEPLOYED, machine data and imports cleared. */
  function markMachineGone (application: string, scoped: StoredInstance): void {
    const key = agentKey(application, scoped.path)
    readyAgents.delete(key)
    lastBeat.delete(key)
    meshesStarting.delete(key)
    meshesListening.delete(key)
    store.transaction(() => {
      store.forgetAgent(application, scoped.path)
      store.updateData(application, scoped.path, {
        [DATA_IP_ADDRESS]: null, [DATA_MACHINE_ID]: null, [DATA_MACHINE_NAME]: null, [DATA_TARGET_ID]: null,
        [DATA_TARGET_HANDLER]: null, [DATA_RUNNING_FROM]: null
      })
      for (const instance of flatten([scoped]).reverse()) {
        store.setImports(application, instance.path, {})
        setStatus(application, instance.path, 'NOT_DEPLOYED')
      }
    })
  }

  /**
   * Undeploys a machine: nested machines first, then what its agent carries (children first, so that every stop and
   * undeploy recipe runs, as in Roboconf), then the machine itself is terminated.
   */
  function undeployMachine (application: string, path: string): Promise<void> {
    const key = agentKey(application, path)
    const running = machineUndeploys.get(key)
    if (running !== undefined) return running
    const work = (async () => {
      const record = requireApplication(application)
      const template = templateOf(record)
      const scoped = requireInstance(application, path)
      // nested machines first (a container under a VM goes before the VM)
      for (const nested of flatten(scoped.children).filter(i => isScoped(template, i)).reverse()) {
        await undeployMachine(application, nested.path)
      }
      const status = scoped.status ?? 'NOT_DEPLOYED'
      if (status === 'NOT_DEPLOYED') return
      setStatus(application, path, 'UNDEPLOYING')
      lastBeat.delete(key)
      // an agent that is not ready (no model, silent, DM restarted) cannot be asked: the machine goes at once
      if (readyAgents.has(key)) await undeployCarriedInstances(application, template, path)
      readyAgents.delete(key)
      store.forgetAgent(application, path)
      const handler = handlers.get(scoped.data[DATA_TARGET_HANDLER] ?? '')
      const machineId = scoped.data[DATA_MACHINE_ID] ?? scoped.data[DATA_MACHINE_NAME]
      if (handler !== undefined && machineId !== undefined) {
        try {
          await handler.terminate(machineId)
          emit({ type: 'machine', application, path, action: 'terminated', machineId, target: scoped.data[DATA_TARGET_ID] ?? handler.id, at: new Date().toISOString() })
        } catch (err) {
          log.warn(`terminating machine ${machineId} of ${path} (${application}): ${(err as Error).message}`)
        }
      }
      await messaging.forgetAgent(application, path)
      const after = store.getInstance(application, path)
      if (after !== undefined) markMachineGone(application, after)
    })().finally(() => machineUndeploys.delete(key))
    machineUndeploys.set(key, work)
    return work
  }

  /**
   * Asks the agent of an UNDEPLOYING machine to take every instance it carries to NOT_DEPLOYED, deepest first;
   * resolves once the DM has seen them all NOT_DEPLOYED, or after `undeployWaitMs` (with a warning).
   */
  async function undeployCarriedInstances (application: string, template: ApplicationTemplate, scopedPath: string): Promise<void> {
    const key = agentKey(application, scopedPath)
    const scoped = store.getInstance(application, scopedPath)
    if (scoped === undefined) return
    const carried = flatten(agentSubtree(template, scoped).children).map(i => i.path)
    const deployed = (): string[] => carried.filter(p => (store.statusOf(application, p) ?? 'NOT_DEPLOYED') !== 'NOT_DEPLOYED')
    const toUndeploy = deployed()
    if (toUndeploy.length === 0) return
    let stopWaiting = (): void => {}
    /** Resolves with why the wait ended early, or undefined once every carried instance is NOT_DEPLOYED. */
    const outcome = new Promise<string | undefined>(resolve => {
      const timer = setTimeout(() => resolve(`did not undeploy them within ${undeployWaitMs} ms`), undeployWaitMs)
      const onEvent = (event: DmEvent): void => {
        if (event.type === 'instance' && event.application === application && deployed().length === 0) resolve(undefined)
      }
      events.on('event', onEvent)
      stopWaiting = () => { clearTimeout(timer); events.off('event', onEvent) }
      drainingAgents.set(key, () => resolve('reported its machine down before undeploying them'))
    })
    try {
      // a parent's undeploy runs only its own recipes: its descendants are asked first, so theirs run too
      for (const path of toUndeploy.reverse()) {
        queue(application, scopedPath, { v: 1, kind: 'changeState', instancePath: path, newState: 'NOT_DEPLOYED' })
      }
      const problem = await outcome
      if (problem !== undefined) {
        log.warn(`the agent of ${scopedPath} (${application}) ${problem} (${deployed().join(', ')} still deployed): terminating the machine anyway`)
      }
    } finally {
      stopWaiting()
      drainingAgents.delete(key)
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // notifications from agents

  async function onAgentMessage (msg: AgentToDmMessage): Promise<void> {
    const record = store.getApplication(msg.application)
    if (record === undefined) {
      log.warn(`${msg.kind} from an agent of unknown application ${msg.application}: ignored`)
      return
    }
    const template = templateOf(record)
    switch (msg.kind) {
      case 'heartbeat': {
        const scoped = store.getInstance(msg.application, msg.scopedInstancePath)
        if (scoped === undefined || !isScoped(template, scoped)) {
          log.warn(`heartbeat for ${msg.scopedInstancePath} of ${msg.application}, which is not a scoped instance: ignored`)
          return
        }
        const status = scoped.status ?? 'NOT_DEPLOYED'
        const key = agentKey(msg.application, msg.scopedInstancePath)
        if (NO_MACHINE.has(status)) {
          // an agent undeploying its instances before its machine goes is expected to beat meanwhile
          if (!drainingAgents.has(key) && !staleAgentsWarned.has(key)) {
            staleAgentsWarned.add(key)
            log.warn(`heartbeat from the agent of ${msg.scopedInstancePath} (${msg.application}), which is ${status}: ignored (stale machine; said once)`)
          }
          return
        }
        staleAgentsWarned.delete(key)
        lastBeat.set(key, Date.now())
        store.recordHeartbeat({
          application: msg.application, scopedInstancePath: msg.scopedInstancePath, peerId: msg.peerId,
          listenAddresses: msg.listenAddresses ?? [], lastHeartbeatAt: new Date().toISOString(),
          ...(msg.agentVersion === undefined ? {} : { agentVersion: msg.agentVersion })
        })
        store.transaction(() => {
          if (msg.ipAddress !== '' && scoped.data[DATA_IP_ADDRESS] !== msg.ipAddress) {
            store.updateData(msg.application, msg.scopedInstancePath, { [DATA_IP_ADDRESS]: msg.ipAddress })
          }
          if (status !== 'DEPLOYED_STARTED') {
            store.updateData(msg.application, msg.scopedInstancePath, {
              [DATA_LAST_PROBLEM]: null, [DATA_RUNNING_FROM]: scoped.data[DATA_RUNNING_FROM] ?? new Date().toISOString()
            })
            setStatus(msg.application, msg.scopedInstancePath, 'DEPLOYED_STARTED')
          }
        })
        if (!msg.modelRequired) meshesStarting.delete(key)
        if ((msg.listenAddresses ?? []).length > 0) meshesListening.add(key)
        if (msg.modelRequired) {
          readyAgents.delete(key)
          // An ownership signed for no peer would make every importer reject the agent's exports: the model waits for a
          // heartbeat naming the agent's peer (ours name it from the first one; the field is optional on the wire).
          if (msg.peerId === undefined || msg.peerId === '') log.warn(`the agent of ${msg.scopedInstancePath} (${msg.application}) asks for its model without its peer id: the model goes with a heartbeat that has it`)
          else sendModel(msg.application, msg.scopedInstancePath, msg.peerId)
        } else if (!readyAgents.has(key)) {
          readyAgents.add(key)
          flush(msg.application, msg.scopedInstancePath)
        }
        return
      }
      case 'instanceChanged': {
        const instance = store.getInstance(msg.application, msg.instancePath)
        if (instance === undefined) return
        const scoped = scopedInstanceOf(msg.application, template, msg.instancePath)
        if (NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED') && !drainingAgents.has(agentKey(msg.application, scoped.path))) return
        const failure = msg.failure === undefined ? undefined : boundedProblem(msg.failure)
        store.transaction(() => {
          store.setImports(msg.application, msg.instancePath, msg.imports)
          store.setImportReport(msg.application, msg.instancePath, msg)
          if (msg.problem !== undefined) store.updateData(msg.application, msg.instancePath, { [DATA_LAST_PROBLEM]: firstLine(msg.problem) })
          // a new action begins: the last problem is no longer the current one (describe keeps it, with its time)
          else if (ACTION_STATES.has(msg.status)) store.updateData(msg.application, msg.instancePath, { [DATA_LAST_PROBLEM]: null })
          if (failure !== undefined) store.setProblem(msg.application, msg.instancePath, failure)
          // the DM owns the states of machines; the agent owns the others (reference §3.1–3.2)
          if (scoped.path !== msg.instancePath) setStatus(msg.application, msg.instancePath, msg.status, { actor: 'agent', ...(failure === undefined ? {} : { problem: failure }) })
        })
        return
      }
      case 'instanceRemoved': {
        const instance = store.getInstance(msg.application, msg.instancePath)
        if (instance !== undefined && flatten([instance]).every(i => (i.status ?? 'NOT_DEPLOYED') === 'NOT_DEPLOYED')) {
          store.deleteInstance(msg.application, msg.instancePath)
        }
        return
      }
      case 'machineDown': {
        drainingAgents.get(agentKey(msg.application, msg.scopedInstancePath))?.()
        const scoped = store.getInstance(msg.application, msg.scopedInstancePath)
        if (scoped === undefined || NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) return
        log.warn(`the agent of ${msg.scopedInstancePath} (${msg.application}) reported its machine down`)
        const handler = handlers.get(scoped.data[DATA_TARGET_HANDLER] ?? '')
        const machineId = scoped.data[DATA_MACHINE_ID] ?? scoped.data[DATA_MACHINE_NAME]
        markMachineGone(msg.application, scoped)
        if (handler !== undefined && machineId !== undefined) {
          background(`terminating machine ${machineId}`, handler.terminate(machineId))
        }
      }
    }
  }

  messaging.onAgentMessage(onAgentMessage)

  function checkSilence (): void {
    const now = Date.now()
    for (const [key, at] of lastBeat) {
      if (now - at <= silenceMs) continue
      const [application, path] = key.split('\u0000')
      const scoped = store.getInstance(application, path)
      if (scoped === undefined || NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) { lastBeat.delete(key); continue }
      if (scoped.status === 'PROBLEM') continue
      log.warn(`no heartbeat from the agent of ${path} (${application}) for ${Math.round((now - at) / 1000)} s: PROBLEM`)
      readyAgents.delete(key)
      store.updateData(application, path, { [DATA_LAST_PROBLEM]: `no heartbeat for ${Math.round((now - at) / 1000)} s` })
      setStatus(application, path, 'PROBLEM')
    }
  }

  /**
   * After a restart: machines that no longer run lose their subtree's states; running agents resend theirs; a machine
   * whose creation the DM never saw end (no machine id stored) is created, as asked before the restart.
   */
  async function recover (): Promise<void> {
    for (const record of store.listApplications()) {
      const template = templateOf(record)
      const scopedInstances = flatten(store.instanceTrees(record.name))
        .filter(i => isScoped(template, i) && (i.status ?? 'NOT_DEPLOYED') !== 'NOT_DEPLOYED')
      await Promise.all(scopedInstances.map(async scoped => {
        const handler = handlers.get(scoped.data[DATA_TARGET_HANDLER] ?? '')
        const machineId = scoped.data[DATA_MACHINE_ID] ?? scoped.data[DATA_MACHINE_NAME]
        const running = handler !== undefined && machineId !== undefined &&
          await handler.isRunning(machineId).catch(() => false)
        if (scoped.status === 'UNDEPLOYING' && running) {
          await undeployMachine(record.name, scoped.path)
          return
        }
        const machineName = scoped.data[DATA_MACHINE_NAME]
        const target = dm.getTarget(scoped.data[DATA_TARGET_ID] ?? '')
        if (!running && scoped.status === 'DEPLOYING' && scoped.data[DATA_MACHINE_ID] === undefined &&
          handler !== undefined && machineName !== undefined && target !== undefined) {
          // The DM died before the target had made the machine: the deploy still stands, and the commands queued for
          // the machine's instances wait for its agent. (A machine the DM saw made and that is gone was killed: below.)
          log.info(`after restart: the machine of ${scoped.path} (${record.name}) was being created: creating it`)
          // what a creation cut short left (a folder without an agent) goes first
          await handler.terminate(machineName).catch(err => log.warn(`cleaning up machine ${machineName}: ${(err as Error).message}`))
          background(`deploying ${scoped.path} of ${record.name}`, createMachine(record.name, scoped.path, target, handler, machineName))
          return
        }
        if (!running) {
          log.info(`after restart: the machine of ${scoped.path} (${record.name}) no longer runs: NOT_DEPLOYED`)
          // what is left of it (a folder, a network namespace) goes
          if (handler !== undefined && machineId !== undefined) {
            await handler.terminate(machineId).catch(err => log.warn(`cleaning up machine ${machineId}: ${(err as Error).message}`))
          }
          const fresh = store.getInstance(record.name, scoped.path)
          if (fresh !== undefined) markMachineGone(record.name, fresh)
          return
        }
        // found by the name stored before its creation (the DM died before it stored the id): the name is its id
        if (scoped.data[DATA_MACHINE_ID] === undefined && machineName !== undefined) store.updateData(record.name, scoped.path, { [DATA_MACHINE_ID]: machineName })
        lastBeat.set(agentKey(record.name, scoped.path), Date.now())
        if (store.agents(record.name).some(a => a.scopedInstancePath === scoped.path && a.listenAddresses.length > 0)) {
          meshesListening.add(agentKey(record.name, scoped.path))
        }
        queue(record.name, scoped.path, { v: 1, kind: 'resendStates' })
      }))
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // the service

  const dm = {
    async start (): Promise<void> {
      if (started) return
      started = true
      dmKey()
      await messaging.start()
      await recover()
      silenceTimer = setInterval(checkSilence, options.heartbeatCheckIntervalMs ?? HEARTBEAT_CHECK_INTERVAL_MS)
      silenceTimer.unref()
    },

    /** Stops following agents; machines keep running (a restarted DM finds them again). */
    async stop (): Promise<void> {
      if (!started) return
      started = false
      clearInterval(silenceTimer)
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
      await messaging.stop()
      readyAgents.clear()
      lastBeat.clear()
    },

    /** Subscribes to the events (each with its history id); returns the unsubscribe function. */
    onEvent (listener: (event: PublishedEvent) => void): () => void {
      events.on('event', listener)
      return () => { events.off('event', listener) }
    },

    /** The event history, oldest first. */
    history (query: EventQuery): StoredEvent[] {
      return eventLog.query(query)
    },

    /** Events in the history now. */
    eventCount (): number {
      return eventLog.count()
    },

    /** Records and publishes an event that happened outside the DM's logic (a REST write). */
    recordEvent (event: DmEvent): void {
      emit(event)
    },

    /** The DM's public key (base64 Ed25519), which agents trust. */
    publicKey (): string {
      return dmKey().publicKey
    },

    // ---- templates
    async loadTemplateFromPath (path: string): Promise<TemplateSummary & { errors: ModelError[] }> {
      if (!isAbsolute(path)) throw new TemplateSourceError(`the template path ${JSON.stringify(path)} is not absolute: give the full path of a folder or zip on the DM's host`)
      if (path.split(/[\\/]/).includes('..')) throw new UnsafePathError('template path', path)
      if (!existsSync(path)) throw new TemplateSourceError(`nothing at ${path} on the DM's host: give the path of a template folder or zip`)
      if (statSync(path).isFile()) {
        const zip = readFileSync(path)
        await checkZipEntries(zip)
      }
      return register(await loadApplicationTemplate(path), path)
    },

    async loadTemplateFromZip (zip: Buffer): Promise<TemplateSummary & { errors: ModelError[] }> {
      await checkZipEntries(zip)
      return register(await loadApplicationTemplateFromZip(zip), 'the uploaded zip')
    },

    listTemplates (): TemplateSummary[] {
      return store.listTemplates()
    },

    deleteTemplate (name: string, version: string): void {
      if (!store.hasTemplate(name, version)) throw new TemplateNotFoundError(name, version)
      const users = store.applicationsUsingTemplate(name, version)
      if (users.length > 0) throw new TemplateInUseError(name, version, users)
      store.deleteTemplate(name, version)
      templates.delete(`${name}\u0000${version}`)
      emit({ type: 'template', name, version, action: 'deleted', at: new Date().toISOString() })
    },

    // ---- applications
    createApplication (input: { name: string, template: { name: string, version: string }, description?: string }): ApplicationSummary {
      if (store.getApplication(input.name) !== undefined) throw new ApplicationExistsError(input.name)
      const stored = store.getTemplate(input.template.name, input.template.version)
      if (stored === undefined) throw new TemplateNotFoundError(input.template.name, input.template.version)
      const record: ApplicationRecord = {
        name: input.name, template: input.template, description: input.description ?? stored.description,
        createdAt: new Date().toISOString(), pnetKey: generatePnetKey()
      }
      const roots = stored.template.rootInstances.map(function fresh (i: Instance): Instance {
        return { ...i, status: 'NOT_DEPLOYED', children: i.children.map(fresh) }
      })
      assignRandomPorts(stored.template, roots)
      store.createApplication(record, roots)
      emit({ type: 'application', application: input.name, action: 'created', at: record.createdAt })
      return summary(record)
    },

    listApplications (): ApplicationSummary[] {
      return store.listApplications().map(summary)
    },

    getApplication (name: string): ApplicationSummary & { instances: InstanceView[] } {
      const record = requireApplication(name)
      return { ...summary(record), instances: store.instanceTrees(name).map(view) }
    },

    /** Terminates the application's machines, then forgets it. */
    async deleteApplication (name: string): Promise<void> {
      const record = requireApplication(name)
      const template = templateOf(record)
      await Promise.all(store.instanceTrees(name).filter(r => isScoped(template, r)).map(r => undeployMachine(name, r.path)))
      await messaging.deleteApplication(name)
      for (const key of [...lastBeat.keys(), ...readyAgents]) {
        if (key.startsWith(`${name}\u0000`)) { lastBeat.delete(key); readyAgents.delete(key) }
      }
      store.deleteApplication(name)
      emit({ type: 'application', application: name, action: 'deleted', at: new Date().toISOString() })
    },

    // ---- instances
    instances (application: string): InstanceView[] {
      requireApplication(application)
      return store.instanceTrees(application).map(view)
    },

    instance (application: string, path: string): InstanceView {
      requireApplication(application)
      return view(requireInstance(application, path))
    },

    /** Adds a root instance (a new machine, not deployed) or a child; a child of a running machine reaches its agent. */
    addInstance (application: string, input: { parentPath?: string, name: string, component: string, overriddenExports?: Record<string, string> }): InstanceView {
      const record = requireApplication(application)
      const template = templateOf(record)
      if (!INSTANCE_NAME.test(input.name)) {
        throw new InvalidInstanceError(`instance name ${JSON.stringify(input.name)} is invalid: use letters, digits, spaces, '-', '_' and '.', not starting or ending with a space`)
      }
      const component: Component | undefined = template.components[input.component]
      if (component === undefined) {
        throw new InvalidInstanceError(`component ${JSON.stringify(input.component)} is not in the graph of ${application}: use one of ${Object.keys(template.components).sort().join(', ')}`)
      }
      let parent: StoredInstance | undefined
      if (input.parentPath !== undefined && input.parentPath !== '' && input.parentPath !== '/') {
        parent = requireInstance(application, input.parentPath)
        const allowed = template.components[parent.component]?.children ?? []
        if (!allowed.includes(input.component)) {
          throw new InvalidInstanceError(`a ${input.component} cannot be placed under ${parent.path} (a ${parent.component}): the graph allows ${allowed.length > 0 ? allowed.join(', ') : 'no children'} there`)
        }
      } else if (component.installer !== TARGET_INSTALLER) {
        throw new InvalidInstanceError(`a root instance must be a machine (installer target); ${input.component} uses ${component.installer}: give a parentPath`)
      }
      const path = `${parent?.path ?? ''}/${input.name}`
      if (store.getInstance(application, path) !== undefined) throw new InstanceExistsError(application, path)
      const instance: Instance = {
        name: input.name, component: input.component, path, overriddenExports: input.overriddenExports ?? {},
        data: {}, channels: [], status: 'NOT_DEPLOYED', children: []
      }
      assignRandomPorts(template, [instance])
      store.addInstance(application, parent?.path ?? null, instance)
      emit({ type: 'instance', application, path, status: 'NOT_DEPLOYED', at: new Date().toISOString() })
      if (parent !== undefined && !isScoped(template, instance)) {
        const scoped = scopedInstanceOf(application, template, parent.path)
        if (!NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) {
          queue(application, scoped.path, { v: 1, kind: 'addInstance', parentPath: parent.path, instance })
        }
      }
      return view(requireInstance(application, path))
    },

    /** Copies a root instance and its subtree under a new name, not deployed (scale up: then deploy it). */
    replicate (application: string, path: string, newName: string): InstanceView {
      const template = templateOf(requireApplication(application))
      const source = requireInstance(application, path)
      if (path.split('/').filter(s => s !== '').length !== 1) {
        throw new InvalidInstanceError(`${path} is not a root instance: only root instances (machines) can be replicated`)
      }
      if (!INSTANCE_NAME.test(newName)) {
        throw new InvalidInstanceError(`instance name ${JSON.stringify(newName)} is invalid: use letters, digits, spaces, '-', '_' and '.'`)
      }
      const newPath = `/${newName}`
      if (store.getInstance(application, newPath) !== undefined) throw new InstanceExistsError(application, newPath)
      // generated ports are not copied: the copy gets its own
      const copy = (i: StoredInstance, at: string): Instance => ({
        name: at === newPath ? newName : i.name, component: i.component, path: at,
        overriddenExports: Object.fromEntries(Object.entries(i.overriddenExports).filter(([name]) =>
          !(template.components[i.component]?.randomExports ?? []).some(v => v === name || localNameOf(v) === name))),
        data: {}, channels: i.channels, status: 'NOT_DEPLOYED',
        children: i.children.map(c => copy(c, `${at}/${c.name}`))
      })
      const instance = copy(source, newPath)
      assignRandomPorts(template, [instance])
      store.addInstance(application, null, instance)
      for (const i of flatten([instance])) emit({ type: 'instance', application, path: i.path, status: 'NOT_DEPLOYED', at: new Date().toISOString() })
      return view(requireInstance(application, newPath))
    },

    /** Deletes an instance and its subtree, all NOT_DEPLOYED (scale down: undeploy first). */
    removeInstance (application: string, path: string): void {
      const record = requireApplication(application)
      const template = templateOf(record)
      const instance = requireInstance(application, path)
      const deployed = flatten([instance]).find(i => (i.status ?? 'NOT_DEPLOYED') !== 'NOT_DEPLOYED')
      if (deployed !== undefined) throw new InstanceDeployedError(application, path, deployed.path, deployed.status as string)
      if (!isScoped(template, instance)) {
        const scoped = scopedInstanceOf(application, template, path)
        if (!NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) queue(application, scoped.path, { v: 1, kind: 'removeInstance', instancePath: path })
      }
      store.deleteInstance(application, path)
    },

    /**
     * Asks one instance for a state: a machine is created (DEPLOYED_STARTED) or terminated (NOT_DEPLOYED) by the
     * DM; any other instance's request goes to its agent. Machine creation continues in the background.
     */
    changeState (application: string, path: string, state: InstanceStatus): void {
      const record = requireApplication(application)
      const template = templateOf(record)
      if (!REQUESTABLE_STATUSES.has(state)) {
        throw new InvalidStateRequestError(`state ${state} cannot be requested: ask for NOT_DEPLOYED, DEPLOYED_STOPPED or DEPLOYED_STARTED`)
      }
      const instance = requireInstance(application, path)
      if (isScoped(template, instance)) {
        if (state === 'DEPLOYED_STOPPED') throw new InvalidStateRequestError(`${path} is a machine: it can be deployed and started (DEPLOYED_STARTED) or undeployed (NOT_DEPLOYED), not stopped`)
        if (state === 'DEPLOYED_STARTED') background(`deploying ${path} of ${application}`, deployMachine(application, path))
        else background(`undeploying ${path} of ${application}`, undeployMachine(application, path))
        return
      }
      const scoped = scopedInstanceOf(application, template, path)
      if (NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED')) {
        throw new InvalidStateRequestError(`the machine ${scoped.path} of ${path} is ${scoped.status ?? 'NOT_DEPLOYED'}: deploy it first (state DEPLOYED_STARTED on ${scoped.path}, or action deploy-and-start-all)`)
      }
      queue(application, scoped.path, { v: 1, kind: 'changeState', instancePath: path, newState: state })
    },

    /**
     * deploy-and-start-all, stop-all, undeploy-all on the application, one subtree (`path`), and/or the instances
     * of one component. Returns once the commands are stored; machines are created in parallel in the background.
     */
    action (application: string, input: { action: DmAction, path?: string, component?: string }): void {
      const record = requireApplication(application)
      const template = templateOf(record)
      const roots = input.path !== undefined ? [requireInstance(application, input.path)] : store.instanceTrees(application)
      if (input.component !== undefined && template.components[input.component] === undefined) {
        throw new InvalidInstanceError(`component ${JSON.stringify(input.component)} is not in the graph of ${application}: use one of ${Object.keys(template.components).sort().join(', ')}`)
      }
      const selected = flatten(roots).filter(i => input.component === undefined || i.component === input.component)
      const machines = selected.filter(i => isScoped(template, i))
      const others = selected.filter(i => !isScoped(template, i))
      const machineOf = (i: StoredInstance): StoredInstance => scopedInstanceOf(application, template, i.path)
      switch (input.action) {
        case 'deploy-and-start-all': {
          const deploying = new Set(machines.filter(m => (m.status ?? 'NOT_DEPLOYED') === 'NOT_DEPLOYED').map(m => m.path))
          // the commands are stored before the machines are asked for, so a DM killed in between still sends them
          store.transaction(() => {
            for (const i of others) {
              const scoped = machineOf(i)
              if (NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED') && !deploying.has(scoped.path)) continue
              queue(application, scoped.path, { v: 1, kind: 'changeState', instancePath: i.path, newState: 'DEPLOYED_STARTED' })
            }
          })
          for (const path of deploying) background(`deploying ${path} of ${application}`, deployMachine(application, path))
          return
        }
        case 'stop-all': {
          for (const i of others) {
            const scoped = machineOf(i)
            if (NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED') || (i.status ?? 'NOT_DEPLOYED') === 'NOT_DEPLOYED') continue
            queue(application, scoped.path, { v: 1, kind: 'changeState', instancePath: i.path, newState: 'DEPLOYED_STOPPED' })
          }
          return
        }
        case 'undeploy-all': {
          const undeploying = new Set(machines.map(m => m.path))
          const covered = (path: string): boolean => [...undeploying].some(m => path === m || path.startsWith(`${m}/`))
          for (const i of others) {
            const scoped = machineOf(i)
            if (covered(i.path) || NO_MACHINE.has(scoped.status ?? 'NOT_DEPLOYED') || (i.status ?? 'NOT_DEPLOYED') === 'NOT_DEPLOYED') continue
            queue(application, scoped.path, { v: 1, kind: 'changeState', instancePath: i.path, newState: 'NOT_DEPLOYED' })
          }
          const topMost = [...undeploying].filter(p => ![...undeploying].some(m => m !== p && p.startsWith(`${m}/`)))
          for (const path of topMost) background(`undeploying ${path} of ${application}`, undeployMachine(application, path))
        }
      }
    },

    // ---- targets
    listTargets (): TargetDefinition[] {
      return [defaultTarget(), ...store.listTargets()]
    },

    getTarget (id: string): TargetDefinition | undefined {
      return id === DEFAULT_TARGET_ID ? defaultTarget() : store.getTarget(id)
    },

    createTarget (target: TargetDefinition): TargetDefinition {
      if (!handlers.has(target.handler)) throw new UnknownTargetHandlerError(target.handler, [...handlers.keys()])
      if (dm.getTarget(target.id) !== undefined) throw new TargetExistsError(target.id)
      store.putTarget(target)
      return target
    },

    /** Associates a target with the application (default), one scoped instance path, or one component. */
    associateTarget (application: string, input: { targetId: string, path?: string, component?: string }): void {
      const record = requireApplication(application)
      if (dm.getTarget(input.targetId) === undefined) throw new TargetNotFoundError(input.targetId)
      if (input.targetId === DEFAULT_TARGET_ID) {
        // the built-in default target is virtual: it cannot be referenced by the association table
        throw new InvalidInstanceError(`the target ${DEFAULT_TARGET_ID} is the DM's built-in default and is used when nothing else is associated: associate a target you created instead`)
      }
      if (input.path !== undefined && input.component !== undefined) {
        throw new InvalidInstanceError('give either path or component, not both')
      }
      const template = templateOf(record)
      if (input.path !== undefined) {
        const instance = requireInstance(application, input.path)
        if (!isScoped(template, instance)) throw new InvalidInstanceError(`${input.path} is not a machine (its component's installer is not target): targets apply to scoped instances`)
        store.associateTarget(application, { kind: 'path', path: input.path }, input.targetId)
      } else if (input.component !== undefined) {
        if (template.components[input.component]?.installer !== TARGET_INSTALLER) {
          throw new InvalidInstanceError(`${input.component} is not a machine component of ${application} (installer target): targets apply to scoped instances`)
        }
        store.associateTarget(application, { kind: 'component', component: input.component }, input.targetId)
      } else {
        store.associateTarget(application, { kind: 'default' }, input.targetId)
      }
    }
  }

  function register (result: LoadResult, where: string): TemplateSummary & { errors: ModelError[] } {
    if (result.template === undefined || result.errors.some(e => e.level === 'SEVERE')) throw new InvalidTemplateError(where, result.errors)
    const { name, version } = result.template.descriptor
    if (store.hasTemplate(name, version)) throw new TemplateExistsError(name, version)
    const saved = store.putTemplate(result.template, result.errors)
    emit({ type: 'template', name, version, action: 'created', at: saved.createdAt })
    return { ...saved, errors: result.errors }
  }

  return dm
}

export type DeploymentManager = ReturnType<typeof createDeploymentManager>
