// The mesh's transport over a libp2p node (node.ts): peers dialled and redialled with backoff, remembered
// (remembered.ts); owners we import from pinged, with ping-reqs through helpers when late (probe.ts); direct streams.
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { MeshTransport, MeshTransportEvents, PublishOptions, TransportPeerCounts } from './service.js'
import type { Libp2pMeshOptions } from './libp2p.js'
import type { MeshNode } from './node.js'
import { BoundedMap } from './bounded.js'
import { LocalHealth } from './health.js'
import { QuietHeartbeat } from './quiet-heartbeat.js'
import { OwnerLiveness, ProbeHelper, decodePingInterval, encodePingInterval, ownerPingIntervalMs, decodeProbeAnswer, decodeProbeRequest, encodeProbeAnswer, encodeProbeRequest, type DirectPing, type ProbeAnswer, type ProbeCounts } from './probe.js'
import { DirectFrameReader, encodeDirectFrame } from './direct.js'
import { readRememberedPeers, writeRememberedPeers } from './remembered.js'
import { GossipStreamMissingError, OwnerUnresponsiveError, SupersededConnectionError, isRefusal, peerIdOf, sessionPing, withPeerId } from './connection.js'
import { trace } from '../../common/trace.js'
import { backoffMs } from '../../common/backoff.js'
import {
  DIAL_TIMEOUT_MS, MAX_PEER_ADDRESSES, MAX_UNVERIFIED_PEERS, MAX_WANTED_PEERS, LIVENESS_ABORT_MS, LIVENESS_PING_INTERVAL_MS, MAX_CONCURRENT_DIALS, MAX_REMEMBERED_PEERS, REDIAL_MAX_DELAY_MS, REDIAL_MIN_DELAY_MS,
  REMEMBERED_PEERS_WRITE_DELAY_MS, GOSSIP_CHECK_INTERVAL_MS, GOSSIP_STREAM_GRACE_MS,
  DIRECT_PROTOCOL, MAX_DIRECT_STREAMS, DIRECT_OPEN_TIMEOUT_MS, MAX_DIRECT_QUEUED_FRAMES, MAX_DIRECT_WRITE_BUFFER_BYTES, MAX_PROBES_PER_REQUESTER, PROBE_PROTOCOL,
  LIVENESS_TOPIC, OWN_ADDRESSES_TTL_MS
} from './constants.js'
import { errorMessage } from '../../protocol/errors.js'
import { silentLogger, type Logger } from '../../common/log.js'

interface WantedPeer {
  addresses: Multiaddr[]
  attempts: number
  timer?: NodeJS.Timeout
  dialling: boolean
}


/** Our direct stream to one peer: open, or being opened with the frames that wait for it. */
interface DirectOut { stream?: Stream, opening: boolean, queue: Uint8Array[] }

export class Libp2pTransport implements MeshTransport {
  readonly peerId: string
  /** Connected peers, by their id's text (parsing the text back costs a multihash decoding per call). */
  private readonly connected = new Map<string, PeerId>()
  /** Peers we keep dialling: bootstrap, remembered at start, and verified owners we import from (bounded, LRU). */
  private readonly wanted = new BoundedMap<string, WantedPeer>(MAX_WANTED_PEERS, (_, w) => { clearTimeout(w.timer) })
  private dialsStarted = 0
  /**
   * Peers that showed a valid ownership (trustPeer), or that the DM or our last run gave us: only these are remembered.
   * A peer with the pnet key alone must not push the application's agents out of `mesh-peers.json`.
   */
  private readonly trusted = new BoundedMap<string, true>(MAX_WANTED_PEERS)
  /** Listen addresses of identified peers not trusted yet, remembered once they are. */
  private readonly identified = new BoundedMap<string, string[]>(MAX_UNVERIFIED_PEERS)
  private readonly dialQueue: string[] = []
  private dialsInFlight = 0
  private readonly remembered = new Map<string, string[]>()
  private rememberTimer: NodeJS.Timeout | undefined
  /** Owners whose liveness we ping, and those with a ping in flight. */
  private readonly owners = new BoundedMap<string, true>(MAX_WANTED_PEERS)
  /** The addresses an owner's last announce listed, as text and parsed. */
  private readonly ownerAddresses = new BoundedMap<string, { text: string, parsed: Multiaddr[] }>(MAX_WANTED_PEERS)
  private readonly pingTimer: NodeJS.Timeout
  /** The process's timer lag (one probe for every agent of a process: they share its event loop). */
  private readonly health = LocalHealth.acquire()
  /** The ping interval we last asked our importers for (ownerPingIntervalMs of our direct streams' count). */
  private advertisedPingIntervalMs = LIVENESS_PING_INTERVAL_MS
  /** Pings the owners, asks helpers when one is late (probe.ts); an owner late for both is lost until it answers. */
  private readonly liveness: OwnerLiveness
  /** Serves other peers' ping-reqs (bounded). */
  private readonly probeHelper: ProbeHelper
  private readonly gossipCheckTimer: NodeJS.Timeout
  private readonly gossipGraceMs: number
  private readonly heartbeat: QuietHeartbeat
  /** Topics we subscribe to: what a direct frame may carry. */
  private readonly topics = new Set<string>()
  /** Topics we published direct messages on: a peer subscribing to one gets its direct stream opened at once. */
  private readonly directTopics = new Set<string>()
  /** Our direct streams, by peer. */
  private readonly directOut = new Map<string, DirectOut>()
  /** Our own listen addresses as text, and when they were read (performance.now()): see OWN_ADDRESSES_TTL_MS. */
  private ownAddresses: { text: string[], at: number } | undefined
  private stopped = false
  private readonly log: Logger

  /** `control`: the application's control topic, whose subscription tells that a peer is ready. */
  constructor (private readonly node: MeshNode, private readonly control: string, private readonly events: MeshTransportEvents,
    private readonly options: Libp2pMeshOptions) {
    this.peerId = node.peerId.toString()
    this.log = options.log ?? silentLogger
    this.liveness = new OwnerLiveness({
      ping: (peer, signal) => this.pingPeer(peer, signal),
      helpers: target => this.probeHelpers(target),
      ask: async (helper, target, signal) => await this.askHelper(helper, target, signal),
      stretch: ms => this.health.stretch(ms),
      lost: (peer, confirmed) => { this.events.peerDisconnected(peer, false, confirmed) },
      back: peer => { this.events.peerReady(peer) },
      abort: peer => {
        const id = this.connected.get(peer)
        if (id !== undefined) for (const c of this.node.getConnections(id)) c.abort(new OwnerUnresponsiveError(peer, LIVENESS_ABORT_MS))
      },
      log: this.log
    })
    this.probeHelper = new ProbeHelper(this.peerId, {
      ping: (peer, signal) => this.pingPeer(peer, signal),
      unansweredForMs: peer => this.liveness.unansweredForMs(peer),
      heardWithin: (peer, ms) => this.liveness.heardWithin(peer, ms),
      hint: peer => { if (this.owners.has(peer)) this.liveness.hint(peer) },
      stretch: ms => this.health.stretch(ms),
      rejected: (reason, detail) => { this.events.rejected?.(reason, detail) }
    })
    this.pingTimer = setInterval(() => {
      this.liveness.tick(this.owners.keys())
      this.advertisePingInterval()
    }, LIVENESS_PING_INTERVAL_MS)
    this.pingTimer.unref()
    this.gossipGraceMs = options.gossipStreamGraceMs ?? GOSSIP_STREAM_GRACE_MS
    this.gossipCheckTimer = setInterval(() => this.dropConnectionsWithoutGossip(), Math.min(GOSSIP_CHECK_INTERVAL_MS, this.gossipGraceMs / 2))
    this.gossipCheckTimer.unref()
    this.heartbeat = new QuietHeartbeat(node.services.pubsub)
    node.services.pubsub.addEventListener('message', evt => {
      const m = evt.detail
      // StrictSign (the default) drops unsigned messages; `from` is then the authenticated publisher.
      if (m.type === 'signed') events.message(m.topic, m.from.toString(), m.data)
    })
    node.services.pubsub.addEventListener('subscription-change', evt => {
      const peer = evt.detail.peerId.toString()
      for (const s of evt.detail.subscriptions) {
        if (s.subscribe && s.topic === control) events.peerReady(peer)
        // A new importer of what we export: its direct stream is ready before our next change.
        if (s.subscribe && this.directTopics.has(s.topic)) this.openDirect(evt.detail.peerId)
      }
    })
    // Our addresses changed (listening, closing, an address confirmed): the next announce reads them again.
    const forgetOwnAddresses = (): void => { this.ownAddresses = undefined }
    node.addEventListener('self:peer:update', forgetOwnAddresses)
    node.addEventListener('transport:listening', forgetOwnAddresses)
    node.addEventListener('transport:close', forgetOwnAddresses)
    node.addEventListener('peer:connect', evt => {
      this.heartbeat.activity()
      const peer = evt.detail.toString()
      this.connected.set(peer, evt.detail)
      const wanted = this.wanted.get(peer)
      if (wanted !== undefined) wanted.attempts = 0
    })
    node.addEventListener('peer:disconnect', evt => {
      this.heartbeat.activity()
      const peer = evt.detail.toString()
      this.connected.delete(peer)
      this.liveness.forget(peer)
      this.directOut.delete(peer)
      events.peerDisconnected(peer)
      // Only the peers we want (bootstrap, remembered at start, owners we import from) are redialled; a peer that
      // dialled us redials us itself if it wants us. Redialling every peer met made both ends dial at once: at 100
      // agents, each Tomcat redialled dozens of Apaches that were redialling it, and its handshakes timed out by the
      // hundred.
      this.scheduleDial(peer)
    })
    node.addEventListener('connection:open', evt => {
      // A peer that dials us again considers the connection it dialled before dead (it was cut off, then healed):
      // ours may look alive (no reset ever came) and would keep gossipsub's stream to that peer on it, so drop it.
      // Only a connection it dialled: when both sides dial each other at once (both redial after a blip), each
      // dropping its older connection dropped both, and both redialled again, in a loop.
      const fresh = evt.detail
      if (fresh.direction !== 'inbound') return
      for (const old of node.getConnections(fresh.remotePeer)) {
        if (old.id !== fresh.id && old.direction === 'inbound' && old.timeline.open < fresh.timeline.open) {
          old.abort(new SupersededConnectionError(fresh.remotePeer.toString()))
        }
      }
    })
    node.addEventListener('peer:identify', evt => {
      const peer = evt.detail.peerId.toString()
      const addresses = evt.detail.listenAddrs.slice(0, MAX_PEER_ADDRESSES).map(a => withPeerId(a, peer))
      if (this.trusted.has(peer)) this.remember(peer, addresses.map(a => a.toString()))
      else this.identified.set(peer, addresses.map(a => a.toString()))
      const wanted = this.wanted.get(peer)
      if (wanted !== undefined) wanted.addresses = addresses
    })
    if (options.mdns === true) {
      node.addEventListener('peer:discovery', evt => {
        const peer = evt.detail.id.toString()
        if (peer !== this.peerId) this.want(peer, evt.detail.multiaddrs.map(a => withPeerId(a, peer)))
      })
    }
  }

  async start (bootstrapPeers: string[]): Promise<void> {
    await this.node.handle(PROBE_PROTOCOL, (stream, connection) => { this.acceptProbe(stream, connection) },
      { maxInboundStreams: MAX_PROBES_PER_REQUESTER + 1, maxOutboundStreams: MAX_PROBES_PER_REQUESTER + 1 })
    await this.node.handle(DIRECT_PROTOCOL, (stream, connection) => { this.acceptDirect(stream, connection) },
      { maxInboundStreams: MAX_DIRECT_STREAMS, maxOutboundStreams: MAX_DIRECT_STREAMS })
    for (const entry of await readRememberedPeers(this.options.stateDir, this.log)) {
      this.remembered.set(entry.peerId, entry.addresses)
      this.trusted.set(entry.peerId, true)
      this.want(entry.peerId, entry.addresses.map(a => multiaddr(a)))
    }
    for (const text of bootstrapPeers) {
      let address: Multiaddr
      try {
        address = multiaddr(text)
      } catch (err) {
        this.log.warn(`ignoring bootstrap peer ${JSON.stringify(text)}: ${errorMessage(err)}`)
        continue
      }
      const peer = peerIdOf(address)
      if (peer === undefined) {
        this.log.warn(`ignoring bootstrap peer ${text}: it lacks /p2p/<peer id>`)
        continue
      }
      if (peer === this.peerId) continue
      this.trusted.set(peer, true)
      this.want(peer, [address])
    }
  }

  trustPeer (peerId: string): void {
    if (this.trusted.has(peerId)) return
    this.trusted.set(peerId, true)
    const addresses = this.identified.peek(peerId)
    if (addresses === undefined) return
    this.identified.delete(peerId)
    this.remember(peerId, addresses)
  }

  peerCounts (): TransportPeerCounts {
    return { wanted: this.wanted.size, watched: this.owners.size, remembered: this.remembered.size, dials: this.dialsStarted, probes: this.probeCounts() }
  }

  addresses (): string[] {
    const now = performance.now()
    if (this.ownAddresses === undefined || now - this.ownAddresses.at > OWN_ADDRESSES_TTL_MS) {
      this.ownAddresses = { text: this.node.getMultiaddrs().map(a => a.toString()), at: now }
    }
    return [...this.ownAddresses.text]
  }

  subscribe (topic: string): void {
    this.topics.add(topic)
    this.node.services.pubsub.subscribe(topic)
  }

  unsubscribe (topic: string): void {
    this.topics.delete(topic)
    this.node.services.pubsub.unsubscribe(topic)
  }

  async publish (topic: string, data: Uint8Array, options?: PublishOptions): Promise<void> {
    if (this.stopped) return
    this.heartbeat.activity()
    if (options?.to !== undefined) {
      const frame = encodeDirectFrame(topic, data)
      let allConnected = true
      for (const peer of options.to) {
        const id = this.connected.get(peer)
        if (id !== undefined && this.isConnected(peer)) this.sendDirect(id, frame)
        else allConnected = false
      }
      if (!allConnected) await this.node.services.pubsub.publish(topic, data)
      return
    }
    if (options?.direct === true) {
      this.directTopics.add(topic)
      const frame = encodeDirectFrame(topic, data)
      for (const peer of this.node.services.pubsub.getSubscribers(topic)) this.sendDirect(peer, frame)
    }
    if (options?.gossip !== false) await this.node.services.pubsub.publish(topic, data)
  }

  stretchForLag (ms: number): number {
    return this.health.stretch(ms)
  }

  isConnected (peerId: string): boolean {
    // libp2p's own status too: an aborted connection is closing before its disconnect event (if any) arrives.
    const id = this.connected.get(peerId)
    return id !== undefined && !this.liveness.isUnresponsive(peerId) && this.node.getConnections(id).some(c => c.status === 'open')
  }

  connectedPeers (): string[] {
    return [...this.connected.keys()]
  }

  watchPeer (peerId: string, addresses: string[]): void {
    this.owners.set(peerId, true)
    // Every announce of an owner lists its addresses, nearly always the same: parsed once (a parse is most of a
    // received announce's handling).
    const text = addresses.slice(0, MAX_PEER_ADDRESSES).join(' ')
    const known = this.ownerAddresses.get(peerId)
    if (known?.text === text) return this.want(peerId, known.parsed)
    const parsed: Multiaddr[] = []
    for (const a of addresses.slice(0, MAX_PEER_ADDRESSES)) {
      try {
        parsed.push(withPeerId(multiaddr(a), peerId))
      } catch {
        // An owner's unusable address is skipped; the others (or its own dial to us) may work.
      }
    }
    this.ownerAddresses.set(peerId, { text, parsed })
    this.want(peerId, parsed)
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.pingTimer)
    this.liveness.stop()
    clearInterval(this.gossipCheckTimer)
    this.health.release()
    this.heartbeat.stop()
    for (const w of this.wanted.values()) clearTimeout(w.timer)
    if (this.rememberTimer !== undefined) {
      clearTimeout(this.rememberTimer)
      await writeRememberedPeers(this.options.stateDir, this.remembered, this.log)
    }
    await this.node.stop()
  }

  // ---------------------------------------------------------------------------------------------- direct streams

  /** A peer's direct stream: each frame is a message of that peer, on a topic we subscribe to. */
  private acceptDirect (stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString()
    const reader = new DirectFrameReader()
    stream.addEventListener('message', evt => {
      let frames
      try {
        frames = reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray())
      } catch (err) {
        this.log.warn(`direct stream from ${from}: ${errorMessage(err)}; the stream is dropped`)
        stream.abort(err as Error)
        return
      }
      if (frames.length > 0) this.liveness.heard(from)
      for (const frame of frames) {
        if (frame.topic === LIVENESS_TOPIC) {
          const ms = decodePingInterval(frame.data)
          if (ms === undefined) this.events.rejected?.('liveness-malformed', `ping interval from ${from}: ${frame.data.byteLength} bytes, not a whole number of ms`)
          else this.liveness.setPingInterval(from, ms)
          continue
        }
        trace('direct.receive', `${from} ${frame.data.byteLength}`)
        if (!this.topics.has(frame.topic)) continue
        this.heartbeat.activity()
        this.events.message(frame.topic, from, frame.data)
      }
    })
  }

  /** Writes a frame on our direct stream to the peer, opening it first if needed (frames wait, up to a bound). */
  private sendDirect (peer: PeerId, frame: Uint8Array): void {
    const out = this.directOut.get(peer.toString())
    if (out?.stream !== undefined && out.stream.status === 'open' && out.stream.writeStatus === 'writable') {
      out.stream.send(frame)
      return
    }
    this.openDirect(peer, frame)
  }

  private openDirect (peer: PeerId, frame?: Uint8Array): void {
    const key = peer.toString()
    let out = this.directOut.get(key)
    if (out === undefined || (out.stream !== undefined && !out.opening)) {
      // A new importer learns first how often to ping us, when that is not the default.
      out = { opening: false, queue: this.advertisedPingIntervalMs === LIVENESS_PING_INTERVAL_MS ? [] : [this.pingIntervalFrame()] }
      this.directOut.set(key, out)
    }
    // The gossip copy follows anyway: frames beyond the bound are not worth the memory of a stuck stream.
    if (frame !== undefined && out.queue.length < MAX_DIRECT_QUEUED_FRAMES) out.queue.push(frame)
    if (out.opening) return
    const connection = this.node.getConnections(peer).find(c => c.status === 'open')
    if (connection === undefined) {
      this.directOut.delete(key)
      return
    }
    out.opening = true
    const entry = out
    connection.newStream(DIRECT_PROTOCOL, { signal: AbortSignal.timeout(this.health.stretch(DIRECT_OPEN_TIMEOUT_MS)) })
      .then(stream => {
        entry.opening = false
        if (this.stopped || this.directOut.get(key) !== entry) {
          stream.abort(new Error('not needed any more'))
          return
        }
        // A peer that stops reading (frozen) must not make us buffer without end: past this the stream is reset.
        stream.maxWriteBufferLength = MAX_DIRECT_WRITE_BUFFER_BYTES
        stream.addEventListener('close', () => { if (this.directOut.get(key) === entry) this.directOut.delete(key) }, { once: true })
        entry.stream = stream
        for (const queued of entry.queue.splice(0)) stream.send(queued)
      })
      .catch(err => {
        entry.opening = false
        if (this.directOut.get(key) === entry) this.directOut.delete(key)
        this.log.debug(`no direct stream to ${key}: ${errorMessage(err)}`)
      })
  }

  // ---------------------------------------------------------------------------------------------- liveness

  private pingIntervalFrame (): Uint8Array {
    return encodeDirectFrame(LIVENESS_TOPIC, encodePingInterval(this.advertisedPingIntervalMs))
  }

  /**
   * As an owner: the ping interval our importers (the peers of our direct streams) should use, told to each of them
   * when it changes (it doubles as their count doubles past LIVENESS_OWNER_PINGS_PER_SECOND), so that we answer about
   * that many pings a second however many import from us.
   */
  private advertisePingInterval (): void {
    const wanted = ownerPingIntervalMs(this.directOut.size)
    if (wanted === this.advertisedPingIntervalMs) return
    this.advertisedPingIntervalMs = wanted
    this.log.info(`${this.directOut.size} importers: asking them to ping us every ${wanted} ms`)
    const frame = this.pingIntervalFrame()
    for (const [peer, out] of this.directOut) {
      if (out.stream !== undefined && out.stream.status === 'open' && out.stream.writeStatus === 'writable') out.stream.send(frame)
      else if (out.queue.length < MAX_DIRECT_QUEUED_FRAMES) out.queue.push(frame)
      else this.log.debug(`ping interval not sent to ${peer}: its direct stream is full`)
    }
  }

  /** The direct ping of a peer on its open connection; undefined when not connected. */
  private pingPeer (peer: string, signal: AbortSignal): DirectPing | undefined {
    const id = this.connected.get(peer)
    const connection = id === undefined ? undefined : this.node.getConnections(id).find(c => c.status === 'open')
    if (connection === undefined) return undefined
    const options = { signal }
    const answered = sessionPing(connection)?.ping(options) ?? this.node.services.ping.ping(connection.remotePeer, options)
    return { answered, isOpen: () => connection.status === 'open' }
  }

  probeCounts (): ProbeCounts & { served: number } {
    return { ...this.liveness.counts, served: this.probeHelper.served }
  }

  /**
   * Connected peers to ask about a late owner: first those subscribed to an exports topic of ours (they import what
   * we import, so are connected to the same owners), then the others, each group shuffled.
   */
  private probeHelpers (target: string): string[] {
    const pubsub = this.node.services.pubsub
    const importers = new Set<string>()
    for (const topic of this.topics) {
      if (topic !== this.control) for (const p of pubsub.getSubscribers(topic)) importers.add(p.toString())
    }
    const candidates = [...this.connected.keys()].filter(p => p !== target && !this.liveness.isUnresponsive(p))
    const shuffled = candidates.map(p => ({ p, key: (importers.has(p) ? 0 : 1) + Math.random() })).sort((a, b) => a.key - b.key)
    return shuffled.map(c => c.p)
  }

  /** Sends a ping-req to `helper` about `target` and reads its one-byte answer. */
  private async askHelper (helper: string, target: string, signal: AbortSignal): Promise<ProbeAnswer> {
    const id = this.connected.get(helper)
    const connection = id === undefined ? undefined : this.node.getConnections(id).find(c => c.status === 'open')
    if (connection === undefined) return 'unknown'
    const stream = await connection.newStream(PROBE_PROTOCOL, { signal })
    try {
      return await new Promise<ProbeAnswer>((resolve, reject) => {
        const onAbort = (): void => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        stream.addEventListener('message', evt => {
          signal.removeEventListener('abort', onAbort)
          resolve(decodeProbeAnswer(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()))
        }, { once: true })
        stream.addEventListener('close', () => { signal.removeEventListener('abort', onAbort); resolve('unknown') }, { once: true })
        stream.send(encodeProbeRequest(target))
      })
    } finally {
      stream.abort(new Error('ping-req done'))
    }
  }

  /** Another peer's ping-req: read the target, ping it if we are connected to it, answer one byte. */
  private acceptProbe (stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString()
    let buffered = new Uint8Array(0)
    let asked = false
    stream.addEventListener('message', evt => {
      if (asked) return
      const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      const joined = new Uint8Array(buffered.byteLength + chunk.byteLength)
      joined.set(buffered)
      joined.set(chunk, buffered.byteLength)
      buffered = joined
      let target: string | undefined
      try {
        target = decodeProbeRequest(buffered)
      } catch (err) {
        this.events.rejected?.('probe-malformed', `ping-req from ${from}: ${errorMessage(err)}`)
        stream.abort(err as Error)
        return
      }
      if (target === undefined) return
      asked = true
      void this.probeHelper.serve(from, target).then(answer => {
        // The requester may have given up meanwhile (its stream is then closed): nothing to answer.
        if (stream.status !== 'open' || stream.writeStatus !== 'writable') return
        if (answer === undefined) return stream.abort(new Error('ping-req refused'))
        try {
          stream.send(encodeProbeAnswer(answer))
          void stream.close().catch(() => {})
        } catch (err) {
          this.log.debug(`could not answer the ping-req of ${from}: ${errorMessage(err)}`)
        }
      })
    })
  }

  /**
   * Aborts the connections of peers never seen subscribed to the control topic after the grace: their
   * gossipsub stream towards us failed to open (under load) or closed, and gossipsub does not open it again, so we
   * would never hear from them. The redial opens fresh streams. The peer does the same for our stream towards it.
   */
  private dropConnectionsWithoutGossip (): void {
    if (this.stopped) return
    const subscribers = new Set(this.node.services.pubsub.getSubscribers(this.control).map(p => p.toString()))
    const now = Date.now()
    // A starved agent opens streams late too: its own lag extends the grace, as for pings.
    const graceMs = this.health.stretch(this.gossipGraceMs)
    for (const connection of this.node.getConnections()) {
      const peer = connection.remotePeer.toString()
      if (connection.status !== 'open' || now - connection.timeline.open < graceMs || subscribers.has(peer)) continue
      this.log.info(`peer ${peer} connected for ${Math.round((now - connection.timeline.open) / 1000)} s without gossip: reconnecting`)
      connection.abort(new GossipStreamMissingError(peer))
    }
  }

  // ---------------------------------------------------------------------------------------------- dialling

  private want (peerId: string, addresses: Multiaddr[]): void {
    if (peerId === this.peerId) return
    const known = this.wanted.get(peerId)
    if (known !== undefined) {
      if (addresses.length > 0 && !known.dialling) known.addresses = addresses.slice(0, MAX_PEER_ADDRESSES)
      // Wanted now (an owner we import from is not connected): skip what remains of its backoff.
      if (known.timer !== undefined && !this.connected.has(peerId)) {
        clearTimeout(known.timer)
        known.timer = undefined
      }
    } else {
      this.wanted.set(peerId, { addresses: addresses.slice(0, MAX_PEER_ADDRESSES), attempts: 0, dialling: false })
    }
    this.scheduleDial(peerId, 0)
  }

  /** Dials a wanted, disconnected peer after a delay growing with its failed attempts (libp2p's bootstrap dials once). */
  private scheduleDial (peerId: string, delayMs?: number): void {
    const w = this.wanted.get(peerId)
    if (this.stopped || w === undefined || w.timer !== undefined || w.dialling || this.connected.has(peerId)) return
    const delay = delayMs ?? (w.attempts === 0 ? 0 : backoffMs(w.attempts - 1, { initialMs: REDIAL_MIN_DELAY_MS, maxMs: REDIAL_MAX_DELAY_MS, jitter: 0.25 }))
    w.timer = setTimeout(() => {
      w.timer = undefined
      this.dialQueue.push(peerId)
      this.pumpDials()
    }, delay)
    w.timer.unref()
  }

  private pumpDials (): void {
    while (!this.stopped && this.dialsInFlight < MAX_CONCURRENT_DIALS && this.dialQueue.length > 0) {
      const peerId = this.dialQueue.shift() as string
      const w = this.wanted.get(peerId)
      if (w === undefined || w.dialling || this.connected.has(peerId) || w.addresses.length === 0) continue
      w.dialling = true
      this.dialsInFlight++
      this.dialsStarted++
      // A dial is 5 round trips of handshakes: on a starved host each waits for both event loops, so our own lag
      // extends the timeout (cut short, the handshakes done so far are wasted and the redial costs them again).
      this.node.dial(w.addresses, { signal: AbortSignal.timeout(this.health.stretch(DIAL_TIMEOUT_MS)) })
        .then(() => { w.attempts = 0 })
        .catch(err => {
          w.attempts++
          this.log.debug(`dial ${peerId} failed (attempt ${w.attempts}): ${errorMessage(err)}`)
          // An owner we import from that refuses the dial is gone: its exports go at once. A dial that merely timed
          // out proves nothing (a loaded owner handshakes slowly): the owner keeps its grace.
          if (this.owners.has(peerId) && !this.connected.has(peerId) && isRefusal(err)) this.events.peerDisconnected(peerId, true)
        })
        .finally(() => {
          w.dialling = false
          this.dialsInFlight--
          this.scheduleDial(peerId)
          this.pumpDials()
        })
    }
  }

  // ---------------------------------------------------------------------------------------------- remembered peers

  private remember (peerId: string, addresses: string[]): void {
    if (addresses.length === 0) return
    this.remembered.delete(peerId)
    this.remembered.set(peerId, addresses)
    while (this.remembered.size > MAX_REMEMBERED_PEERS) this.remembered.delete(this.remembered.keys().next().value as string)
    if (this.rememberTimer !== undefined) return
    this.rememberTimer = setTimeout(() => {
      this.rememberTimer = undefined
      void writeRememberedPeers(this.options.stateDir, this.remembered, this.log)
    }, REMEMBERED_PEERS_WRITE_DELAY_MS)
    this.rememberTimer.unref()
  }
}
