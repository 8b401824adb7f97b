// What the application's mesh (service.ts) and the domain exchange (domain.ts) are both built on: a transport wired
// to the exchange's handlers, the owner's epoch and sequence numbers, the graces of lost owners and restored imports,
// the lost owners themselves (withdrawn after their grace unless connected again), the ownership verdicts, and the
// counted rejections. Each exchange adds its messages, what it holds and what it announces.
import type { MeshParameters } from '../../protocol/messages.js'
import type { ProbeRejection } from './probe.js'
import type { Stamp } from '../../protocol/mesh.js'
import { LostOwners, RejectionCounter } from './owners.js'
import { OwnershipVerifier } from './ownership.js'
import { stderrLogger, type Logger } from '../../common/log.js'
import { realClock, type Clock } from '../../common/clock.js'
import { LIVENESS_GRACE_MS, MAX_ADDED_PEERS, RESTORED_IMPORTS_GRACE_MS, UNCONNECTED_OWNER_GRACE_MS } from './constants.js'
import type { MeshTransport, MeshTransportEvents } from './service.js'

export interface PeerExchangeOptions {
  /**
   * This owner's epoch, which must grow at every start (stamps order an owner's messages by epoch, then seq); default:
   * the clock's ms, for meshes without a state folder. The libp2p mesh passes a counter kept in the state folder
   * (epoch.ts): a clock stepped back would make a restarted owner's messages older than those importers hold.
   */
  epoch?: number
  /** Grace in ms before a disconnected owner's exports are withdrawn; default LIVENESS_GRACE_MS (400). */
  livenessGraceMs?: number
  /** Grace in ms for an owner heard through the mesh but not (yet) connected; default UNCONNECTED_OWNER_GRACE_MS (20 000). */
  unconnectedGraceMs?: number
  /** Grace in ms for the owner of a restored import to re-announce it; default RESTORED_IMPORTS_GRACE_MS (8000). */
  restoredGraceMs?: number
}

export interface PeerExchangeParts {
  application: string
  /** The topic every agent of the exchange subscribes to from the start (requests, digests). */
  control: string
  parameters: Pick<MeshParameters, 'trustedDmKeys'>
  /** The refused messages' name in the log, e.g. `mesh message`. */
  what: string
  log?: Logger
  /** Time and timers; default realClock. */
  clock?: Clock
  /** Wall time in ms; default the clock's. */
  now?: () => number
}

export abstract class PeerExchange<Reason extends string> {
  readonly transportEvents: MeshTransportEvents
  readonly epoch: number
  protected transport!: MeshTransport
  protected readonly application: string
  protected readonly control: string
  protected readonly log: Logger
  protected readonly clock: Clock
  protected readonly now: () => number
  protected readonly graceMs: number
  protected readonly unconnectedGraceMs: number
  protected readonly restoredGraceMs: number
  protected seq = 0
  protected stopped = false
  /** Owners lost, with the timer that withdraws their exports after the grace. */
  protected readonly lostOwners: LostOwners
  /** Judges peers' ownerships (signature verdicts cached, bounded; expiry; newest generation per scope). */
  protected readonly ownerships: OwnershipVerifier
  protected readonly rejected: RejectionCounter<Reason>

  constructor (parts: PeerExchangeParts, options: PeerExchangeOptions) {
    this.application = parts.application
    this.control = parts.control
    this.log = parts.log ?? stderrLogger
    this.clock = parts.clock ?? realClock
    this.now = parts.now ?? this.clock.now
    this.graceMs = options.livenessGraceMs ?? LIVENESS_GRACE_MS
    this.unconnectedGraceMs = options.unconnectedGraceMs ?? UNCONNECTED_OWNER_GRACE_MS
    this.restoredGraceMs = options.restoredGraceMs ?? RESTORED_IMPORTS_GRACE_MS
    this.epoch = options.epoch ?? this.now()
    this.lostOwners = new LostOwners((peerId, graceMs) => this.graceEnded(peerId, graceMs), this.clock)
    this.rejected = new RejectionCounter(this.log, parts.what, this.now)
    this.ownerships = new OwnershipVerifier({ application: this.application, trustedDmKeys: parts.parameters.trustedDmKeys, now: this.now })
    this.transportEvents = {
      message: (topic, from, data) => this.onMessage(topic, from, data),
      peerReady: peerId => this.onPeerReady(peerId),
      peerDisconnected: (peerId, refused, confirmed) => this.onPeerDisconnected(peerId, refused === true, confirmed === true),
      rejected: (reason, detail) => this.onTransportRejected(reason, detail)
    }
  }

  /** Attaches the transport (built with `transportEvents`), subscribes to the control topic, then `started`. */
  start (transport: MeshTransport): void {
    this.transport = transport
    transport.subscribe(this.control)
    this.started()
  }

  get peerId (): string {
    return this.transport.peerId
  }

  /**
   * Dials these agents (multiaddrs with /p2p/) and keeps redialling them: the DM sent them after the model (they came
   * up later), or with a binding. Addresses only: the peers still prove who they are. Idempotent.
   */
  addPeers (addresses: readonly string[]): void {
    if (this.stopped) return
    for (const address of addresses.slice(0, MAX_ADDED_PEERS)) {
      const peer = /\/p2p\/([^/]+)$/.exec(address)?.[1]
      if (peer !== undefined && peer !== this.transport.peerId) this.transport.watchPeer(peer, [address])
    }
  }

  /** What the exchange does once its transport is attached (timers, topics). */
  protected started (): void {}

  protected nextStamp (): Stamp {
    return { epoch: this.epoch, seq: ++this.seq }
  }

  protected reject (reason: Reason, detail: string): void {
    this.rejected.reject(reason, detail)
  }

  /** Withdraws the owner's exports after the grace unless it is connected again by then (LostOwners). */
  protected suspect (peerId: string, ownerGraceMs = this.graceMs): void {
    // A starved agent redials late: its own lag extends the grace (see LOCAL_HEALTH_LAG_FACTOR).
    this.lostOwners.suspect(peerId, this.transport.stretchForLag?.(ownerGraceMs) ?? ownerGraceMs)
  }

  private graceEnded (peerId: string, graceMs: number): void {
    if (this.stopped || this.transport.isConnected(peerId)) return
    this.withdrawOwner(peerId, `unreachable for ${graceMs} ms`)
  }

  /** The transport refused a peer's request (probe.ts); default: not counted. */
  protected onTransportRejected (_reason: ProbeRejection, _detail: string): void {}

  protected abstract onMessage (topic: string, from: string, data: Uint8Array): void
  protected abstract onPeerReady (peerId: string): void
  protected abstract onPeerDisconnected (peerId: string, refused: boolean, confirmed: boolean): void
  /** Withdraws every export held from the owner (and ends its grace, if one runs). */
  protected abstract withdrawOwner (peerId: string, why: string): void
}
