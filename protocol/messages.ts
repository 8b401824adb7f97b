// Messages between the DM and its agents (reference §5), transport-independent.
// Carried as JSON by every messaging implementation (RabbitMQ, embedded WebSocket, in-memory).
// `v` is the wire version: a receiver rejects a message whose version it does not know.
import type { InstanceStatus } from './lifecycle.js'
import type { Component, Instance } from './model/types.js'

export const DM_MESSAGE_VERSION = 1

/** What an agent imports from one exporting instance (reference §4.4). */
export interface Import {
  /** Path of the exporting instance, e.g. `/Tomcat VM 1/Tomcat`. */
  instancePath: string
  /** Component of the exporting instance. */
  component: string
  /** Fully prefixed variable -> value (only the variables the importer imports). */
  variables: Record<string, string | null>
}

/** The DM's signature that a libp2p peer owns a scoped instance of an application (checked by importers). */
export interface SignedOwnership {
  peerId: string
  application: string
  scopedInstancePath: string
  /** base64 Ed25519 public key of the DM that signed. */
  dmPublicKey: string
  /** base64 signature over the canonical encoding of the three fields above. */
  signature: string
}

/** Everything an agent needs to manage its scoped instance, without the DM afterwards. */
export interface ScopedModel {
  application: string
  scopedInstancePath: string
  /** The application's components (the whole graph: it is small, and imports name other components). */
  components: Record<string, Component>
  /** The scoped instance and its subtree, nested scoped instances removed, with their states. */
  instance: Instance
  /** `Component.variable` -> alias for inter-application exports, and their prefix. */
  externalExports: Record<string, string>
  externalExportsPrefix?: string
}

/** Mesh parameters the DM hands over with the model. */
export interface MeshParameters {
  /** Multiaddrs (with /p2p/<peerId>) of the application's running agents. */
  bootstrapPeers: string[]
  /** libp2p pnet key of the application (`/key/swarm/psk/1.0.0/` format). */
  pnetKey: string
  ownership: SignedOwnership
  /** base64 public keys of the DMs whose ownership signatures are trusted. */
  trustedDmKeys: string[]
}

/** Recipe files of a component: path relative to the recipe folder -> base64 content. */
export type RecipeFiles = Record<string, string>

export type DmToAgentMessage =
  | { v: 1, kind: 'setScopedInstance', model: ScopedModel, mesh: MeshParameters, recipes: Record<string, RecipeFiles> }
  | { v: 1, kind: 'changeState', instancePath: string, newState: InstanceStatus, recipes?: Record<string, RecipeFiles> }
  | { v: 1, kind: 'addInstance', parentPath: string, instance: Instance, recipes?: Record<string, RecipeFiles> }
  | { v: 1, kind: 'removeInstance', instancePath: string }
  | { v: 1, kind: 'resendStates' }
  | { v: 1, kind: 'resynchronize' }

export type AgentToDmMessage =
  | { v: 1, kind: 'heartbeat', application: string, scopedInstancePath: string, ipAddress: string,
    modelRequired: boolean, peerId?: string, listenAddresses?: string[] }
  | { v: 1, kind: 'instanceChanged', application: string, instancePath: string, status: InstanceStatus,
    imports: Record<string, Import[]>, problem?: string }
  | { v: 1, kind: 'instanceRemoved', application: string, instancePath: string }
  | { v: 1, kind: 'machineDown', application: string, scopedInstancePath: string }
