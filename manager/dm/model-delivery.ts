// The model an agent gets once it is up (its first heartbeat), with the mesh settings it needs to join its
// application: bootstrap peers, the private-network key, the DM's keys, its signed ownership (renewed at its beats).
import { OWNERSHIP_RENEW_AFTER_FRACTION, signOwnership } from '../../protocol/mesh.js'
import { toAgent, type ScopedModel, type SignedOwnership } from '../../protocol/messages.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import { meshRole, pickBootstrapPeers, type MeshRole } from '../bootstrap.js'
import { MAX_BOOTSTRAP_AGENTS, MODEL_WAIT_FOR_PEER_MS } from '../constants.js'
import type { InstanceOutline, StoredInstance } from '../store.js'
import { domainParametersFor, externalOwnershipFor } from './bindings.js'
import type { DmCore } from './core.js'
import { agentSubtree, componentsOf, hasNoMachine, isScoped, recipesOf } from './model.js'
import type { OutboxContext } from './outbox.js'
import type { AgentSession } from './sessions.js'

/** Sends the agent its model, with the mesh settings it needs to join its application (the outbox then flushes). */
export function sendModel (context: OutboxContext, application: string, scopedInstancePath: string, peerId: string): void {
  const { core, sessions } = context
  const { store, messaging } = core
  core.background(`sending the model to ${scopedInstancePath} of ${application}`, sessions.chain(application, scopedInstancePath, async () => {
    const record = store.getApplication(application)
    const scoped = store.getInstance(application, scopedInstancePath)
    if (record === undefined || scoped === undefined || hasNoMachine(scoped)) return
    const template = core.templateOf(record)
    const instance = agentSubtree(template, scoped)
    const model: ScopedModel = {
      application, scopedInstancePath, components: template.components, instance,
      externalExports: template.descriptor.externalExports, probePeriodMs: record.probePeriodMs ?? core.settings.probePeriodMs,
      ...(template.descriptor.externalExportsPrefix !== undefined ? { externalExportsPrefix: template.descriptor.externalExportsPrefix } : {})
    }
    await peerToBootstrapFrom(context, application, scopedInstancePath)
    const bootstrapPeers = bootstrapPeersFor(core, application, template, scoped)
    // noted before the model leaves: an agent whose mesh listens from now on is sent to this one after it
    sessions.of(application, scopedInstancePath).awaitingPeers = bootstrapPeers.length === 0
    const ownership = ownershipFor(context, application, scopedInstancePath, peerId)
    const domain = domainParametersFor(core, application, template, scoped, peerId, ownership.expiresAt as number)
    await messaging.sendToAgent(application, scopedInstancePath, toAgent({
      kind: 'setScopedInstance', model, recipes: recipesOf(template, componentsOf(instance)),
      mesh: {
        bootstrapPeers, pnetKey: record.pnetKey, trustedDmKeys: [core.signingKey().publicKey],
        ownership,
        ...(domain === undefined ? {} : { domain })
      }
    }))
    const session = sessions.of(application, scopedInstancePath)
    session.ready = true
    session.meshStarting = true
  }))
}

/**
 * An agent's mesh listens (its first beat with addresses): the agents of its application whose model carried no
 * bootstrap peer get the application's listening agents now (meshPeers), once, or they would stay alone unless a
 * later agent happened to dial them.
 */
export function sendPeersToAwaiting (context: OutboxContext, application: string, listeningPath: string): void {
  const { core, sessions } = context
  for (const session of sessions.ofApplication(application)) {
    if (!session.awaitingPeers || session.scopedInstancePath === listeningPath) continue
    const path = session.scopedInstancePath
    core.background(`sending mesh peers to ${path} of ${application}`, sessions.chain(application, path, async () => {
      const record = core.store.getApplication(application)
      const scoped = core.store.getInstance(application, path)
      // (chained after its model: sent once the model has gone)
      if (!session.awaitingPeers || !session.ready || record === undefined || scoped === undefined || hasNoMachine(scoped)) return
      const bootstrapPeers = bootstrapPeersFor(core, application, core.templateOf(record), scoped)
      if (bootstrapPeers.length === 0) return
      session.awaitingPeers = false
      await core.messaging.sendToAgent(application, path, toAgent({ kind: 'meshPeers', bootstrapPeers }))
    }))
  }
}

/** Sends the agent a fresh ownership when the last one signed for it is due for renewal (called at its beats). */
export function renewOwnershipIfDue (context: OutboxContext, application: string, scopedInstancePath: string, peerId: string): void {
  const { core, sessions } = context
  const { messaging } = core
  const session = sessions.find(application, scopedInstancePath)
  // No ownership signed by this DM process yet (it restarted): the agent's may be near its end, renew it now.
  if (session === undefined || !session.ready || (session.ownershipRenewAt !== undefined && Date.now() < session.ownershipRenewAt)) return
  const ownership = ownershipFor(context, application, scopedInstancePath, peerId)
  // the external ownership too, when the machine exports to other applications: it expires with the other
  const record = core.store.getApplication(application)
  const scoped = core.store.getInstance(application, scopedInstancePath)
  const externalOwnership = record === undefined || scoped === undefined
    ? undefined
    : externalOwnershipFor(core, application, core.templateOf(record), scoped, peerId, ownership.expiresAt as number)
  core.background(`renewing the mesh ownership of ${scopedInstancePath} of ${application}`, sessions.chain(application, scopedInstancePath, async () => {
    await messaging.sendToAgent(application, scopedInstancePath, toAgent({ kind: 'renewOwnership', ownership, ...(externalOwnership === undefined ? {} : { externalOwnership }) }))
  }))
}

/**
 * Agents learn their peers from the model's bootstrap list, and from meshPeers only when that list was empty. When
 * several machines of an application come up together, the first ones would get an empty list: a model waits (a
 * bounded time) while no agent of the application is known to listen but another one is starting its mesh, so that
 * each gets a peer in its model rather than later.
 */
async function peerToBootstrapFrom ({ sessions }: OutboxContext, application: string, scopedInstancePath: string): Promise<void> {
  const deadline = Date.now() + MODEL_WAIT_FOR_PEER_MS
  const others = (): AgentSession[] => sessions.ofApplication(application).filter(s => s.scopedInstancePath !== scopedInstancePath)
  while (Date.now() < deadline) {
    const current = others()
    if (current.some(s => s.meshListening) || !current.some(s => s.meshStarting)) break
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  // Claimed before any await, so that of agents whose heartbeats arrive together, one goes first and the
  // others wait for its mesh instead of all starting alone.
  sessions.of(application, scopedInstancePath).meshStarting = true
}

/** Addresses of the application's listening agents the newcomer should dial first (bootstrap.ts). */
function bootstrapPeersFor ({ store }: DmCore, application: string, template: ApplicationTemplate, scoped: StoredInstance): string[] {
  const candidates = store.agents(application).filter(a => a.scopedInstancePath !== scoped.path && a.listenAddresses.length > 0)
  if (candidates.length === 0) return []
  // Each machine's role from the components of its agent's subtree (nested machines excluded, as agentSubtree does),
  // read from the instances' outline: a model per machine must not decode the whole application's instances.
  const components = agentComponentsByMachine(template, store.instanceOutline(application))
  const roleOf = (path: string): MeshRole => meshRole([...(components.get(path) ?? [])].flatMap(name => template.components[name] ?? []))
  const others = candidates.flatMap(a => components.has(a.scopedInstancePath) ? [{ peer: a.listenAddresses, role: roleOf(a.scopedInstancePath) }] : [])
  return pickBootstrapPeers(roleOf(scoped.path), others, MAX_BOOTSTRAP_AGENTS).flat()
}

/** agentComponentsByMachine's answer for each outline the store hands out (the same object until instances change). */
const componentsByOutline = new WeakMap<InstanceOutline, { template: ApplicationTemplate, components: Map<string, Set<string>> }>()

/**
 * The components each machine's agent manages (its scoped instance and the subtree below it that no nested machine
 * takes), by machine path; computed once per outline, not for every model.
 */
function agentComponentsByMachine (template: ApplicationTemplate, outline: InstanceOutline): Map<string, Set<string>> {
  const known = componentsByOutline.get(outline)
  if (known !== undefined && known.template === template) return known.components
  const components = componentsOfMachines(template, outline)
  componentsByOutline.set(outline, { template, components })
  return components
}

function componentsOfMachines (template: ApplicationTemplate, outline: InstanceOutline): Map<string, Set<string>> {
  const machineOf = new Map<string, string>()
  const components = new Map<string, Set<string>>()
  for (const row of outline) { // parents first
    const machine = isScoped(template, row) ? row.path : (row.parentPath === null ? undefined : machineOf.get(row.parentPath))
    if (machine === undefined) continue
    machineOf.set(row.path, machine)
    let set = components.get(machine)
    if (set === undefined) components.set(machine, set = new Set())
    set.add(row.component)
  }
  return components
}

/**
 * The DM's signature that `peerId` owns the scoped instance, for the machine's generation (its credential's:
 * importers refuse older generations) and until the ownership lifetime from now; the session notes when to renew.
 */
function ownershipFor ({ core, sessions }: OutboxContext, application: string, scopedInstancePath: string, peerId: string): SignedOwnership {
  const now = Date.now()
  const lifetimeMs = core.settings.ownershipLifetimeMs
  sessions.of(application, scopedInstancePath).ownershipRenewAt = now + lifetimeMs * OWNERSHIP_RENEW_AFTER_FRACTION
  return signOwnership(core.signingKey(), {
    peerId, application, scopedInstancePath, generation: core.store.getCredential(application, scopedInstancePath)?.generation, expiresAt: now + lifetimeMs
  })
}
