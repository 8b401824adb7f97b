// The one place a DM-signed ownership is judged (the application mesh, the domain exchange's external ownerships, and
// whatever else believes a peer on its DM's word): the signature and its claim (protocol/mesh.ts verifyOwnership,
// protocol/domain.ts verifyExternalOwnership; cached: a check costs ~0.1 ms), the expiry (every time: time moves),
// and the newest machine generation seen per scoped instance (an older one is a machine the DM has made again since:
// its old credential and key may be in someone's hands).
import { compositeKey, type CompositeKey } from '../../protocol/keys.js'
import { OWNERSHIP_CLOCK_SKEW_MS, ownershipExpiry, verifyOwnership, type OwnershipVerdict } from '../../protocol/mesh.js'
import type { SignedOwnership } from '../../protocol/messages.js'
import { BoundedMap } from './bounded.js'
import { MAX_OWNERSHIP_VERDICTS, MAX_SCOPE_GENERATIONS } from './constants.js'

export interface OwnershipVerifierOptions {
  application: string
  /** base64 public keys of the DMs whose signatures are believed. */
  trustedDmKeys: readonly string[]
  /** ms clock; default Date.now. */
  now?: () => number
  /** How far this clock may lag the DM's, in ms; default OWNERSHIP_CLOCK_SKEW_MS (120 000). */
  clockSkewMs?: number
  /** Cached signature verdicts, in entries; default MAX_OWNERSHIP_VERDICTS (LRU: forged signatures are endless). */
  maxVerdicts?: number
  /** Scoped instances whose newest generation is remembered, in entries; default MAX_SCOPE_GENERATIONS (LRU). */
  maxScopes?: number
}

/** Sender, instance, and every field of the ownership (the signature's verdict covers them all). */
type VerdictKey = CompositeKey<string[]>

/** What every DM-signed ownership carries, whatever else it claims. */
export interface DmSignedClaim {
  scopedInstancePath: string
  generation?: number
  expiresAt?: number
  dmPublicKey: string
  signature: string
}

/** A verdict of a signature check: OwnershipVerdict, or the domain's (protocol/domain.ts DomainVerdict). */
type Verdict = { ok: true } | { ok: false, reason: string, detail: string }

export class OwnershipVerifier {
  private readonly verdicts: BoundedMap<VerdictKey, Verdict>
  private readonly generations: BoundedMap<string, number>
  private readonly now: () => number

  constructor (private readonly options: OwnershipVerifierOptions) {
    this.verdicts = new BoundedMap(options.maxVerdicts ?? MAX_OWNERSHIP_VERDICTS)
    this.generations = new BoundedMap(options.maxScopes ?? MAX_SCOPE_GENERATIONS)
    this.now = options.now ?? Date.now
  }

  /** Cached signature verdicts (bounded). */
  get cachedVerdicts (): number {
    return this.verdicts.size
  }

  /**
   * The verdict on `ownership` shown by peer `from` for a message about `instancePath`: signed by a trusted DM for
   * that peer, application and a scope holding the instance; not expired; not of a superseded generation. A valid one
   * of a newer generation supersedes the older ones of its scope from now on.
   */
  check (from: string, ownership: SignedOwnership, instancePath: string): OwnershipVerdict {
    const claim = [from, instancePath, ownership.peerId, ownership.application]
    return this.judge(claim, ownership.scopedInstancePath, ownership, () => verifyOwnership(ownership, {
      senderPeerId: from, application: this.options.application, instancePath, trustedDmKeys: this.options.trustedDmKeys
    }))
  }

  /**
   * The verdict on any DM-signed ownership: `verifySignature` (run once per distinct `claim` and record: `claim` lists
   * whatever the check depends on besides the record's common fields), then the expiry and the generation, whose
   * newest is kept per `scope` (a scoped instance's path, or that path with its application where several
   * applications' ownerships are judged).
   */
  judge<V extends Verdict> (claim: string[], scope: string, record: DmSignedClaim, verifySignature: () => V): V | OwnershipVerdict {
    const key = compositeKey(...claim, record.signature, record.dmPublicKey, record.scopedInstancePath, String(record.generation ?? ''),
      String(record.expiresAt ?? ''))
    let verdict = this.verdicts.get(key) as V | undefined
    if (verdict === undefined) {
      verdict = verifySignature()
      this.verdicts.set(key, verdict)
    }
    if (!verdict.ok) return verdict
    const expiry = ownershipExpiry(record, this.now(), this.options.clockSkewMs ?? OWNERSHIP_CLOCK_SKEW_MS)
    if (!expiry.ok) return expiry
    const generation = record.generation ?? 0
    const newest = this.generations.get(scope) ?? 0
    if (generation < newest) {
      return { ok: false, reason: 'superseded-generation', detail: `ownership of ${record.scopedInstancePath} of generation ${generation}, superseded by generation ${newest}` }
    }
    if (generation > newest) this.generations.set(scope, generation)
    return verdict
  }
}
