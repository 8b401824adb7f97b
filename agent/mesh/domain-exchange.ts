// The agent's side of the domain exchange (issue 21, protocol/domain.ts): external exports and `external` imports
// between applications, peer to peer, on a libp2p node of its own in the domain's private network, beside the
// application's mesh (service.ts), which never sees them. An exporter publishes the descriptor's aliases of its
// started instances on the topic of its (prefix, application); an importer subscribes only to the topics of the
// applications its DM-signed binding names, accepts an announce only with the exporter's DM-signed external ownership,
// and drops what an unbinding, a withdraw, or a lost owner (the same liveness and graces as the mesh) takes away.
// `withDomainExchange` (domain.ts) starts it on its own libp2p node and puts it behind the application's mesh handle.
import type { ImportListener } from '../ports.js'
import type { MeshParameters, ScopedModel, SignedOwnership } from '../../protocol/messages.js'
import {
  decodeDomainMessage, domainControlTopic, domainExportsTopic, encodeDomainMessage, externalVariables, verifyBinding, verifyExternalOwnership,
  type DomainMessage, type DomainParameters, type DomainRejection, type DomainVerdict, type ExternalAnnounce, type ExternalRequest, type ExternalWithdraw,
  type SignedBinding, type SignedExternalOwnership
} from '../../protocol/domain.js'
import { ControlCharacterError, MESH_MESSAGE_VERSION, isNewer, ownershipExpiry, verifyOwnership, type OwnershipRejection, type OwnershipVerdict, type Stamp } from '../../protocol/mesh.js'
import { compositeKey, type CompositeKey } from '../../protocol/keys.js'
import { errorMessage } from '../../protocol/errors.js'
import { BoundedMap } from './bounded.js'
import { PeerExchange, type PeerExchangeOptions } from './exchange.js'
import type { Logger } from '../../common/log.js'
import { trace } from '../../common/trace.js'
import { backoffMs } from '../../common/backoff.js'
import { Throttle } from './service.js'
import { ANTI_ENTROPY_MAX_INTERVAL_MS, MAX_ADDED_PEERS, MAX_EXPORT_STAMPS, MAX_HELD_EXPORTS_PER_OWNER, REQUEST_MIN_INTERVAL_MS } from './constants.js'

/**
 * Why a domain message or a binding was refused: the checks of protocol/domain.ts, an application ownership's
 * (a request's), `malformed`, `control-character`, `from-self`, `not-owner` (a withdraw of another peer's export),
 * `owner-limit`.
 */
export type DomainRejectionReason = DomainRejection | OwnershipRejection | 'malformed' | 'control-character' | 'from-self' | 'not-owner' | 'owner-limit'

/** An external import as this agent holds it. */
export interface HeldExternalView {
  prefix: string
  application: string
  instancePath: string
  component: string
  peerId: string
  since: number
  variables: Record<string, string | null>
}

/** The domain exchange's part of an agent's view. */
export interface DomainView {
  peerId: string
  addresses: string[]
  connectedPeers: string[]
  /** External prefixes the instances import. */
  interests: string[]
  bindings: Array<{ prefix: string, exporters: string[], version: number }>
  /** What this agent exports to the other applications: prefix, instance, aliased variables. */
  announced: Array<{ prefix: string, instancePath: string, variables: Record<string, string | null> }>
  held: HeldExternalView[]
  /** When this agent's external ownership expires (ms since 1970, the DM's clock), when it exports externally. */
  ownershipExpiresAt?: number
  suspects: string[]
  rejections: Partial<Record<DomainRejectionReason, number>>
}

interface Held {
  owner: string
  application: string
  instancePath: string
  component: string
  variables: Record<string, string | null>
  stamp: Stamp
  since: number
}

/** An external export held: its exporting application and instance. */
type HeldKey = CompositeKey<[application: string, instancePath: string]>

export interface DomainExchangeComponents {
  model: ScopedModel
  /** The application's mesh parameters: its ownership (requests prove who asks) and the trusted DM keys. */
  parameters: MeshParameters
  domain: DomainParameters
  listener: ImportListener
  log?: Logger
  now?: () => number
}

/** The epoch and graces, as the application mesh's (exchange.ts). */
export type DomainExchangeOptions = PeerExchangeOptions

export class DomainExchange extends PeerExchange<DomainRejectionReason> {
  private ownership: SignedOwnership
  private interests = new Set<string>()
  /** The newest verified binding per external prefix. */
  private readonly bindings = new Map<string, SignedBinding>()
  private readonly subscribed = new Set<string>()
  /** What we export: instance path -> its aliased variables (under our external prefix). */
  private readonly local = new Map<string, { component: string, variables: Record<string, string | null> }>()
  /** prefix -> (application, instance) -> what we hold. */
  private readonly held = new Map<string, Map<HeldKey, Held>>()
  private readonly keyStamps = new BoundedMap<string, Stamp>(MAX_EXPORT_STAMPS)
  /** This agent's external ownership (when its application exports externally), renewed by the DM with its ownership. */
  private externalOwnership: SignedExternalOwnership | undefined
  private readonly restoreTimers = new Set<NodeJS.Timeout>()
  /** Restored imports not re-announced yet: prefix -> instance paths. */
  private readonly restored = new Map<string, Set<string>>()
  private readonly pendingRequests = new Set<string>()
  private readonly requests = new Throttle(() => this.sendRequests())
  /** The next request for the bound imported prefixes (scheduleRequestRetry), and how many went since the last start over. */
  private retryTimer: NodeJS.Timeout | undefined
  private requestRetries = 0
  /**
   * Answers to requests (and a renewed ownership's re-announces): our announces, and the withdraws of this epoch, again.
   * Straight to the connected importers only, unless some requester was not connected (or every importer refused us):
   * then gossiped too.
   */
  private readonly reannounces = new Throttle(() => this.answerRequests())
  private answerByGossip = false
  /**
   * Instances withdrawn in this epoch, with their withdraw's stamp. A withdraw goes direct only (gossip would cost every
   * importer a signature check and relays at each stop); an importer that missed it hears it again in our answer to
   * its next request (importers keep asking on a backoff: scheduleRequestRetry).
   */
  private readonly withdrawn = new BoundedMap<string, Stamp>(MAX_EXPORT_STAMPS)
  /** Instances announced at least once in this epoch: later announces go direct only. */
  private readonly announcedOnce = new Set<string>()

  constructor (private readonly components: DomainExchangeComponents, options: DomainExchangeOptions = {}) {
    // the ownership verifier judges the external ownerships of announces and the application ownerships of requests
    super({
      application: components.model.application, control: domainControlTopic(), parameters: components.parameters,
      what: 'domain message', log: components.log, now: components.now
    }, options)
    this.ownership = components.parameters.ownership
    this.externalOwnership = components.domain.ownership
    for (const binding of components.domain.bindings) {
      if (this.checkBinding(binding, 'saved') && isNewerBinding(binding, this.bindings.get(binding.prefix))) this.bindings.set(binding.prefix, binding)
    }
  }

  /** The transport attached: the exports topics of the bound exporters of what we import. */
  protected override started (): void {
    this.resubscribe()
  }

  addresses (): string[] {
    return this.transport.addresses()
  }

  /** The external prefixes the engine's instances import now. */
  setInterests (prefixes: ReadonlySet<string>): void {
    if (this.stopped) return
    const added = [...prefixes].filter(p => !this.interests.has(p))
    for (const prefix of this.interests) {
      if (prefixes.has(prefix)) continue
      // no instance imports it any more: forgotten without telling the engine, as the mesh does
      this.held.delete(prefix)
    }
    this.interests = new Set(prefixes)
    this.resubscribe()
    if (added.length > 0) {
      this.requestRetries = 0
      this.request(added)
    }
  }

  /** A started instance's exports: the descriptor's external ones go to the other applications under their aliases. */
  announce (instancePath: string, component: string, variables: Record<string, string | null>): void {
    const own = this.externalOwnership
    if (this.stopped || own === undefined) return
    const external = externalVariables(variables, this.components.model.externalExports, own.prefix)
    if (Object.keys(external).length === 0) return this.withdraw(instancePath)
    this.local.set(instancePath, { component, variables: external })
    this.withdrawn.delete(instancePath)
    this.publishAnnounce(instancePath)
  }

  withdraw (instancePath: string): void {
    const own = this.externalOwnership
    if (this.stopped || own === undefined || !this.local.delete(instancePath)) return
    const stamp = this.nextStamp()
    this.withdrawn.set(instancePath, stamp)
    this.publishWithdraw(instancePath, stamp, false)
  }

  /** Asks the bound exporters of these external prefixes to re-announce. */
  request (prefixes: Iterable<string>): void {
    if (this.stopped) return
    for (const prefix of prefixes) if (this.interests.has(prefix)) this.pendingRequests.add(prefix)
    if (this.pendingRequests.size > 0) this.requests.poke()
  }

  /**
   * The DM changed the application's binding of a prefix: true when accepted (signed by a trusted DM, for this
   * application, newer than the one held). Exports of applications no longer bound are dropped at once (the engine
   * runs `update`, or goes UNRESOLVED); newly bound ones are subscribed to, dialled and asked.
   */
  changeBinding (binding: SignedBinding, bootstrapPeers: readonly string[]): boolean {
    if (this.stopped || !this.checkBinding(binding, 'received')) return false
    const current = this.bindings.get(binding.prefix)
    if (!isNewerBinding(binding, current)) {
      this.reject('stale-binding', `binding of ${binding.prefix} version ${binding.version}, not newer than version ${current?.version ?? 0}`)
      return false
    }
    this.bindings.set(binding.prefix, binding)
    const kept = new Set(binding.exporters)
    for (const [key, h] of [...this.held.get(binding.prefix) ?? []]) {
      if (!kept.has(h.application)) this.release(binding.prefix, key)
    }
    this.resubscribe()
    this.addPeers(bootstrapPeers)
    this.log.info(`binding of ${binding.prefix} (version ${binding.version}): from ${binding.exporters.length === 0 ? 'no application' : binding.exporters.join(', ')}`)
    if (binding.exporters.length > 0) {
      this.requestRetries = 0
      this.request([binding.prefix])
    }
    return true
  }

  /**
   * The DM renewed this agent's ownerships (a later expiry). An external one replaces ours when it is for this peer,
   * application, prefix and scope; if ours had expired, importers refused our announces: they all go again.
   */
  renewOwnership (ownership: SignedOwnership, external?: SignedExternalOwnership): void {
    this.ownership = ownership
    const own = this.externalOwnership
    if (this.stopped || external === undefined || own === undefined) return
    if (external.peerId !== own.peerId || external.application !== own.application || external.prefix !== own.prefix ||
      external.scopedInstancePath !== own.scopedInstancePath) {
      this.log.warn(`ignoring a renewed external ownership of ${external.prefix} for ${external.scopedInstancePath} (peer ${external.peerId}): not this agent's`)
      return
    }
    const wasValid = ownershipExpiry(own, this.now()).ok
    this.externalOwnership = external
    if (!wasValid && this.local.size > 0) {
      this.answerByGossip = true
      this.reannounces.poke()
    }
  }

  /** External imports restored from the saved state: those no owner re-announces within the grace are removed. */
  expectRestored (restored: Array<{ prefix: string, exporterPath: string }>): void {
    if (this.stopped || restored.length === 0) return
    for (const { prefix, exporterPath } of restored) {
      let paths = this.restored.get(prefix)
      if (paths === undefined) this.restored.set(prefix, paths = new Set())
      paths.add(exporterPath)
    }
    const timer = setTimeout(() => {
      this.restoreTimers.delete(timer)
      if (this.stopped) return
      for (const [prefix, paths] of this.restored) {
        for (const path of paths) this.tellRemoved(prefix, path)
      }
      this.restored.clear()
    }, this.restoredGraceMs)
    this.restoreTimers.add(timer)
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.requests.cancel()
    this.reannounces.cancel()
    clearTimeout(this.retryTimer)
    for (const timer of this.restoreTimers) clearTimeout(timer)
    this.lostOwners.stop()
    await this.transport.stop()
  }

  view (): DomainView {
    const held: HeldExternalView[] = []
    for (const [prefix, byKey] of this.held) {
      for (const h of byKey.values()) {
        held.push({ prefix, application: h.application, instancePath: h.instancePath, component: h.component, peerId: h.owner, since: h.since, variables: { ...h.variables } })
      }
    }
    const own = this.externalOwnership
    return {
      peerId: this.peerId,
      addresses: this.transport.addresses(),
      connectedPeers: this.transport.connectedPeers(),
      interests: [...this.interests].sort(),
      bindings: [...this.bindings.values()].map(b => ({ prefix: b.prefix, exporters: [...b.exporters], version: b.version })),
      announced: own === undefined ? [] : [...this.local].map(([instancePath, e]) => ({ prefix: own.prefix, instancePath, variables: { ...e.variables } })),
      held,
      ...(own?.expiresAt !== undefined ? { ownershipExpiresAt: own.expiresAt } : {}),
      suspects: this.lostOwners.peers(),
      rejections: this.rejected.counts()
    }
  }

  // ----------------------------------------------------------------------------------------------- sending

  /**
   * As the application's mesh does (service.ts publishAnnounce): straight to the bound importers we are connected to
   * (they dial the owners they hold from), gossip only for the first announce of an instance in this epoch (importers
   * not connected yet must hear it to dial us) and for re-announces asked by a request (the requester may not be
   * connected yet). Gossip alone cost every importer a publisher signature check and forwarding to its topic mesh.
   */
  private publishAnnounce (instancePath: string, gossip = false): void {
    const own = this.externalOwnership
    const entry = this.local.get(instancePath)
    if (own === undefined || entry === undefined) return
    const first = !this.announcedOnce.has(instancePath)
    this.announcedOnce.add(instancePath)
    this.send(domainExportsTopic(own.prefix, this.application), {
      v: MESH_MESSAGE_VERSION, kind: 'announce', application: this.application, prefix: own.prefix, instancePath,
      component: entry.component, variables: entry.variables, ...this.nextStamp(), ownership: own, addresses: this.transport.addresses()
    }, { direct: true, gossip: gossip || first })
  }

  private publishWithdraw (instancePath: string, stamp: Stamp, gossip: boolean): void {
    const own = this.externalOwnership
    if (own === undefined) return
    this.send(domainExportsTopic(own.prefix, this.application), {
      v: MESH_MESSAGE_VERSION, kind: 'withdraw', application: this.application, prefix: own.prefix, instancePath, ...stamp
    }, { direct: true, gossip })
  }

  private answerRequests (): void {
    if (this.stopped) return
    const gossip = this.answerByGossip
    this.answerByGossip = false
    for (const path of this.local.keys()) this.publishAnnounce(path, gossip)
    // an importer that missed a withdraw (not connected then) would hold the instance until the owner is lost
    for (const [path, stamp] of this.withdrawn.entries()) this.publishWithdraw(path, stamp, gossip)
  }

  private sendRequests (): void {
    if (this.stopped) return
    for (const prefix of this.pendingRequests) {
      const binding = this.bindings.get(prefix)
      if (binding === undefined || binding.exporters.length === 0) continue
      this.send(this.control, { v: MESH_MESSAGE_VERSION, kind: 'request', binding, ownership: this.ownership, addresses: this.transport.addresses() })
    }
    this.pendingRequests.clear()
    this.scheduleRequestRetry()
  }

  /**
   * The exchange has no digests, and a request may reach nobody (published before the topic's gossip mesh formed), or
   * some exporters only, or an answer be lost. An importer cannot tell how many instances a bound application exports:
   * holding one of them says nothing of the others. So while an imported prefix is bound it keeps asking, backing off
   * as the application's digests do, from REQUEST_MIN_INTERVAL_MS up to ANTI_ENTROPY_MAX_INTERVAL_MS (jittered); a
   * new peer, interest or binding starts over. Exporters answer a connected requester straight (no gossip), so a
   * request an exporter's held importers already agree with costs each of them one direct announce a round.
   */
  private scheduleRequestRetry (): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.stopped || this.boundPrefixes().length === 0) {
      this.requestRetries = 0
      return
    }
    const delay = backoffMs(this.requestRetries, { initialMs: REQUEST_MIN_INTERVAL_MS, maxMs: ANTI_ENTROPY_MAX_INTERVAL_MS })
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.requestRetries++
      this.request(this.boundPrefixes())
    }, delay)
    this.retryTimer.unref()
  }

  /** Imported prefixes bound to some exporting application. */
  private boundPrefixes (): string[] {
    return [...this.interests].filter(prefix => (this.bindings.get(prefix)?.exporters.length ?? 0) > 0)
  }

  private send (topic: string, message: DomainMessage, options?: { direct?: boolean, gossip?: boolean }): void {
    const data = encodeDomainMessage(message)
    trace('domain.send', `${message.kind} ${data.byteLength}`)
    this.transport.publish(topic, data, options).catch(err => {
      if (!this.stopped) this.log.warn(`could not publish a domain ${message.kind} on ${topic}: ${errorMessage(err)}`)
    })
  }

  /** Subscribed: the control topic, and the exports topics of the bound exporters of the prefixes imported. */
  private resubscribe (): void {
    if (this.transport === undefined) return
    const wanted = new Set<string>()
    for (const prefix of this.interests) {
      for (const exporter of this.bindings.get(prefix)?.exporters ?? []) wanted.add(domainExportsTopic(prefix, exporter))
    }
    for (const topic of [...this.subscribed]) {
      if (wanted.has(topic)) continue
      this.transport.unsubscribe(topic)
      this.subscribed.delete(topic)
    }
    for (const topic of wanted) {
      if (this.subscribed.has(topic)) continue
      this.transport.subscribe(topic)
      this.subscribed.add(topic)
    }
  }

  // ----------------------------------------------------------------------------------------------- receiving

  protected onMessage (topic: string, from: string, data: Uint8Array): void {
    if (this.stopped) return
    trace('domain.receive', `${from} ${data.byteLength}`)
    if (from === this.transport.peerId) return this.reject('from-self', `a domain message claiming to come from this agent on ${topic}`)
    let message: DomainMessage
    try {
      message = decodeDomainMessage(data, topic)
    } catch (err) {
      return this.reject(err instanceof ControlCharacterError ? 'control-character' : 'malformed', `from ${from} on ${topic}: ${errorMessage(err)}`)
    }
    try {
      switch (message.kind) {
        case 'announce': return this.onAnnounce(from, message)
        case 'withdraw': return this.onWithdraw(from, message)
        case 'request': return this.onRequest(from, message)
      }
    } catch (err) {
      this.log.error(`failed to handle a domain ${message.kind} from ${from}: ${(err as Error).stack ?? String(err)}`)
    }
  }

  private isBound (prefix: string, application: string): boolean {
    return this.interests.has(prefix) && this.bindings.get(prefix)?.exporters.includes(application) === true
  }

  private onAnnounce (from: string, m: ExternalAnnounce): void {
    const verdict = this.verifyOwner(from, m)
    if (!verdict.ok) return this.reject(verdict.reason, `external announce of ${m.instancePath} (${m.prefix} of ${m.application}) from ${from}: ${verdict.detail}`)
    this.transport.trustPeer?.(from)
    if (!this.isBound(m.prefix, m.application)) {
      return this.reject('not-bound', `external announce of ${m.prefix} from ${m.application}, which ${this.application} is not bound to`)
    }
    const key = compositeKey(m.application, m.instancePath)
    let byKey = this.held.get(m.prefix)
    const previous = byKey?.get(key)
    if (previous?.owner !== from && this.heldCount(from) >= MAX_HELD_EXPORTS_PER_OWNER) {
      return this.reject('owner-limit', `external announce of ${m.instancePath} from ${from}: ${MAX_HELD_EXPORTS_PER_OWNER} exports of that owner held already`)
    }
    if (!this.advance(from, m.prefix, m.application, m.instancePath, m)) return
    if (byKey === undefined) this.held.set(m.prefix, byKey = new Map())
    byKey.set(key, {
      owner: from, application: m.application, instancePath: m.instancePath, component: m.component, variables: m.variables,
      stamp: { epoch: m.epoch, seq: m.seq }, since: previous?.owner === from ? previous.since : this.now()
    })
    this.restored.get(m.prefix)?.delete(m.instancePath)
    trace('mesh.import', `${m.instancePath} added`)
    this.safely(() => { this.components.listener.importAdded(m.prefix, { instancePath: m.instancePath, component: m.component, variables: { ...m.variables } }) })
    this.transport.watchPeer(from, m.addresses)
    if (!this.transport.isConnected(from)) this.suspect(from, this.unconnectedGraceMs)
  }

  private onWithdraw (from: string, m: ExternalWithdraw): void {
    const key = compositeKey(m.application, m.instancePath)
    const holder = this.held.get(m.prefix)?.get(key)
    if (holder === undefined) return
    if (holder.owner !== from) return this.reject('not-owner', `external withdraw of ${m.instancePath} from ${from}, held from ${holder.owner}`)
    if (!this.advance(from, m.prefix, m.application, m.instancePath, m)) return
    this.release(m.prefix, key)
  }

  /** An importer asks: answered (with a re-announce) only for a DM-signed binding of its own application to ours. */
  private onRequest (from: string, m: ExternalRequest): void {
    const own = this.externalOwnership
    if (own === undefined || m.binding.prefix !== own.prefix || !m.binding.exporters.includes(this.application)) return
    const binding = verifyBinding(m.binding, this.components.parameters.trustedDmKeys)
    if (!binding.ok) return this.reject(binding.reason, `request from ${from}: ${binding.detail}`)
    const o = m.ownership
    const requester = this.ownerships.judge(['request', from, m.binding.application, o.peerId, o.application], compositeKey(m.binding.application, o.scopedInstancePath), o,
      () => verifyOwnership(o, { senderPeerId: from, application: m.binding.application, instancePath: o.scopedInstancePath, trustedDmKeys: this.components.parameters.trustedDmKeys }))
    if (!requester.ok) return this.reject(requester.reason, `request from ${from} for ${m.binding.application}: ${requester.detail}`)
    this.transport.trustPeer?.(from)
    // a bound importer we are not connected to hears our answer only gossiped; dial it, so that the next goes direct
    if (!this.transport.isConnected(from)) {
      this.transport.watchPeer(from, m.addresses.slice(0, MAX_ADDED_PEERS))
      this.answerByGossip = true
    }
    if (this.local.size > 0 || this.withdrawn.size > 0) this.reannounces.poke()
  }

  /** The exporter's external ownership: signed (verdict cached), for this sender and announce, not expired nor superseded. */
  private verifyOwner (from: string, m: ExternalAnnounce): DomainVerdict | OwnershipVerdict {
    const o = m.ownership
    return this.ownerships.judge(['external', from, m.application, m.prefix, m.instancePath, o.peerId, o.application, o.prefix],
      compositeKey(m.application, o.scopedInstancePath), o, () => verifyExternalOwnership(o, {
        senderPeerId: from, application: m.application, prefix: m.prefix, instancePath: m.instancePath, trustedDmKeys: this.components.parameters.trustedDmKeys
      }))
  }

  private checkBinding (binding: SignedBinding, how: string): boolean {
    if (binding.application !== this.application) {
      this.reject('wrong-application', `${how} binding of ${binding.prefix} for application ${binding.application}, not ${this.application}`)
      return false
    }
    const verdict = verifyBinding(binding, this.components.parameters.trustedDmKeys)
    if (!verdict.ok) this.reject(verdict.reason, `${how} binding of ${binding.prefix}: ${verdict.detail}`)
    return verdict.ok
  }

  private advance (owner: string, prefix: string, application: string, instancePath: string, stamp: Stamp): boolean {
    const k = JSON.stringify([owner, prefix, application, instancePath])
    const known = this.keyStamps.get(k)
    if (known !== undefined && !isNewer(stamp, known)) return false
    this.keyStamps.set(k, stamp)
    return true
  }

  // ----------------------------------------------------------------------------------------------- liveness

  protected onPeerReady (peerId: string): void {
    if (this.stopped) return
    this.lostOwners.clear(peerId)
    // a new peer may export what we import: ask (throttled, one message per bound prefix), and retry from the start
    this.requestRetries = 0
    this.request(this.interests)
  }

  protected onPeerDisconnected (peerId: string, refused: boolean): void {
    if (this.stopped || this.heldCount(peerId) === 0) return
    if (refused) this.withdrawOwner(peerId, 'refuses connections')
    else this.suspect(peerId, this.graceMs)
  }

  protected withdrawOwner (peerId: string, why: string): void {
    this.lostOwners.clear(peerId)
    this.log.info(`domain owner ${peerId} ${why}: withdrawing its external exports`)
    for (const [prefix, byKey] of this.held) {
      for (const [key, h] of [...byKey]) if (h.owner === peerId) this.release(prefix, key)
    }
  }

  private heldCount (peerId: string): number {
    let count = 0
    for (const byKey of this.held.values()) for (const h of byKey.values()) if (h.owner === peerId) count++
    return count
  }

  private release (prefix: string, key: HeldKey): void {
    const byKey = this.held.get(prefix)
    const h = byKey?.get(key)
    if (byKey === undefined || h === undefined) return
    byKey.delete(key)
    this.tellRemoved(prefix, h.instancePath)
  }

  private tellRemoved (prefix: string, instancePath: string): void {
    // another bound application's instance at the same path still held: the engine keeps it (Roboconf keys imports by path)
    for (const h of this.held.get(prefix)?.values() ?? []) if (h.instancePath === instancePath) return
    this.safely(() => { this.components.listener.importRemoved(prefix, instancePath) })
  }

  private safely (call: () => void): void {
    try {
      call()
    } catch (err) {
      this.log.error(`the import listener failed: ${(err as Error).stack ?? String(err)}`)
    }
  }
}

function isNewerBinding (binding: SignedBinding, current: SignedBinding | undefined): boolean {
  return current === undefined || binding.version > current.version
}
