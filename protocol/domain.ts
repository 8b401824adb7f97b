// The domain exchange (issue 21): how applications import from each other peer to peer (reference §2.4, §4.2-4.3:
// external exports and `external` imports, bindings). Each application's agents keep their own pnet; the agents of an
// application that exports externally, and those importing `external` prefixes, also join one domain-wide private
// network (its key derived from the DM's signing key) where only external exports travel, on topics of their own:
// one per (prefix, exporting application), so an importer subscribes only to what its application is bound to.
// Two DM signatures make an importer accept an external export: the exporter's external ownership (this peer exports
// prefix P for application A, from this scoped instance) and the importer's binding (application B may import P from
// A, with a version that only grows, so a replayed older binding is refused). Pure code: no sockets, no files.
import { createHmac, createPublicKey, sign, verify } from 'node:crypto'
import type { SignedOwnership } from './messages.js'
import {
  DEFAULT_OWNERSHIP_LIFETIME_MS, MESH_MESSAGE_VERSION, MeshMessageError, PNET_KEY_HEADER, isWithinScope, meshFieldChecks, parseDmKey, type DmSigningKey, type Stamp
} from './mesh.js'

const { messageObject, announcedVariables, object, str, noControl, path, count, list, ownership } = meshFieldChecks

// ---------------------------------------------------------------------------------------------------------------
// Topics

const DOMAIN_TOPIC_HEAD = `/meshconf-domain/${MESH_MESSAGE_VERSION}`

/** Announcements and withdrawals of one exporting application's external prefix: its bound importers subscribe. */
export function domainExportsTopic (prefix: string, exporterApplication: string): string {
  return `${DOMAIN_TOPIC_HEAD}/exports/${encodeURIComponent(prefix)}/${encodeURIComponent(exporterApplication)}`
}

/** Requests of importers: every agent of the domain exchange subscribes (and relays). */
export function domainControlTopic (): string {
  return `${DOMAIN_TOPIC_HEAD}/control`
}

/** The prefix and exporting application of a domain exports topic, or undefined for any other topic. */
export function parseDomainExportsTopic (topic: string): { prefix: string, application: string } | undefined {
  const head = `${DOMAIN_TOPIC_HEAD}/exports/`
  if (!topic.startsWith(head)) return undefined
  const parts = topic.slice(head.length).split('/')
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined
  try {
    return { prefix: decodeURIComponent(parts[0]), application: decodeURIComponent(parts[1]) }
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DM-signed records

/** The DM's signature that a peer exports `prefix` for `application`, from the scoped instance it owns. */
export interface SignedExternalOwnership {
  peerId: string
  application: string
  prefix: string
  scopedInstancePath: string
  /** The machine's generation (as in SignedOwnership): an older one than an importer has seen is refused. */
  generation: number
  /**
   * When it expires, in ms since 1970 (the DM's clock), as SignedOwnership.expiresAt: the DM renews it with the
   * application's ownership while the agent beats, and importers refuse an expired one. Absent only in records signed
   * before expiry existed: importers refuse those.
   */
  expiresAt?: number
  dmPublicKey: string
  signature: string
}

/** The DM's signature that `application` may import `prefix` from the `exporters` applications (and no other). */
export interface SignedBinding {
  application: string
  prefix: string
  /** Exporting applications, sorted; empty: bound to none. */
  exporters: string[]
  /** Grows at every change of this (application, prefix): an agent keeps the newest it was given. */
  version: number
  dmPublicKey: string
  signature: string
}

/** What an agent of the domain exchange gets from the DM with its model (MeshParameters.domain). */
export interface DomainParameters {
  /** The domain's pnet key (`/key/swarm/psk/1.0.0/` format). */
  pnetKey: string
  /** Domain multiaddrs (with /p2p/) of agents that export or import what this one imports or exports. */
  bootstrapPeers: string[]
  /** This agent's external ownership, when its application exports externally. */
  ownership?: SignedExternalOwnership
  /** The bindings of the external prefixes the application imports (one per prefix). */
  bindings: SignedBinding[]
}

export type DomainVerdict = { ok: true } | { ok: false, reason: DomainRejection, detail: string }
export type DomainRejection = 'untrusted-dm-key' | 'bad-signature' | 'wrong-peer' | 'wrong-application' | 'wrong-prefix' |
  'outside-scope' | 'superseded-generation' | 'expired' | 'no-expiry' | 'not-bound' | 'stale-binding'


function verifies (dmPublicKey: string, data: Buffer, signature: string): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(dmPublicKey, 'base64').toString('base64url') }, format: 'jwk' })
    return verify(null, data, key, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}

function canonicalExternalOwnership (o: Omit<SignedExternalOwnership, 'dmPublicKey' | 'signature'>): Buffer {
  // Version 2 signs the expiry too; version 1 (none) still verifies, and is then refused as without expiry.
  return Buffer.from(JSON.stringify(o.expiresAt !== undefined
    ? ['meshconf-external-ownership', 2, o.peerId, o.application, o.prefix, o.scopedInstancePath, o.generation, o.expiresAt]
    : ['meshconf-external-ownership', 1, o.peerId, o.application, o.prefix, o.scopedInstancePath, o.generation]))
}

function canonicalBinding (b: Omit<SignedBinding, 'dmPublicKey' | 'signature'>): Buffer {
  return Buffer.from(JSON.stringify(['meshconf-binding', 1, b.application, b.prefix, [...b.exporters].sort(), b.version]))
}

/** `claim.expiresAt` defaults to now + DEFAULT_OWNERSHIP_LIFETIME_MS, as for an application's ownership. */
export function signExternalOwnership (dmKey: DmSigningKey, claim: Omit<SignedExternalOwnership, 'dmPublicKey' | 'signature'>): SignedExternalOwnership {
  const { key, publicKey } = parseDmKey(dmKey)
  const signed = { ...claim, expiresAt: claim.expiresAt ?? Date.now() + DEFAULT_OWNERSHIP_LIFETIME_MS }
  return { ...signed, dmPublicKey: publicKey, signature: sign(null, canonicalExternalOwnership(signed), key).toString('base64') }
}

export function signBinding (dmKey: DmSigningKey, claim: Omit<SignedBinding, 'dmPublicKey' | 'signature'>): SignedBinding {
  const { key, publicKey } = parseDmKey(dmKey)
  const exporters = [...new Set(claim.exporters)].sort()
  return { ...claim, exporters, dmPublicKey: publicKey, signature: sign(null, canonicalBinding({ ...claim, exporters }), key).toString('base64') }
}

/**
 * Checks an announce's external ownership: a trusted DM's, for this sender, application, prefix and instance. The
 * expiry and the generation are judged apart (agent/mesh/ownership.ts), as for an application's ownership: this verdict
 * is cached, and time moves.
 */
export function verifyExternalOwnership (o: SignedExternalOwnership, expected: {
  senderPeerId: string, application: string, prefix: string, instancePath: string, trustedDmKeys: readonly string[]
}): DomainVerdict {
  if (!expected.trustedDmKeys.includes(o.dmPublicKey)) return { ok: false, reason: 'untrusted-dm-key', detail: `external ownership signed by DM key ${o.dmPublicKey}, which this agent does not trust` }
  if (o.peerId !== expected.senderPeerId) return { ok: false, reason: 'wrong-peer', detail: `external ownership of peer ${o.peerId} sent by peer ${expected.senderPeerId}` }
  if (o.application !== expected.application) return { ok: false, reason: 'wrong-application', detail: `external ownership for application ${o.application}, announced for ${expected.application}` }
  if (o.prefix !== expected.prefix) return { ok: false, reason: 'wrong-prefix', detail: `external ownership for prefix ${o.prefix}, announced for ${expected.prefix}` }
  if (!isWithinScope(o.scopedInstancePath, expected.instancePath)) return { ok: false, reason: 'outside-scope', detail: `${expected.instancePath} is outside the sender's scope ${o.scopedInstancePath}` }
  return verifies(o.dmPublicKey, canonicalExternalOwnership(o), o.signature)
    ? { ok: true }
    : { ok: false, reason: 'bad-signature', detail: 'the DM signature does not match the external ownership' }
}

/** Checks a binding's signature (by a trusted DM key). */
export function verifyBinding (b: SignedBinding, trustedDmKeys: readonly string[]): DomainVerdict {
  if (!trustedDmKeys.includes(b.dmPublicKey)) return { ok: false, reason: 'untrusted-dm-key', detail: `binding signed by DM key ${b.dmPublicKey}, which this agent does not trust` }
  return verifies(b.dmPublicKey, canonicalBinding(b), b.signature)
    ? { ok: true }
    : { ok: false, reason: 'bad-signature', detail: `the DM signature does not match the binding of ${b.prefix} for ${b.application}` }
}

/** The domain's pnet key: derived from the DM's signing key, so that every agent the DM signs for may join it. */
export function domainPnetKey (dmKey: DmSigningKey): string {
  return PNET_KEY_HEADER + createHmac('sha256', Buffer.from(dmKey.privateKey, 'base64')).update('meshconf-domain-pnet-1').digest('hex')
}

/** An exported variable of a started instance as the other applications see it: `Comp.var` -> `<prefix>.<alias>`. */
export function externalVariables (variables: Record<string, string | null>, externalExports: Record<string, string>,
  prefix: string): Record<string, string | null> {
  const out: Record<string, string | null> = {}
  for (const [variable, alias] of Object.entries(externalExports)) {
    if (variable in variables) out[`${prefix}.${alias}`] = variables[variable]
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/** An instance's external exports, under the application's prefix and the descriptor's aliases. */
export interface ExternalAnnounce extends Stamp {
  v: typeof MESH_MESSAGE_VERSION
  kind: 'announce'
  application: string
  prefix: string
  instancePath: string
  component: string
  variables: Record<string, string | null>
  ownership: SignedExternalOwnership
  addresses: string[]
}

export interface ExternalWithdraw extends Stamp {
  v: typeof MESH_MESSAGE_VERSION
  kind: 'withdraw'
  application: string
  prefix: string
  instancePath: string
}

/**
 * An importer asks the exporters its binding names to re-announce: it proves it is an agent of the bound application
 * (its application ownership) and that the DM bound that application (the binding).
 */
export interface ExternalRequest {
  v: typeof MESH_MESSAGE_VERSION
  kind: 'request'
  binding: SignedBinding
  ownership: SignedOwnership
  /** Where the importer listens: an exporter not connected to it dials it (a relayed re-announce may not reach it). */
  addresses: string[]
}

export type DomainMessage = ExternalAnnounce | ExternalWithdraw | ExternalRequest

export function encodeDomainMessage (message: DomainMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}

function externalOwnership (value: unknown): SignedExternalOwnership {
  const o = object(value, 'ownership')
  return {
    peerId: str(o.peerId, 'ownership.peerId'), application: str(o.application, 'ownership.application'),
    prefix: str(o.prefix, 'ownership.prefix'), scopedInstancePath: path(o.scopedInstancePath, 'ownership.scopedInstancePath'),
    generation: count(o.generation, 'ownership.generation'),
    ...(o.expiresAt !== undefined ? { expiresAt: count(o.expiresAt, 'ownership.expiresAt') } : {}),
    dmPublicKey: str(o.dmPublicKey, 'ownership.dmPublicKey'),
    signature: str(o.signature, 'ownership.signature')
  }
}

/** Validates a binding read from the wire (a domain request, or the DM's message). */
export function parseBinding (value: unknown): SignedBinding {
  const b = object(value, 'binding')
  return {
    application: str(b.application, 'binding.application'), prefix: str(b.prefix, 'binding.prefix'),
    exporters: list(b.exporters, 'binding.exporters', str),
    version: count(b.version, 'binding.version'), dmPublicKey: str(b.dmPublicKey, 'binding.dmPublicKey'),
    signature: str(b.signature, 'binding.signature')
  }
}

/**
 * Decodes and validates a message received on a domain topic: JSON, version, kind, fields, and the topic matching
 * (an announce or withdraw only on the exports topic of its own prefix and application). Throws MeshMessageError.
 */
export function decodeDomainMessage (bytes: Uint8Array, topic: string): DomainMessage {
  const m = messageObject(bytes)
  const onTopic = parseDomainExportsTopic(topic)
  switch (m.kind) {
    case 'announce':
    case 'withdraw': {
      const application = noControl(str(m.application, 'application'), 'application')
      const prefix = noControl(str(m.prefix, 'prefix'), 'prefix')
      if (onTopic?.prefix !== prefix || onTopic.application !== application) throw new MeshMessageError(`${m.kind} of ${prefix} for ${application} arrived on topic ${topic}`)
      const instancePath = path(m.instancePath, 'instancePath')
      const stamp = { epoch: count(m.epoch, 'epoch'), seq: count(m.seq, 'seq') }
      if (m.kind === 'withdraw') return { v: MESH_MESSAGE_VERSION, kind: 'withdraw', application, prefix, instancePath, ...stamp }
      const variables = announcedVariables(m.variables, prefix)
      return {
        v: MESH_MESSAGE_VERSION, kind: 'announce', application, prefix, instancePath, ...stamp, variables,
        component: noControl(str(m.component, 'component'), 'component'),
        ownership: externalOwnership(m.ownership), addresses: list(m.addresses, 'addresses', str)
      }
    }
    case 'request':
      if (topic !== domainControlTopic()) throw new MeshMessageError(`request arrived on topic ${topic}, not the domain control topic`)
      return { v: MESH_MESSAGE_VERSION, kind: 'request', binding: parseBinding(m.binding), ownership: ownership(m.ownership), addresses: list(m.addresses, 'addresses', str) }
    default:
      throw new MeshMessageError(`unknown kind ${JSON.stringify(m.kind)}: expected announce, withdraw or request`)
  }
}
