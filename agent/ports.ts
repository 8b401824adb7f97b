// The interfaces between the agent's life-cycle engine and its edges (mesh, DM link), so that the engine
// is tested in memory and every transport plugs in the same way.
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { SignedBinding, SignedExternalOwnership } from '../protocol/domain.js'
import type { Import, InstanceReport, MeshParameters, ScopedModel, SignedOwnership } from '../protocol/messages.js'

/** Where the engine reports state and import changes (the link to the DM). */
export interface DmNotifier {
  /** `report`: the last failure (with the state it caused) and what the instance misses and holds. */
  instanceChanged (instancePath: string, status: InstanceStatus, imports: Record<string, Import[]>, problem?: string,
    report?: InstanceReport): void
  instanceRemoved (instancePath: string): void
}

/** What the engine measures (the agent's metrics). */
export interface LifecycleObserver {
  /** A plug-in step (deploy, start, update, stop, undeploy) ended, after `durationMs`. */
  step (step: string, result: 'ok' | 'failed', durationMs: number): void
  /** An import change reached an instance's `update`, `latencyMs` after the mesh reported it. */
  update (latencyMs: number): void
}

/** How the engine publishes its exports and asks for imports (the mesh). */
export interface ExportPublisher {
  /** The prefixes this agent's instances import: the mesh listens for them and asks owners to re-announce. */
  setInterests (prefixes: ReadonlySet<string>): void
  /** Announces the exports of a DEPLOYED_STARTED instance: every fully prefixed variable -> value. */
  announce (instancePath: string, component: string, variables: Record<string, string | null>): void
  /** Withdraws all exports of an instance (stopped, undeployed, removed). */
  withdraw (instancePath: string): void
  /** Asks the owners of these prefixes to re-announce (late joiner, missing mandatory import). */
  request (prefixes: Iterable<string>): void
}

/** What the mesh calls on the engine when imports come and go. */
export interface ImportListener {
  /** An exporter announced (or re-announced) `prefix`; `variables` holds all its variables of that prefix. */
  importAdded (prefix: string, exported: Import): void
  importRemoved (prefix: string, exporterPath: string): void
}

/** A running mesh, as the agent uses it once its model (and so the application's pnet key) has arrived. */
export interface MeshHandle extends ExportPublisher {
  /** Multiaddrs (with /p2p/<peerId>) other agents can dial; reported to the DM in heartbeats. */
  listenAddresses (): string[]
  /**
   * Imports the agent restored from its saved state (after a restart): each one the mesh does not confirm (its owner
   * re-announces it) within a grace is removed through the listener, so a restored import never outlives its owner.
   * Meshes without liveness (the benchmark's broker hub) may leave it out.
   */
  expectRestored? (restored: Array<{ prefix: string, exporterPath: string }>): void
  /**
   * The DM renewed this agent's ownership (a later expiry): the messages sent from now on carry it. Meshes that show
   * no ownership (the benchmark's broker hub) may leave it out.
   */
  renewOwnership? (ownership: SignedOwnership, externalOwnership?: SignedExternalOwnership): void
  /**
   * The DM changed the application's binding of an external prefix (domain exchange, agent/mesh/domain-exchange.ts): true when
   * accepted (signed, for this application, newer). Absent: the mesh takes no part in the domain exchange.
   */
  changeBinding? (binding: SignedBinding, bootstrapPeers: readonly string[]): boolean
  /**
   * Agents of the application to dial, which the DM sent after the model (it carried none: this agent came up first,
   * or with the others still starting). Absent: the mesh finds its peers by itself (the in-memory hub).
   */
  addPeers? (addresses: readonly string[]): void
  /** Domain agents to dial (they came up after the model); absent: the mesh takes no part in the domain exchange. */
  addDomainPeers? (addresses: readonly string[]): void
  /** Multiaddrs of the domain exchange's node, reported to the DM in heartbeats; absent or empty: none. */
  domainAddresses? (): string[]
  stop (): Promise<void>
}

/** Starts the mesh for a scoped model; the mesh calls `listener` when imports come and go. */
export type MeshFactory = (model: ScopedModel, parameters: MeshParameters, listener: ImportListener) => Promise<MeshHandle>
