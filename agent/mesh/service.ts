// The mesh's logic, independent of the network: what this agent announces, what it holds from other owners,
// ordering by epoch and sequence number, ownership checks, liveness of owners, anti-entropy, and the (debounced)
// calls to the engine's ImportListener. The libp2p node (libp2p.ts) and the in-memory hub (memory.ts) are two
// transports under this same service.
import type { ImportListener, MeshHandle } from '../ports.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import {
  ControlCharacterError, MESH_MESSAGE_VERSION, controlTopic, decodeMeshMessage, encodeMeshMessage, exportsTopic, isNewer, isWithinScope, ownershipExpiry,
  type AnnounceMessage, type OwnershipVerdict, type DigestMessage, type MeshMessage, type OwnershipRejection, type RequestMessage,
  type Stamp, type WithdrawMessage
} from '../../protocol/mesh.js'
import type { SignedOwnership } from '../../protocol/messages.js'
import {
  ANTI_ENTROPY_DIGESTS_PER_SECOND, ANTI_ENTROPY_INTERVAL_MS, ANTI_ENTROPY_MAX_INTERVAL_MS, DEFAULT_DEBOUNCE_MS, MAX_EXPORT_STAMPS,
  MAX_HEARD_PEERS, MAX_HELD_EXPORTS_PER_OWNER, MAX_OWNER_PREFIX_STAMPS, REQUEST_COALESCE_MS, REQUEST_MIN_INTERVAL_MS
} from './constants.js'
import { exportsByPrefix, importedPrefixes } from '../../protocol/model/exports.js'
import { compositeKey, partsOf, type CompositeKey } from '../../protocol/keys.js'
import { errorMessage } from '../../protocol/errors.js'
import { BoundedMap } from './bounded.js'
import { PeerExchange, type PeerExchangeOptions } from './exchange.js'
import type { ProbeCounts, ProbeRejection } from './probe.js'
import { exponentialMs, jittered } from '../../common/backoff.js'
import { trace } from '../../common/trace.js'
import type { Logger } from '../../common/log.js'
import { realClock, type Clock, type ClockTimer } from '../../common/clock.js'

/** How a message goes out (MeshTransport.publish). */
export interface PublishOptions {
  direct?: boolean
  gossip?: boolean
  /**
   * The message concerns these peers only (a targeted request): written straight to each of them, on the connection
   * that authenticates the sender, and gossiped only when one of them is not connected. Gossiped, every agent of the
   * mesh relays it, checks its signature and drops it unread: at 300 agents, each new agent's targeted requests cost
   * the others about 1.5 ms of CPU each (docs/scale.md, "Where a start's CPU goes").
   */
  to?: readonly string[]
}

/** What the service needs from a network: publish/subscribe with authenticated senders, and peer liveness. */
export interface MeshTransport {
  readonly peerId: string
  addresses (): string[]
  subscribe (topic: string): void
  unsubscribe (topic: string): void
  /**
   * Sends to the topic's subscribers (none is fine); never throws for lack of peers. `direct`: the message is an owner's
   * own (an announce or a withdraw), written straight to the connected subscribers, whose connection authenticates the
   * sender; it is also gossiped (relayed to subscribers we are not connected to) unless `gossip` is false.
   */
  publish (topic: string, data: Uint8Array, options?: PublishOptions): Promise<void>
  isConnected (peerId: string): boolean
  connectedPeers (): string[]
  /**
   * Watches the liveness of this owner we import from, and keeps (re)dialling it at these addresses when lost. Called
   * only for a peer whose ownership was verified.
   */
  watchPeer (peerId: string, addresses: string[]): void
  /** This peer showed a valid DM-signed ownership: it may be remembered for the next start (absent: nothing kept). */
  trustPeer?: (peerId: string) => void
  /** What the transport keeps per peer (absent: nothing), for the view: all of it bounded. */
  peerCounts?: () => TransportPeerCounts
  /** `ms` stretched by how late this agent's own timers ran lately (absent: not measured); for lost owners' grace. */
  stretchForLag?: (ms: number) => number
  stop (): Promise<void>
}

/** Sizes of what a transport keeps per peer, and the dials it started. */
export interface TransportPeerCounts {
  /** Peers it keeps dialling (bootstrap, remembered, verified owners). */
  wanted: number
  /** Owners whose liveness it pings. */
  watched: number
  /** Peers remembered for the next start. */
  remembered: number
  /** Dials started since the start. */
  dials: number
  /** What the owners' probes did (probe.ts), and the ping-reqs served for other peers. */
  probes?: ProbeCounts & { served: number }
}

/** What a transport reports to the service. */
export interface MeshTransportEvents {
  /** A message from `from` (authenticated by the transport) on `topic`. */
  message (topic: string, from: string, data: Uint8Array): void
  /**
   * A peer is connected and known to listen on the control topic (or a watched owner answers again): it can be asked
   * to re-announce.
   */
  peerReady (peerId: string): void
  /**
   * A peer's last connection closed, a dial to a watched owner failed, or a watched owner stopped answering pings
   * (isConnected is then false for it until it answers). `refused`: nothing listens at its addresses any more (its
   * process is gone), which needs no grace. `confirmed`: other peers asked to ping it could not reach it either
   * (probe.ts), which needs no grace either.
   */
  peerDisconnected (peerId: string, refused?: boolean, confirmed?: boolean): void
  /** The transport refused a peer's request (a ping-req over its bounds, or unreadable): counted as a rejection. */
  rejected?: (reason: ProbeRejection, detail: string) => void
}


/** The epoch and graces (exchange.ts), and the mesh's own settings. */
export interface MeshServiceOptions extends PeerExchangeOptions {
  /** Window in ms gathering import changes before the listener is called; default 0 (every change at once). */
  debounceMs?: number
  /**
   * Mean interval in ms between a change of this owner's exports and its next digest (anti-entropy), doubled after
   * each digest up to ANTI_ENTROPY_MAX_INTERVAL_MS (120 000); default ANTI_ENTROPY_INTERVAL_MS (5000). It also grows
   * with the connected peers: see antiEntropyDigestsPerSecond.
   */
  antiEntropyIntervalMs?: number
  /**
   * Digests per second the whole mesh may send, in 1/s: with P peers (connected, or heard from lately) an owner waits
   * at least (P + 1) / this seconds between two digests; default ANTI_ENTROPY_DIGESTS_PER_SECOND (1).
   */
  antiEntropyDigestsPerSecond?: number
}

export interface MeshServiceComponents {
  model: ScopedModel
  parameters: MeshParameters
  listener: ImportListener
  log?: Logger
  /** Time, timers and jitter; default realClock (a simulation injects simulated time: simulations/protosim). */
  clock?: Clock
}

/**
 * Why a mesh message was refused: `malformed` (fails validation), `control-character` (in a value, name or path),
 * an ownership check (OwnershipRejection; a digest's too), `not-owner` (a withdraw of what another peer owns),
 * `from-self`, `unknown-component` (a component the model lacks or that does not export the prefix), `owner-limit`
 * (an owner already holds MAX_HELD_EXPORTS_PER_OWNER exports here), and a peer's ping-req that is unreadable
 * (`probe-malformed`) or over its bounds (`probe-limit`, probe.ts).
 */
export type RejectionReason = 'malformed' | 'control-character' | OwnershipRejection | 'not-owner' | 'from-self' |
  'unknown-component' | 'owner-limit' | ProbeRejection

/** One import as this agent holds it. */
export interface HeldExportView {
  prefix: string
  instancePath: string
  component: string
  peerId: string
  epoch: number
  seq: number
  /** When this agent first held the export (the mesh's clock: ms since 1970), kept across re-announces. */
  since: number
  /** ms since the owner's last announce or re-announce of it arrived (an idle owner re-announces only when asked). */
  ageMs: number
  variables: Record<string, string | null>
}

/** An agent's current view of the mesh, printable as JSON. */
export interface MeshView {
  peerId: string
  application: string
  scopedInstancePath: string
  epoch: number
  /** When this agent's own ownership expires (ms since 1970, the DM's clock): the DM renews it while the agent beats. */
  ownershipExpiresAt?: number
  addresses: string[]
  connectedPeers: string[]
  interests: string[]
  announced: Array<{ prefix: string, instancePath: string, component: string, variables: Record<string, string | null> }>
  held: HeldExportView[]
  suspects: string[]
  rejections: Partial<Record<RejectionReason, number>>
  /** Mesh messages this agent published (not counting gossip forwarding), and their payload bytes. */
  sent: { messages: number, bytes: number }
  /** Mesh messages this agent received (gossip and direct, rejected ones too), and their payload bytes. */
  received?: { messages: number, bytes: number }
  /**
   * Entries of the bounded caches (MAX_OWNERSHIP_VERDICTS, MAX_EXPORT_STAMPS, MAX_OWNER_PREFIX_STAMPS,
   * MAX_HEARD_PEERS): what forged messages could grow.
   */
  cached: { ownershipVerdicts: number, stamps: number, ownerPrefixStamps: number, heardFrom: number }
  /** What the transport keeps per peer (absent for a transport that keeps nothing). */
  peers?: TransportPeerCounts
}

/** A running mesh with its view and counters. */
export interface MeshServiceHandle extends MeshHandle {
  readonly peerId: string
  view (): MeshView
  rejections (): Partial<Record<RejectionReason, number>>
}

interface Held {
  owner: string
  component: string
  variables: Record<string, string | null>
  stamp: Stamp
  /** When first held, and when last (re-)announced (this.now() clock). */
  since: number
  receivedAt: number
}

interface LocalExport {
  instancePath: string
  component: string
  prefix: string
  variables: Record<string, string | null>
}

/** An export held or announced: its prefix and its instance's path. */
type ExportKey = CompositeKey<[prefix: string, instancePath: string]>
/** What an owner announced of one instance for one prefix: ordered by its stamps. */
type OwnerExportKey = CompositeKey<[owner: string, instancePath: string, prefix: string]>
type OwnerPrefixKey = CompositeKey<[owner: string, prefix: string]>
/** What `reported` holds for an import restored from the saved state and not yet confirmed by the mesh. */
const RESTORED = 'restored'

/**
 * The mesh service: wire it to a transport with `transportEvents`, then use it as the engine's MeshHandle.
 * Starts its timers at once; `stop()` stops them and the transport.
 */
export class MeshService extends PeerExchange<RejectionReason> implements MeshServiceHandle {
  private readonly debounceMs: number
  private readonly antiEntropyMs: number
  private readonly digestsPerSecond: number

  /** Our announcements: `prefix\0instancePath` -> exports. */
  private readonly local = new Map<ExportKey, LocalExport>()
  /** The seq of our last message for each prefix we ever announced (digests carry it). */
  private readonly localPrefixSeq = new Map<string, number>()
  private interests = new Set<string>()
  /**
   * Every prefix some component of the application exports and some component imports: digests list only these (a
   * prefix no component imports, Apache's in LAMP, has nothing to repair).
   */
  private readonly importablePrefixes: ReadonlySet<string>
  /** prefix -> exporting instance path -> what we hold. */
  private readonly held = new Map<string, Map<string, Held>>()
  /**
   * Last stamp applied per `owner\0instancePath\0prefix`: what is older is stale. Bounded: withdraws need no
   * ownership, so a peer with the pnet key could fill it with random paths; the stamps of held exports live on in
   * `held` (see advance).
   */
  private readonly keyStamps = new BoundedMap<OwnerExportKey, Stamp>(MAX_EXPORT_STAMPS)
  /** Last stamp applied per `owner\0prefix`, compared with digests to find missed messages. */
  private readonly ownerPrefixStamps = new BoundedMap<OwnerPrefixKey, Stamp>(MAX_OWNER_PREFIX_STAMPS)
  /** This agent's own ownership, shown in every message that asks peers to act on it; renewed by the DM. */
  private ownership: SignedOwnership

  /**
   * What the listener was last told: `prefix\0instancePath` -> JSON of the import, or RESTORED for an import the
   * agent restored from its saved state, not confirmed by the mesh yet.
   */
  private readonly reported = new Map<ExportKey, string>()
  private readonly restoreTimers = new Set<ClockTimer>()
  private readonly dirty = new Set<ExportKey>()
  private flushTimer: ClockTimer | undefined

  /**
   * What our next request asks: these prefixes of every owner, and our interests of these peers (new ones); and
   * the prefixes of ours to re-announce: to every importer (a renewed ownership), or to the connected peers that asked.
   */
  private readonly pendingPrefixes = new Set<string>()
  private readonly pendingTargets = new Set<string>()
  private readonly pendingReannounce = new Set<string>()
  private readonly pendingAnswers = new Map<string, Set<string>>()
  /** Peers known to listen on the control topic (peerReady), until they disconnect: who hears a request. */
  private readonly readyPeers = new Set<string>()
  /**
   * Prefixes asked of every owner while no peer listened on the control topic: that request reached nobody, so it
   * goes again when the first peer is ready (a targeted request to that peer would not cross it to the owners).
   */
  private readonly unheardPrefixes = new Set<string>()
  private readonly requests: Throttle
  private readonly reannounces: Throttle
  /** A digest for requesters we are not connected to, so that they dial us (see onRequest). */
  private readonly introductions: Throttle
  /**
   * Prefixes we export that a peer we are not connected to asked for before we announced any: our first announce of
   * one goes to connected subscribers only, so our digest must tell that peer where to dial us (else it waits for the
   * next anti-entropy round, ANTI_ENTROPY_INTERVAL_MS or more). Bounded by the model's importable prefixes.
   */
  private readonly askedByStrangers = new Set<string>()
  private digestTimer: ClockTimer | undefined
  /** When the scheduled digest is sent (this.now() clock), and how many digests were sent since our last change. */
  private digestDueAt = 0
  /** When we last received a message from each peer (this.now() clock): the mesh's size for the digest budget. */
  private readonly heardFrom = new BoundedMap<string, number>(MAX_HEARD_PEERS)
  private digestsSinceChange = 0

  private readonly sent = { messages: 0, bytes: 0 }
  private readonly received = { messages: 0, bytes: 0 }

  constructor (private readonly components: MeshServiceComponents, options: MeshServiceOptions = {}) {
    super({
      application: components.model.application, control: controlTopic(components.model.application), parameters: components.parameters,
      what: 'mesh message', log: components.log, clock: components.clock
    }, options)
    const graph = Object.values(components.model.components)
    const imported = new Set(graph.flatMap(component => [...importedPrefixes(component).keys()]))
    this.importablePrefixes = new Set(graph.flatMap(component => [...exportsByPrefix(component.exports).keys()])
      .filter(prefix => imported.has(prefix)))
    this.requests = new Throttle(() => this.sendRequest(), this.clock)
    this.reannounces = new Throttle(() => this.reannounce(), this.clock)
    this.introductions = new Throttle(() => this.sendDigest(), this.clock)
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
    this.antiEntropyMs = options.antiEntropyIntervalMs ?? ANTI_ENTROPY_INTERVAL_MS
    this.digestsPerSecond = options.antiEntropyDigestsPerSecond ?? ANTI_ENTROPY_DIGESTS_PER_SECOND
    this.ownership = components.parameters.ownership
  }

  /** The transport attached: the timers start. */
  protected override started (): void {
    // Subscribed: only the control topic (PeerExchange.start), and the exports topics of what this agent's instances
    // import (setInterests): an agent
    // that merely relayed a prefix it does not import received every message of it and forwarded it to importers
    // that mostly had it already, a large share of a change's CPU (docs/tuning.md). Importers forward a
    // prefix among themselves; owners publish to the importers they are connected to, and an importer that is
    // connected to no owner nor importer finds owners through their digests (onDigest, onRequest).
    this.scheduleDigest()
  }

  listenAddresses (): string[] {
    return this.transport.addresses()
  }

  expectRestored (restored: Array<{ prefix: string, exporterPath: string }>): void {
    if (this.stopped) return
    const waiting: ExportKey[] = []
    for (const { prefix, exporterPath } of restored) {
      const k = compositeKey(prefix, exporterPath)
      if (this.reported.has(k)) continue
      this.reported.set(k, RESTORED)
      waiting.push(k)
    }
    if (waiting.length === 0) return
    const timer = this.clock.setTimeout(() => {
      this.restoreTimers.delete(timer)
      if (this.stopped) return
      const unconfirmed = waiting.filter(k => this.reported.get(k) === RESTORED)
      if (unconfirmed.length > 0) this.log.info(`no owner re-announced ${unconfirmed.length} restored import(s) within ${this.restoredGraceMs} ms: removing them`)
      for (const k of unconfirmed) this.dirty.add(k)
      this.flush()
    }, this.restoredGraceMs)
    this.restoreTimers.add(timer)
  }

  // ----------------------------------------------------------------------------------------------- ExportPublisher

  setInterests (prefixes: ReadonlySet<string>): void {
    if (this.stopped) return
    const added = [...prefixes].filter(p => !this.interests.has(p))
    for (const prefix of this.interests) {
      if (prefixes.has(prefix)) continue
      this.transport.unsubscribe(exportsTopic(this.application, prefix))
      // The engine no longer imports this prefix: forget it without calling the listener.
      for (const path of this.held.get(prefix)?.keys() ?? []) this.reported.delete(compositeKey(prefix, path))
      this.held.delete(prefix)
    }
    this.interests = new Set(prefixes)
    for (const prefix of added) {
      this.transport.subscribe(exportsTopic(this.application, prefix))
      for (const entry of this.local.values()) if (entry.prefix === prefix) this.holdLocal(entry)
    }
    if (added.length > 0) this.request(added)
  }

  announce (instancePath: string, component: string, variables: Record<string, string | null>): void {
    if (this.stopped) return
    trace('mesh.announce', instancePath)
    const byPrefix = new Map<string, Record<string, string | null>>()
    for (const [name, value] of Object.entries(variables)) {
      const dot = name.indexOf('.')
      if (dot <= 0) continue
      const prefix = name.slice(0, dot)
      byPrefix.set(prefix, { ...byPrefix.get(prefix), [name]: value })
    }
    // A prefix the instance announced before but no longer exports is withdrawn.
    for (const entry of [...this.local.values()]) {
      if (entry.instancePath === instancePath && !byPrefix.has(entry.prefix)) this.withdrawPrefix(instancePath, entry.prefix)
    }
    for (const [prefix, group] of byPrefix) {
      const entry = { instancePath, component, prefix, variables: group }
      this.local.set(compositeKey(prefix, instancePath), entry)
      this.publishAnnounce(entry)
      if (this.askedByStrangers.delete(prefix)) this.introductions.poke()
      if (this.interests.has(prefix)) this.holdLocal(entry)
    }
  }

  renewOwnership (ownership: SignedOwnership): void {
    if (this.stopped) return
    const wasValid = ownershipExpiry(this.ownership, this.now()).ok
    this.ownership = ownership
    // Importers refused what we sent under an expired ownership (or one without expiry, from an older DM): now that
    // they would believe us, everything we export goes again.
    if (wasValid) return
    for (const prefix of this.localPrefixSeq.keys()) this.pendingReannounce.add(prefix)
    if (this.pendingReannounce.size > 0) this.reannounces.poke()
  }

  withdraw (instancePath: string): void {
    if (this.stopped) return
    for (const entry of [...this.local.values()]) {
      if (entry.instancePath === instancePath) this.withdrawPrefix(instancePath, entry.prefix)
    }
  }

  request (prefixes: Iterable<string>): void {
    if (this.stopped) return
    for (const prefix of prefixes) this.pendingPrefixes.add(prefix)
    if (this.pendingPrefixes.size > 0) this.requests.poke()
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.requests.cancel()
    this.reannounces.cancel()
    this.introductions.cancel()
    for (const timer of [this.flushTimer, this.digestTimer, ...this.restoreTimers]) this.clock.clearTimeout(timer)
    this.lostOwners.stop()
    await this.transport.stop()
  }

  // ----------------------------------------------------------------------------------------------- view

  view (): MeshView {
    const now = this.now()
    const held: HeldExportView[] = []
    for (const [prefix, byPath] of this.held) {
      for (const [instancePath, h] of byPath) {
        held.push({ prefix, instancePath, component: h.component, peerId: h.owner, ...h.stamp,
          since: h.since, ageMs: now - h.receivedAt, variables: h.variables })
      }
    }
    return {
      peerId: this.peerId,
      application: this.application,
      scopedInstancePath: this.components.model.scopedInstancePath,
      epoch: this.epoch,
      ...(this.ownership.expiresAt !== undefined ? { ownershipExpiresAt: this.ownership.expiresAt } : {}),
      addresses: this.transport.addresses(),
      connectedPeers: this.transport.connectedPeers(),
      interests: [...this.interests].sort(),
      announced: [...this.local.values()].map(e => ({ ...e })),
      held,
      suspects: this.lostOwners.peers(),
      rejections: this.rejections(),
      sent: { ...this.sent },
      received: { ...this.received },
      cached: {
        ownershipVerdicts: this.ownerships.cachedVerdicts, stamps: this.keyStamps.size, ownerPrefixStamps: this.ownerPrefixStamps.size,
        heardFrom: this.heardFrom.size
      },
      ...(this.transport.peerCounts !== undefined ? { peers: this.transport.peerCounts() } : {})
    }
  }

  rejections (): Partial<Record<RejectionReason, number>> {
    return this.rejected.counts()
  }

  // ----------------------------------------------------------------------------------------------- sending

  /**
   * Our announces and withdraws go straight to the importers we are connected to: importers dial the owners they import
   * from (their liveness is watched on that connection), so after its first announce an owner reaches them all
   * directly. Gossip, whose relays cost every importer a signature check and forwarding, carries only the first
   * announce of a prefix in this epoch, which importers not connected to us yet must hear to dial us. An importer that
   * is not connected later is introduced by our digests and asks again once connected (onRequest, onDigest).
   */
  private publishAnnounce (entry: LocalExport): void {
    const stamp = this.nextStamp()
    const first = !this.localPrefixSeq.has(entry.prefix)
    this.localPrefixSeq.set(entry.prefix, stamp.seq)
    this.exportsChanged()
    this.send(exportsTopic(this.application, entry.prefix), {
      v: MESH_MESSAGE_VERSION, kind: 'announce', application: this.application, ...stamp, ...entry,
      ownership: this.ownership, addresses: this.transport.addresses()
    }, { direct: true, gossip: first })
  }

  private withdrawPrefix (instancePath: string, prefix: string): void {
    this.local.delete(compositeKey(prefix, instancePath))
    const stamp = this.nextStamp()
    this.localPrefixSeq.set(prefix, stamp.seq)
    this.exportsChanged()
    this.send(exportsTopic(this.application, prefix), {
      v: MESH_MESSAGE_VERSION, kind: 'withdraw', application: this.application, ...stamp, instancePath, prefix
    }, { direct: true, gossip: false })
    if (this.interests.has(prefix)) this.release(prefix, instancePath, this.transport.peerId)
  }

  private send (topic: string, message: MeshMessage, options?: PublishOptions): void {
    const data = encodeMeshMessage(message)
    this.sent.messages++
    this.sent.bytes += data.byteLength
    trace('mesh.send', `${message.kind} ${data.byteLength}`)
    this.transport.publish(topic, data, options).then(() => { trace('mesh.sent', message.kind) }, err => {
      if (!this.stopped) this.log.warn(`could not publish a ${message.kind} on ${topic}: ${errorMessage(err)}`)
    })
  }

  /**
   * Schedules the next digest: ANTI_ENTROPY_INTERVAL_MS after a change of our exports, then twice as long after each
   * digest up to ANTI_ENTROPY_MAX_INTERVAL_MS (messages are missed around changes; an idle mesh sends almost none),
   * and never sooner than this owner's share of the mesh's digest budget.
   */
  private scheduleDigest (): void {
    const backoff = exponentialMs(this.digestsSinceChange, { initialMs: this.antiEntropyMs, maxMs: Math.max(this.antiEntropyMs, ANTI_ENTROPY_MAX_INTERVAL_MS) })
    const meshShare = (this.meshSize() + 1) * 1000 / this.digestsPerSecond
    const delay = jittered(Math.max(backoff, meshShare), 0.2, this.clock.random)
    this.clock.clearTimeout(this.digestTimer)
    this.digestDueAt = this.now() + delay
    this.digestTimer = this.clock.setTimeout(() => {
      if (this.stopped) return
      this.sendDigest()
      this.digestsSinceChange++
      this.scheduleDigest()
    }, delay)
    this.digestTimer.unref()
  }

  /**
   * Peers of the mesh as far as we know: those we are connected to, or those heard from within the longest digest
   * interval (every owner sends a digest at least that often; we may be connected to a few peers only).
   */
  private meshSize (): number {
    const since = this.now() - ANTI_ENTROPY_MAX_INTERVAL_MS * 1.5
    for (const [peer, at] of [...this.heardFrom.entries()]) if (at < since) this.heardFrom.delete(peer)
    return Math.max(this.transport.connectedPeers().length, this.heardFrom.size)
  }

  /** Our exports changed: the next digest comes soon again (without postponing one already due sooner). */
  private exportsChanged (): void {
    this.digestsSinceChange = 0
    if (this.digestDueAt > this.now() + this.antiEntropyMs * 1.2) this.scheduleDigest()
  }

  private sendDigest (): void {
    // Only what some component imports: an agent that never announced such a prefix has nothing to repair (in an
    // idle 10-agent LAMP chain, the Apaches' digests, which nobody needs, were most of the mesh's traffic).
    const prefixes: DigestMessage['prefixes'] = {}
    for (const [prefix, seq] of this.localPrefixSeq) if (this.importablePrefixes.has(prefix)) prefixes[prefix] = { seq, instances: [] }
    if (Object.keys(prefixes).length === 0) return
    for (const entry of this.local.values()) prefixes[entry.prefix]?.instances.push(entry.instancePath)
    this.send(this.control, {
      v: MESH_MESSAGE_VERSION, kind: 'digest', application: this.application, ...this.nextStamp(), prefixes, addresses: this.transport.addresses(),
      ownership: this.ownership
    })
  }

  // ----------------------------------------------------------------------------------------------- receiving

  protected onMessage (topic: string, from: string, data: Uint8Array): void {
    if (this.stopped) return
    this.received.messages++
    this.received.bytes += data.byteLength
    trace('mesh.receive', `${from} ${data.byteLength}`)
    if (from === this.transport.peerId) return this.reject('from-self', `a message claiming to come from this agent on ${topic}`)
    let message: MeshMessage
    try {
      message = decodeMeshMessage(data, this.application, topic)
    } catch (err) {
      return this.reject(err instanceof ControlCharacterError ? 'control-character' : 'malformed',
        `from ${from} on ${topic}: ${errorMessage(err)}`)
    }
    try {
      switch (message.kind) {
        case 'announce': return this.onAnnounce(from, message)
        case 'withdraw': return this.onWithdraw(from, message)
        case 'request': return this.onRequest(from, message)
        case 'digest': return this.onDigest(from, message)
      }
    } catch (err) {
      this.log.error(`failed to handle a ${message.kind} from ${from}: ${(err as Error).stack ?? String(err)}`)
    }
  }

  /** A peer's ping-req the transport refused (probe.ts): counted with the mesh's rejections. */
  protected override onTransportRejected (reason: ProbeRejection, detail: string): void {
    this.reject(reason, detail)
  }

  /** Records `stamp` for the key and the owner's prefix; false when the message is not newer than what we have. */
  private advance (owner: string, instancePath: string, prefix: string, stamp: Stamp): boolean {
    const k = compositeKey(owner, instancePath, prefix)
    // A held export's stamp also lives in `held`, so evicting it from the bounded keyStamps loses no ordering.
    const holder = this.held.get(prefix)?.get(instancePath)
    const known = this.keyStamps.get(k) ?? (holder?.owner === owner ? holder.stamp : undefined)
    // The same stamp again is the same message: a duplicate while we hold it, or the owner's answer to our request
    // after we dropped it (a lost owner back: answers keep the prefix's last stamp, see reannounce).
    const resent = known !== undefined && stamp.epoch === known.epoch && stamp.seq === known.seq && holder?.owner !== owner
    if (known !== undefined && !isNewer(stamp, known) && !resent) return false
    this.keyStamps.set(k, stamp)
    const op = compositeKey(owner, prefix)
    const opKnown = this.ownerPrefixStamps.get(op)
    if (opKnown === undefined || isNewer(stamp, opKnown)) this.ownerPrefixStamps.set(op, stamp)
    return true
  }

  /** The verdict on `ownership` for a message of `from` about `instancePath` (ownership.ts). */
  private verify (from: string, ownership: SignedOwnership, instancePath: string): OwnershipVerdict {
    return this.ownerships.check(from, ownership, instancePath)
  }

  /**
   * A peer proved its ownership: only now is it counted in the mesh's size and may the transport remember it (a peer
   * with the pnet key alone could otherwise make us count, dial or remember any number of made-up peers).
   */
  private verifiedPeer (from: string): void {
    this.heardFrom.set(from, this.now())
    this.transport.trustPeer?.(from)
  }

  private onAnnounce (from: string, m: AnnounceMessage): void {
    const verdict = this.verify(from, m.ownership, m.instancePath)
    if (!verdict.ok) return this.reject(verdict.reason, `announce of ${m.instancePath} (${m.prefix}) from ${from}: ${verdict.detail}`)
    this.verifiedPeer(from)
    if (!this.interests.has(m.prefix)) return
    // The component must be one of the application's that exports this prefix: importers' recipes rely on it.
    const component = this.components.model.components[m.component]
    if (component === undefined || !exportsByPrefix(component.exports).has(m.prefix)) {
      return this.reject('unknown-component', `announce of ${m.instancePath} (${m.prefix}) from ${from}: component ` +
        `${JSON.stringify(m.component)} ${component === undefined ? 'is not in the application\'s graph' : `does not export ${m.prefix}`}`)
    }
    let byPath = this.held.get(m.prefix)
    if (byPath?.get(m.instancePath)?.owner !== from && this.heldCount(from) >= MAX_HELD_EXPORTS_PER_OWNER) {
      return this.reject('owner-limit', `announce of ${m.instancePath} (${m.prefix}) from ${from}: this agent already ` +
        `holds ${MAX_HELD_EXPORTS_PER_OWNER} exports of that owner (MAX_HELD_EXPORTS_PER_OWNER)`)
    }
    if (!this.advance(from, m.instancePath, m.prefix, m)) return
    if (byPath === undefined) this.held.set(m.prefix, byPath = new Map())
    const now = this.now()
    byPath.set(m.instancePath, {
      owner: from, component: m.component, variables: m.variables, stamp: { epoch: m.epoch, seq: m.seq },
      since: heldSince(byPath, m.instancePath, from, now), receivedAt: now
    })
    this.changed(m.prefix, m.instancePath)
    this.transport.watchPeer(from, m.addresses)
    // Heard through the mesh before we could dial it (start, heal): it gets a dial's time, not the short grace.
    if (!this.transport.isConnected(from)) this.suspect(from, this.unconnectedGraceMs)
  }

  private onWithdraw (from: string, m: WithdrawMessage): void {
    if (!this.interests.has(m.prefix)) return
    const holder = this.held.get(m.prefix)?.get(m.instancePath)
    // Only the peer we hold the instance from may withdraw it (a forged withdraw only touches the forger's own).
    if (holder !== undefined && holder.owner !== from) return this.reject('not-owner', `withdraw of ${m.instancePath} from ${from}, held from ${holder.owner}`)
    if (!this.advance(from, m.instancePath, m.prefix, m)) return
    this.release(m.prefix, m.instancePath, from)
  }

  private onRequest (from: string, m: RequestMessage): void {
    if (m.targets !== undefined && !m.targets.includes(this.transport.peerId)) return
    const verdict = this.verify(from, m.ownership, m.ownership.scopedInstancePath)
    if (!verdict.ok) return this.reject(verdict.reason, `request from ${from}: ${verdict.detail}`)
    this.verifiedPeer(from)
    const owned = m.prefixes.filter(prefix => this.localPrefixSeq.has(prefix))
    if (!this.transport.isConnected(from)) {
      for (const prefix of m.prefixes) if (!owned.includes(prefix) && this.importablePrefixes.has(prefix)) this.askedByStrangers.add(prefix)
      // A requester we are not connected to would not hear a re-announce: our digest, on the control topic that
      // every agent relays, tells it where to dial us (onDigest), and once connected it asks again.
      if (owned.length > 0) this.introductions.poke()
      return
    }
    if (owned.length === 0) return
    // The answer goes to the requester alone (with the others asking meanwhile): the importers that hold our exports
    // already would only check it again. At 100 agents, re-announces to every importer, one per request of 50
    // Apaches starting, cost about 30 CPU-s (docs/scale.md).
    for (const prefix of owned) {
      let requesters = this.pendingAnswers.get(prefix)
      if (requesters === undefined) this.pendingAnswers.set(prefix, requesters = new Set())
      requesters.add(from)
    }
    this.reannounces.poke()
  }

  private onDigest (from: string, m: DigestMessage): void {
    const scope = m.ownership.scopedInstancePath
    const verdict = this.verify(from, m.ownership, scope)
    if (!verdict.ok) return this.reject(verdict.reason, `digest from ${from}: ${verdict.detail}`)
    const outside = Object.values(m.prefixes).flatMap(p => p.instances).find(path => !isWithinScope(scope, path))
    if (outside !== undefined) return this.reject('outside-scope', `digest from ${from} lists ${outside}, outside its scope ${scope}`)
    this.verifiedPeer(from)
    const missing: string[] = []
    for (const prefix of this.interests) {
      const theirs = m.prefixes[prefix]
      const listed = new Set(theirs?.instances ?? [])
      // What we hold from this owner but its newer digest no longer lists was withdrawn in a message we missed.
      for (const [path, h] of this.held.get(prefix) ?? []) {
        if (h.owner === from && !listed.has(path) && isNewer(m, h.stamp)) this.release(prefix, path, from)
      }
      if (theirs === undefined) continue
      const known = this.ownerPrefixStamps.get(compositeKey(from, prefix))
      if (known === undefined || isNewer({ epoch: m.epoch, seq: theirs.seq }, known)) missing.push(prefix)
    }
    if (missing.length === 0) return
    // An owner we are not connected to could not send us its re-announce: dial it; once connected, we ask it
    // (onPeerReady). Asking now would only make it introduce itself again.
    if (!this.transport.isConnected(from)) return this.transport.watchPeer(from, m.addresses)
    // Asked with our other requests (all our interests of that owner): a digest reaches every agent at once.
    this.pendingTargets.add(from)
    this.requests.poke()
  }

  // ----------------------------------------------------------------------------------------------- requests

  protected onPeerReady (peerId: string): void {
    if (this.stopped) return
    this.readyPeers.add(peerId)
    if (this.unheardPrefixes.size > 0) {
      for (const prefix of this.unheardPrefixes) this.pendingPrefixes.add(prefix)
      this.unheardPrefixes.clear()
      this.requests.poke()
    }
    this.lostOwners.clear(peerId)
    // A new peer, or one back after we dropped its exports, may own what we import: ask it (gathered with other
    // arrivals). One whose every prefix we import we already track (a blip shorter than the grace) has nothing new.
    if (this.interests.size > 0 && ![...this.interests].every(prefix => this.ownerPrefixStamps.has(compositeKey(peerId, prefix)))) {
      this.pendingTargets.add(peerId)
      this.requests.poke()
    }
  }

  /** One message for what was asked since the last one: every owner answers when some prefix is asked of all. */
  private sendRequest (): void {
    if (this.stopped) return
    const targets = [...this.pendingTargets]
    const prefixes = [...new Set([...this.pendingPrefixes, ...(targets.length > 0 ? this.interests : [])])]
    const everyone = this.pendingPrefixes.size > 0
    this.pendingTargets.clear()
    this.pendingPrefixes.clear()
    if (prefixes.length === 0) return
    if (everyone && this.readyPeers.size === 0) for (const prefix of prefixes) this.unheardPrefixes.add(prefix)
    // Asked of every owner: relayed to the whole mesh. Asked of a few peers (connected ones: a new peer, or an owner
    // whose digest showed more): to them only.
    this.send(this.control, {
      v: MESH_MESSAGE_VERSION, kind: 'request', application: this.application, prefixes, ...(everyone ? {} : { targets }),
      ownership: this.ownership
    }, everyone ? undefined : { to: targets })
  }

  private reannounce (): void {
    if (this.stopped) return
    for (const prefix of this.pendingReannounce) {
      for (const entry of this.local.values()) if (entry.prefix === prefix) this.publishAnnounce(entry)
      this.pendingAnswers.delete(prefix)
    }
    this.pendingReannounce.clear()
    for (const [prefix, requesters] of this.pendingAnswers) {
      const to = [...requesters].filter(peer => this.transport.isConnected(peer))
      const seq = this.localPrefixSeq.get(prefix)
      if (to.length === 0 || seq === undefined) continue
      // The prefix's last stamp, not a new one: the instance is as it was then, an importer that has it drops the
      // copy, and the others' next digest shows nothing new (a new stamp would make every importer ask again).
      for (const entry of this.local.values()) {
        if (entry.prefix !== prefix) continue
        this.send(exportsTopic(this.application, prefix), {
          v: MESH_MESSAGE_VERSION, kind: 'announce', application: this.application, epoch: this.epoch, seq, ...entry,
          ownership: this.ownership, addresses: this.transport.addresses()
        }, { to })
      }
    }
    this.pendingAnswers.clear()
  }

  // ----------------------------------------------------------------------------------------------- liveness

  protected onPeerDisconnected (peerId: string, refused: boolean, confirmed: boolean): void {
    this.readyPeers.delete(peerId)
    if (this.stopped || !this.holdsFrom(peerId)) return
    // A refusal is proof, not a timing judgement: no grace, and none stretched by our lag (which made a killed owner
    // take up to 1 s to drop on a busy host). So is a loss that other peers confirmed (their pings went unanswered
    // too): the probe's wait was the grace.
    if (refused) this.withdrawOwner(peerId, 'refuses connections')
    else if (confirmed) this.withdrawOwner(peerId, 'answered neither our ping nor other peers\'')
    else this.suspect(peerId)
  }

  private holdsFrom (peerId: string): boolean {
    for (const byPath of this.held.values()) for (const h of byPath.values()) if (h.owner === peerId) return true
    return false
  }

  /** How many exports we hold from this owner (a legitimate owner has a handful: see MAX_HELD_EXPORTS_PER_OWNER). */
  private heldCount (peerId: string): number {
    let count = 0
    for (const byPath of this.held.values()) for (const h of byPath.values()) if (h.owner === peerId) count++
    return count
  }

  protected withdrawOwner (peerId: string, why: string): void {
    this.lostOwners.clear(peerId)
    this.log.info(`owner ${peerId} ${why}: withdrawing its exports`)
    for (const [prefix, byPath] of this.held) {
      for (const [path, h] of [...byPath]) {
        if (h.owner !== peerId) continue
        this.release(prefix, path, peerId)
        // Forget how far we got with this owner, so its next digest or re-announce restores what it still exports.
        // Its per-instance stamps stay (bounded, see keyStamps): they still order its messages in flight, and a
        // restarted owner's epoch is above them anyway (epoch.ts).
        this.ownerPrefixStamps.delete(compositeKey(peerId, prefix))
      }
    }
  }

  // ----------------------------------------------------------------------------------------------- listener

  private holdLocal (entry: LocalExport): void {
    let byPath = this.held.get(entry.prefix)
    if (byPath === undefined) this.held.set(entry.prefix, byPath = new Map())
    const now = this.now()
    byPath.set(entry.instancePath, {
      owner: this.transport.peerId, component: entry.component, variables: entry.variables,
      stamp: { epoch: this.epoch, seq: this.seq }, since: heldSince(byPath, entry.instancePath, this.transport.peerId, now), receivedAt: now
    })
    this.changed(entry.prefix, entry.instancePath)
  }

  private release (prefix: string, instancePath: string, owner: string): void {
    const byPath = this.held.get(prefix)
    if (byPath?.get(instancePath)?.owner !== owner) return
    byPath.delete(instancePath)
    this.changed(prefix, instancePath)
  }

  private changed (prefix: string, instancePath: string): void {
    this.dirty.add(compositeKey(prefix, instancePath))
    if (this.debounceMs <= 0) return this.flush()
    if (this.flushTimer === undefined) this.flushTimer = this.clock.setTimeout(() => { this.flush() }, this.debounceMs)
  }

  /** Tells the listener the difference between what we hold and what it was last told. */
  private flush (): void {
    this.flushTimer = undefined
    const dirty = [...this.dirty]
    this.dirty.clear()
    for (const k of dirty) {
      const [prefix, instancePath] = partsOf(k)
      const h = this.held.get(prefix)?.get(instancePath)
      const current = h === undefined ? undefined : JSON.stringify([h.component, h.variables])
      if (current === this.reported.get(k)) continue
      try {
        trace('mesh.import', `${instancePath} ${h === undefined ? 'removed' : 'added'}`)
        if (h === undefined) {
          this.reported.delete(k)
          this.components.listener.importRemoved(prefix, instancePath)
        } else {
          this.reported.set(k, current as string)
          this.components.listener.importAdded(prefix, { instancePath, component: h.component, variables: { ...h.variables } })
        }
      } catch (err) {
        this.log.error(`the import listener failed on ${prefix} of ${instancePath}: ${(err as Error).stack ?? String(err)}`)
      }
    }
  }
}

/** When the owner's export of the instance was first held: kept while the same owner (re-)announces it. */
function heldSince (byPath: ReadonlyMap<string, Held>, instancePath: string, owner: string, now: number): number {
  const previous = byPath.get(instancePath)
  return previous?.owner === owner ? previous.since : now
}

/**
 * Runs `run` once for any number of pokes: REQUEST_COALESCE_MS after the first, and never sooner than
 * REQUEST_MIN_INTERVAL_MS after the previous run.
 */
export class Throttle {
  private timer: ClockTimer | undefined
  private lastRun = -Infinity

  constructor (private readonly run: () => void, private readonly clock: Clock = realClock) {}

  poke (): void {
    if (this.timer !== undefined) return
    const now = this.clock.monotonicMs()
    const delay = Math.max(REQUEST_COALESCE_MS, this.lastRun + REQUEST_MIN_INTERVAL_MS - now)
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      this.lastRun = this.clock.monotonicMs()
      this.run()
    }, delay)
  }

  cancel (): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}
