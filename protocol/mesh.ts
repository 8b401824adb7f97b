// The mesh's wire protocol (issue 4): topic names, the versioned messages agents exchange on gossipsub, their
// validation on receipt, the application's private-network key, and the DM's signature of instance ownership.
// Pure code: no sockets, no files. Roboconf's semantics (reference §4.2–4.3): announce per prefix, withdraw,
// request; plus an epoch and sequence number per owner so a stale or reordered message never wins, and a digest
// (anti-entropy) that lets importers repair what they missed.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import type { SignedOwnership } from './messages.js'
import { errorMessage } from './errors.js'

export const MESH_MESSAGE_VERSION = 1
type MeshVersion = typeof MESH_MESSAGE_VERSION

/** Largest message accepted on a mesh topic, in bytes (a prefix's exports are a handful of short strings). */
export const MAX_MESH_MESSAGE_BYTES = 64 * 1024
/** Longest prefix, instance path, variable name or value accepted, in characters. */
export const MAX_MESH_STRING_LENGTH = 4096
/** Most variables in one announcement, prefixes in one request or digest, or instances per digest prefix. */
export const MAX_MESH_ENTRIES = 1024

// ---------------------------------------------------------------------------------------------------------------
// Topics

/** Announcements and withdrawals of one prefix's exports: importers of that prefix subscribe. */
export function exportsTopic (application: string, prefix: string): string {
  return `/meshconf/${MESH_MESSAGE_VERSION}/${encodeURIComponent(application)}/exports/${encodeURIComponent(prefix)}`
}

/** Requests and digests of an application: every agent of the application subscribes. */
export function controlTopic (application: string): string {
  return `/meshconf/${MESH_MESSAGE_VERSION}/${encodeURIComponent(application)}/control`
}

/** The prefix of an exports topic of `application`, or undefined for any other topic. */
export function prefixOfExportsTopic (application: string, topic: string): string | undefined {
  const head = exportsTopic(application, '')
  if (!topic.startsWith(head) || topic.length === head.length) return undefined
  try {
    return decodeURIComponent(topic.slice(head.length))
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/** An owner's position in its own history: `epoch` grows at every restart, `seq` at every message it sends. */
export interface Stamp { epoch: number, seq: number }

/** The exports of one started instance for one prefix (Roboconf's MsgCmdAddImport). */
export interface AnnounceMessage extends Stamp {
  v: MeshVersion
  kind: 'announce'
  application: string
  instancePath: string
  component: string
  prefix: string
  /** Every `prefix.*` variable of the instance -> value. */
  variables: Record<string, string | null>
  /** The DM's signature that the sender owns the scoped instance holding `instancePath`. */
  ownership: SignedOwnership
  /** Where importers can dial the owner (multiaddrs with /p2p/), to watch its liveness directly. */
  addresses: string[]
}

/** The exports of one instance for one prefix are gone (MsgCmdRemoveImport). */
export interface WithdrawMessage extends Stamp {
  v: MeshVersion
  kind: 'withdraw'
  application: string
  instancePath: string
  prefix: string
}

/**
 * Owners of these prefixes re-announce (MsgCmdRequestImport); when `targets` is set, only the peers it lists answer
 * (the peers that just joined an importer: one message for all of them, not one per peer).
 */
export interface RequestMessage {
  v: MeshVersion
  kind: 'request'
  application: string
  prefixes: string[]
  targets?: string[]
  /** The DM's signature that the sender owns its scoped instance: owners answer, dial and remember no one without it. */
  ownership: SignedOwnership
}

/** What an owner currently announces, sent periodically so importers repair missed messages (anti-entropy). */
export interface DigestMessage extends Stamp {
  v: MeshVersion
  kind: 'digest'
  application: string
  /** prefix -> the seq of the owner's last message for that prefix and the instances it currently announces. */
  prefixes: Record<string, { seq: number, instances: string[] }>
  addresses: string[]
  /** The DM's signature that the sender owns its scoped instance: an importer dials no peer without it. */
  ownership: SignedOwnership
}

export type MeshMessage = AnnounceMessage | WithdrawMessage | RequestMessage | DigestMessage

/** True when stamp `a` is strictly newer than stamp `b` (epoch first, then seq). */
export function isNewer (a: Stamp, b: Stamp): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq)
}

/** A message received on a mesh topic failed validation. */
export class MeshMessageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'MeshMessageError'
  }
}

/**
 * An exported value holds a control character (a newline, a NUL, an escape...): values are data for recipes, and
 * such a character in one is an attempt to break out of a shell line, a configuration file or a process's
 * environment (a NUL cannot even be passed to one).
 */
export class ControlCharacterError extends MeshMessageError {
  constructor (what: string, codePoint: number) {
    super(`${what} holds the control character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}: ` +
      'exported values are data and may not hold control characters; fix the value at its owner')
    this.name = 'ControlCharacterError'
  }
}

/** C0 controls, DEL and C1 controls. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/

/** Throws ControlCharacterError when `value` holds a control character. */
export function checkNoControlCharacter (value: string, what: string): void {
  const found = CONTROL_CHARACTER.exec(value)
  if (found !== null) throw new ControlCharacterError(what, found[0].codePointAt(0) ?? 0)
}

export function encodeMeshMessage (message: MeshMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes and validates a message received on `topic` of `application`: JSON, known version and kind, every
 * field of the right type and size, and the topic matching the kind (and the prefix, for exports topics).
 * Throws MeshMessageError saying what is wrong.
 */
export function decodeMeshMessage (bytes: Uint8Array, application: string, topic: string): MeshMessage {
  const m = messageObject(bytes)
  if (m.application !== application) {
    throw new MeshMessageError(`application ${JSON.stringify(m.application)} is not ${JSON.stringify(application)}`)
  }
  const topicPrefix = prefixOfExportsTopic(application, topic)
  const onControl = topic === controlTopic(application)
  if (topicPrefix === undefined && !onControl) throw new MeshMessageError(`topic ${topic} is not a mesh topic of ${application}`)
  switch (m.kind) {
    case 'announce':
    case 'withdraw': {
      const prefix = str(m.prefix, 'prefix')
      if (topicPrefix !== prefix) throw new MeshMessageError(`${m.kind} of prefix ${prefix} arrived on topic ${topic}`)
      const instancePath = path(m.instancePath, 'instancePath')
      const stamp = { epoch: count(m.epoch, 'epoch'), seq: count(m.seq, 'seq') }
      if (m.kind === 'withdraw') return { v: MESH_MESSAGE_VERSION, kind: 'withdraw', application, instancePath, prefix, ...stamp }
      const variables = announcedVariables(m.variables, prefix)
      return {
        v: MESH_MESSAGE_VERSION, kind: 'announce', application, instancePath, prefix, ...stamp, variables,
        component: noControl(str(m.component, 'component'), 'component'),
        ownership: ownership(m.ownership),
        addresses: list(m.addresses, 'addresses', str)
      }
    }
    case 'request': {
      if (!onControl) throw new MeshMessageError(`request arrived on topic ${topic}, not the control topic`)
      const prefixes = list(m.prefixes, 'prefixes', str)
      const signed = ownership(m.ownership)
      return m.targets === undefined
        ? { v: MESH_MESSAGE_VERSION, kind: 'request', application, prefixes, ownership: signed }
        : { v: MESH_MESSAGE_VERSION, kind: 'request', application, prefixes, targets: list(m.targets, 'targets', str), ownership: signed }
    }
    case 'digest': {
      if (!onControl) throw new MeshMessageError(`digest arrived on topic ${topic}, not the control topic`)
      const prefixes = record(m.prefixes, 'prefixes', (value, prefix) => {
        const entry = object(value, `prefixes.${prefix}`)
        return { seq: count(entry.seq, `prefixes.${prefix}.seq`), instances: list(entry.instances, `prefixes.${prefix}.instances`, path) }
      })
      return {
        v: MESH_MESSAGE_VERSION, kind: 'digest', application, epoch: count(m.epoch, 'epoch'), seq: count(m.seq, 'seq'), prefixes,
        addresses: list(m.addresses, 'addresses', str), ownership: ownership(m.ownership)
      }
    }
    default:
      throw new MeshMessageError(`unknown kind ${JSON.stringify(m.kind)}: expected announce, withdraw, request or digest`)
  }
}

/** A mesh message's JSON object, of at most MAX_MESH_MESSAGE_BYTES and of this build's version. */
function messageObject (bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength > MAX_MESH_MESSAGE_BYTES) {
    throw new MeshMessageError(`message of ${bytes.byteLength} bytes exceeds ${MAX_MESH_MESSAGE_BYTES} bytes`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch (err) {
    throw new MeshMessageError(`not UTF-8 JSON: ${errorMessage(err)}`)
  }
  const m = object(raw, 'message')
  if (m.v !== MESH_MESSAGE_VERSION) {
    throw new MeshMessageError(`unknown version ${JSON.stringify(m.v)}: this agent speaks version ${MESH_MESSAGE_VERSION}`)
  }
  return m
}

/** An announce's variables: each of `prefix`, with no control character in its name or value. */
function announcedVariables (value: unknown, prefix: string): Record<string, string | null> {
  return record(value, 'variables', (entry, name) => {
    if (!name.startsWith(`${prefix}.`)) throw new MeshMessageError(`variable ${name} does not belong to prefix ${prefix}`)
    checkNoControlCharacter(name, `variable name ${JSON.stringify(name)}`)
    if (entry === null) return null
    checkNoControlCharacter(str(entry, `variables.${name}`), `variables.${name}`)
    return entry as string
  })
}

function object (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MeshMessageError(`${what} is not an object`)
  return value as Record<string, unknown>
}

function str (value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_MESH_STRING_LENGTH) {
    throw new MeshMessageError(`${what} is not a string of 1 to ${MAX_MESH_STRING_LENGTH} characters`)
  }
  return value
}

function noControl (value: string, what: string): string {
  checkNoControlCharacter(value, what)
  return value
}

function path (value: unknown, what: string): string {
  const p = str(value, what)
  checkNoControlCharacter(p, what)
  if (!p.startsWith('/') || p.endsWith('/') || p.includes('//')) throw new MeshMessageError(`${what} ${JSON.stringify(p)} is not an instance path like /VM 1/Tomcat`)
  return p
}

function count (value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new MeshMessageError(`${what} is not a non-negative integer`)
  return value as number
}

function list<T> (value: unknown, what: string, item: (v: unknown, what: string) => T): T[] {
  if (!Array.isArray(value) || value.length > MAX_MESH_ENTRIES) throw new MeshMessageError(`${what} is not a list of at most ${MAX_MESH_ENTRIES} entries`)
  return value.map((v, i) => item(v, `${what}[${i}]`))
}

function record<T> (value: unknown, what: string, entry: (v: unknown, key: string) => T): Record<string, T> {
  const o = object(value, what)
  const keys = Object.keys(o)
  if (keys.length > MAX_MESH_ENTRIES) throw new MeshMessageError(`${what} has more than ${MAX_MESH_ENTRIES} entries`)
  const out: Record<string, T> = Object.create(null)
  for (const key of keys) {
    if (key.length === 0 || key.length > MAX_MESH_STRING_LENGTH) throw new MeshMessageError(`${what} has a key of ${key.length} characters`)
    out[key] = entry(o[key], key)
  }
  return { ...out }
}

function ownership (value: unknown): SignedOwnership {
  const o = object(value, 'ownership')
  return {
    peerId: str(o.peerId, 'ownership.peerId'),
    application: str(o.application, 'ownership.application'),
    scopedInstancePath: path(o.scopedInstancePath, 'ownership.scopedInstancePath'),
    dmPublicKey: str(o.dmPublicKey, 'ownership.dmPublicKey'),
    ...(o.generation !== undefined ? { generation: count(o.generation, 'ownership.generation') } : {}),
    ...(o.expiresAt !== undefined ? { expiresAt: count(o.expiresAt, 'ownership.expiresAt') } : {}),
    signature: str(o.signature, 'ownership.signature')
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Private network key (libp2p pnet)

export const PNET_KEY_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

/** A fresh private-network key for one application, in libp2p's `/key/swarm/psk/1.0.0/` text format. */
export function generatePnetKey (): string {
  return PNET_KEY_HEADER + randomBytes(32).toString('hex')
}

/** The pnet key is not in libp2p's `/key/swarm/psk/1.0.0/` base16 format. */
export class InvalidPnetKeyError extends Error {
  constructor () {
    super('the mesh pnet key is not a /key/swarm/psk/1.0.0/ base16 key of 64 hex digits: ask the DM for the application model again (it creates the key with generatePnetKey())')
    this.name = 'InvalidPnetKeyError'
  }
}

/** The key as the bytes libp2p's preSharedKey() takes; throws InvalidPnetKeyError when malformed. */
export function pnetKeyBytes (key: string): Uint8Array {
  const normalized = key.replace(/\r\n?/g, '\n').trim()
  if (!normalized.startsWith(PNET_KEY_HEADER) || !/^[0-9a-fA-F]{64}$/.test(normalized.slice(PNET_KEY_HEADER.length))) {
    throw new InvalidPnetKeyError()
  }
  return new TextEncoder().encode(normalized)
}

// ---------------------------------------------------------------------------------------------------------------
// Ownership signatures

/** The DM's Ed25519 signing key, serializable as JSON (base64 DER PKCS#8 private key, base64 raw public key). */
export interface DmSigningKey {
  privateKey: string
  publicKey: string
}

export function createDmSigningKey (): DmSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKey: rawPublicKey(publicKey.export({ format: 'jwk' }).x)
  }
}

function rawPublicKey (jwkX: string | undefined): string {
  return Buffer.from(jwkX ?? '', 'base64url').toString('base64')
}

/** A DM key parsed: its private KeyObject and the raw public key derived from it. */
export interface ParsedDmKey {
  key: KeyObject
  publicKey: string
}

/**
 * Parsed DM keys, by key object: parsing the DER key takes longer than the Ed25519 signature itself, and the DM signs
 * every command and ownership with the same key. Weak: a key object dropped takes its entry along.
 */
const parsedDmKeys = new WeakMap<DmSigningKey, ParsedDmKey & { privateKeyText: string }>()

/** The DM key's private KeyObject and raw public key (derived from the private key), parsed once per key object. */
export function parseDmKey (dmKey: DmSigningKey): ParsedDmKey {
  const known = parsedDmKeys.get(dmKey)
  if (known !== undefined && known.privateKeyText === dmKey.privateKey) return known
  const key = createPrivateKey({ key: Buffer.from(dmKey.privateKey, 'base64'), format: 'der', type: 'pkcs8' })
  const parsed = { key, publicKey: rawPublicKey(createPublicKey(key).export({ format: 'jwk' }).x), privateKeyText: dmKey.privateKey }
  parsedDmKeys.set(dmKey, parsed)
  return parsed
}

/**
 * How long an ownership the DM signs stays valid, in ms (6 h): the DM renews it once a quarter of it has passed
 * (OWNERSHIP_RENEW_AFTER_FRACTION) while the agent beats, so a mesh keeps working through a DM outage of 4.5 h at
 * least, and the ownership of a machine gone (or stolen from it) is believed for 6 h at most. `dm start
 * --ownership-lifetime` changes it.
 */
export const DEFAULT_OWNERSHIP_LIFETIME_MS = 6 * 3_600_000
/** Share of an ownership's lifetime after which the DM renews it at the agent's next beat. */
export const OWNERSHIP_RENEW_AFTER_FRACTION = 0.25
/**
 * How far an importer's clock may be behind the DM's, in ms (2 min): an ownership is refused only once this long
 * past its expiry by the importer's clock.
 */
export const OWNERSHIP_CLOCK_SKEW_MS = 120_000

export interface OwnershipClaim {
  peerId: string
  application: string
  scopedInstancePath: string
  /** The machine's generation (see SignedOwnership.generation); absent: an ownership of before generations. */
  generation?: number
  /** When the ownership expires, in ms since the epoch; default now + DEFAULT_OWNERSHIP_LIFETIME_MS. */
  expiresAt?: number
}

function canonicalOwnership (claim: OwnershipClaim): Buffer {
  // Version 3 signs the expiry too; version 2 (generation, no expiry) and 1 (neither) still verify, and are then
  // refused as without expiry (ownershipExpiry).
  return Buffer.from(JSON.stringify(claim.expiresAt !== undefined
    ? ['meshconf-ownership', 3, claim.peerId, claim.application, claim.scopedInstancePath, claim.generation ?? 0, claim.expiresAt]
    : claim.generation === undefined
      ? ['meshconf-ownership', 1, claim.peerId, claim.application, claim.scopedInstancePath]
      : ['meshconf-ownership', 2, claim.peerId, claim.application, claim.scopedInstancePath, claim.generation]))
}

/** The DM signs that `peerId` owns `scopedInstancePath` of `application`, until `expiresAt`. */
export function signOwnership (dmKey: DmSigningKey, claim: OwnershipClaim): SignedOwnership {
  const { key, publicKey } = parseDmKey(dmKey)
  const signed: OwnershipClaim = { ...claim, expiresAt: claim.expiresAt ?? Date.now() + DEFAULT_OWNERSHIP_LIFETIME_MS }
  return {
    peerId: claim.peerId,
    application: claim.application,
    scopedInstancePath: claim.scopedInstancePath,
    ...(claim.generation !== undefined ? { generation: claim.generation } : {}),
    expiresAt: signed.expiresAt,
    dmPublicKey: publicKey,
    signature: sign(null, canonicalOwnership(signed), key).toString('base64')
  }
}

function canonicalDmCommand (application: string, scopedInstancePath: string, seq: number, body: unknown): Buffer {
  return Buffer.from(JSON.stringify(['meshconf-dm-command', 1, application, scopedInstancePath, seq, body]))
}

/** The DM signs command `seq` to the agent of `scopedInstancePath`: a command changed on the way no longer verifies. */
export function signDmCommand (dmKey: DmSigningKey, application: string, scopedInstancePath: string, seq: number, body: unknown): string {
  return signDmCommandJson(dmKey, application, scopedInstancePath, seq, JSON.stringify(body))
}

/**
 * signDmCommand of a body already serialized (`bodyJson`, JSON.stringify of it): the same bytes are signed, and the
 * sender serializes a large body (a model) once for the signature and the frame.
 */
export function signDmCommandJson (dmKey: DmSigningKey, application: string, scopedInstancePath: string, seq: number, bodyJson: string): string {
  const { key } = parseDmKey(dmKey)
  // what canonicalDmCommand makes, the body's text spliced in
  const canonical = `["meshconf-dm-command",1,${JSON.stringify(application)},${JSON.stringify(scopedInstancePath)},${JSON.stringify(seq)},${bodyJson}]`
  return sign(null, Buffer.from(canonical), key).toString('base64')
}

/** Whether `signature` is the DM's (raw base64 public key `dmPublicKey`) over that command to that agent. */
export function verifyDmCommand (dmPublicKey: string, application: string, scopedInstancePath: string, seq: number, body: unknown,
  signature: string | undefined): boolean {
  if (signature === undefined) return false
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(dmPublicKey, 'base64').toString('base64url') }, format: 'jwk' })
    return verify(null, canonicalDmCommand(application, scopedInstancePath, seq, body), publicKey, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}

export type OwnershipVerdict = { ok: true } | { ok: false, reason: OwnershipRejection, detail: string }
export type OwnershipRejection = 'untrusted-dm-key' | 'bad-signature' | 'wrong-peer' | 'wrong-application' | 'outside-scope' |
  'superseded-generation' | 'expired' | 'no-expiry'

/**
 * Whether the ownership is still valid at `now` (ms, the checker's clock): refused when it carries no expiry (signed
 * before expiry existed) or is more than `clockSkewMs` past it. Not cached with the signature's verdict: time moves.
 */
export function ownershipExpiry (ownership: Pick<SignedOwnership, 'scopedInstancePath' | 'expiresAt'>, now: number, clockSkewMs = OWNERSHIP_CLOCK_SKEW_MS): OwnershipVerdict {
  if (ownership.expiresAt === undefined) {
    return { ok: false, reason: 'no-expiry', detail: `ownership of ${ownership.scopedInstancePath} has no expiry: its DM must sign it again (an agent gets a new one at its next beat)` }
  }
  if (now > ownership.expiresAt + clockSkewMs) {
    return { ok: false, reason: 'expired', detail: `ownership of ${ownership.scopedInstancePath} expired at ${new Date(ownership.expiresAt).toISOString()} (not renewed by its DM since)` }
  }
  return { ok: true }
}

/** True when `instancePath` is the scoped instance itself or one of its descendants. */
export function isWithinScope (scopedInstancePath: string, instancePath: string): boolean {
  return instancePath === scopedInstancePath || instancePath.startsWith(`${scopedInstancePath}/`)
}

/**
 * Checks that an announcement of `instancePath` from `senderPeerId` is backed by `ownership`: signed by a trusted
 * DM key, for this sender, this application, and a scope that holds the instance.
 */
export function verifyOwnership (ownership: SignedOwnership, expected: {
  senderPeerId: string, application: string, instancePath: string, trustedDmKeys: readonly string[]
}): OwnershipVerdict {
  if (!expected.trustedDmKeys.includes(ownership.dmPublicKey)) {
    return { ok: false, reason: 'untrusted-dm-key', detail: `signed by DM key ${ownership.dmPublicKey}, which this application does not trust` }
  }
  if (ownership.peerId !== expected.senderPeerId) {
    return { ok: false, reason: 'wrong-peer', detail: `ownership of peer ${ownership.peerId} sent by peer ${expected.senderPeerId}` }
  }
  if (ownership.application !== expected.application) {
    return { ok: false, reason: 'wrong-application', detail: `ownership for application ${ownership.application}` }
  }
  if (!isWithinScope(ownership.scopedInstancePath, expected.instancePath)) {
    return { ok: false, reason: 'outside-scope', detail: `${expected.instancePath} is outside the sender's scope ${ownership.scopedInstancePath}` }
  }
  let valid = false
  try {
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(ownership.dmPublicKey, 'base64').toString('base64url') }, format: 'jwk'
    })
    valid = verify(null, canonicalOwnership(ownership), publicKey, Buffer.from(ownership.signature, 'base64'))
  } catch {
    valid = false
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad-signature', detail: 'the DM signature does not match the ownership claim' }
}

/** The field checks of mesh messages, for the domain exchange's messages (protocol/domain.ts) to validate alike. */
export const meshFieldChecks = { messageObject, announcedVariables, object, str, noControl, path, count, list, record, ownership } as const
