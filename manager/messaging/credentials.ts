// Per-machine credentials of the embedded endpoint: each machine's agent gets its own secret, bound to (application,
// scoped instance path, generation), and the DM keeps only its hash. A new machine for the same path (redeploy) is a
// new generation: the previous credential stops working; undeploying a machine revokes its credential. A hello is
// accepted only with the credential of the path it names (or the DM token): an agent of one machine can no longer
// say hello as another, and no agent can for a path that has no machine.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { signAgentMessage } from '../../protocol/broker-names.js'

/** What the DM keeps of a machine's credential: its generation, and the hash of the secret ('' once revoked). */
export interface MachineCredentialRecord {
  generation: number
  hash: string
}

/** Where credential records live (the DM's store: they survive a DM restart; in memory for tests). */
export interface MachineCredentialStore {
  getCredential (application: string, scopedInstancePath: string): MachineCredentialRecord | undefined
  putCredential (application: string, scopedInstancePath: string, record: MachineCredentialRecord): void
}

/** Credential records in memory (an embedded messaging without a store: tests). */
export function memoryCredentialStore (): MachineCredentialStore {
  const records = new Map<string, MachineCredentialRecord>()
  return {
    getCredential: (application, path) => records.get(`${application}\u0000${path}`),
    putCredential: (application, path, record) => { records.set(`${application}\u0000${path}`, record) }
  }
}

/** Random bytes in a credential's secret. */
const CREDENTIAL_SECRET_BYTES = 32

function hashOf (application: string, scopedInstancePath: string, generation: number, secret: string): string {
  return createHash('sha256').update(JSON.stringify(['meshconf machine credential', 1, application, scopedInstancePath, generation, secret]))
    .digest('base64url')
}

/** A fresh credential (`m<generation>.<secret>`) for the machine of `scopedInstancePath`; the previous one stops working. */
export function issueCredential (store: MachineCredentialStore, application: string, scopedInstancePath: string): string {
  const generation = (store.getCredential(application, scopedInstancePath)?.generation ?? 0) + 1
  const secret = randomBytes(CREDENTIAL_SECRET_BYTES).toString('base64url')
  store.putCredential(application, scopedInstancePath, { generation, hash: hashOf(application, scopedInstancePath, generation, secret) })
  return `m${generation}.${secret}`
}

/** Revokes the machine's credential (its generation is kept: the next one is newer). */
export function revokeCredential (store: MachineCredentialStore, application: string, scopedInstancePath: string): void {
  const record = store.getCredential(application, scopedInstancePath)
  if (record !== undefined && record.hash !== '') store.putCredential(application, scopedInstancePath, { generation: record.generation, hash: '' })
}

/**
 * Why a hello's credential is refused: `no-machine` (no machine holds that path now: never deployed, undeployed, or
 * revoked), `superseded` (a credential of an older generation: the machine was made again), `bad-credential`
 * (another machine's credential, or made up).
 */
export type CredentialRefusal = 'no-machine' | 'superseded' | 'bad-credential'

/** The credential's generation when it is the current one of the path, else why not. */
export function checkCredential (store: MachineCredentialStore, application: string, scopedInstancePath: string,
  credential: string): { ok: true, generation: number } | { ok: false, reason: CredentialRefusal } {
  const record = store.getCredential(application, scopedInstancePath)
  if (record === undefined || record.hash === '') return { ok: false, reason: 'no-machine' }
  const match = /^m(\d{1,15})\.([A-Za-z0-9_-]{1,128})$/.exec(credential)
  if (match === null) return { ok: false, reason: 'bad-credential' }
  const generation = Number(match[1])
  const expected = Buffer.from(record.hash)
  const actual = Buffer.from(hashOf(application, scopedInstancePath, generation, match[2]))
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return { ok: false, reason: generation < record.generation ? 'superseded' : 'bad-credential' }
  }
  return { ok: true, generation }
}

/**
 * The key a machine signs its messages to the DM with when the broker gives it no user of its own (RabbitMQ without
 * the management API): derived from the DM's secret and the machine's (application, path, generation), so the DM
 * keeps nothing more than the generation; a machine made again gets another key, a revoked one is refused by its
 * record. base64url.
 */
export function machineMessageKey (dmSecret: string, application: string, scopedInstancePath: string, generation: number): string {
  return createHmac('sha256', dmSecret).update(JSON.stringify(['meshconf machine message key', 1, application, scopedInstancePath, generation]))
    .digest('base64url')
}

/** Issues a new generation for the machine (its previous one stops working) and returns its message key. */
export function issueMessageKey (store: MachineCredentialStore, dmSecret: string, application: string, scopedInstancePath: string): { generation: number, key: string } {
  issueCredential(store, application, scopedInstancePath)
  const generation = store.getCredential(application, scopedInstancePath)?.generation ?? 1
  return { generation, key: machineMessageKey(dmSecret, application, scopedInstancePath, generation) }
}

/** Why a signed message is refused, or undefined when the machine's current key signed `content`. */
export function checkMessageSignature (store: MachineCredentialStore, dmSecret: string, application: string, scopedInstancePath: string,
  generation: number, content: Uint8Array, signature: string): CredentialRefusal | undefined {
  const record = store.getCredential(application, scopedInstancePath)
  if (record === undefined || record.hash === '') return 'no-machine'
  if (generation !== record.generation) return generation < record.generation ? 'superseded' : 'bad-credential'
  const expected = Buffer.from(signAgentMessage(machineMessageKey(dmSecret, application, scopedInstancePath, generation), content))
  const actual = Buffer.from(signature)
  return actual.length === expected.length && timingSafeEqual(actual, expected) ? undefined : 'bad-credential'
}
