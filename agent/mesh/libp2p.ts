// The mesh over libp2p: one node per agent (TCP, Noise, yamux, identify, ping, gossipsub), admitted by the
// application's pnet key, finding peers from the DM's bootstrap list and the peers remembered from the last run,
// redialled with backoff; the owners this agent imports from are pinged: one that does not answer in time counts as
// lost until it does, and a long-silent one's connection is aborted. The mesh logic itself is MeshService (service.ts).
// libp2p 3 calls Promise.withResolvers (Node 22): the polyfill must be evaluated before libp2p's modules.
import '../polyfill.js'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
// Before any private-network connection: xsalsa20's detached-memory fix (xsalsa20-guard.ts says why).
import './xsalsa20-guard.js'
import { mdns } from '@libp2p/mdns'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import type { ImportListener, MeshFactory } from '../ports.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import { controlTopic, pnetKeyBytes } from '../../protocol/mesh.js'
import { MeshService, type MeshServiceHandle, type MeshServiceOptions, type MeshTransport, type MeshTransportEvents, type PublishOptions, type TransportPeerCounts } from './service.js'
import { BoundedMap } from './bounded.js'
import { loadOrCreatePeerIdentity } from './identity.js'
import { nextMeshEpoch } from './epoch.js'
import { LocalHealth } from './health.js'
import { QuietHeartbeat } from './quiet-heartbeat.js'
import { OwnerLiveness, ProbeHelper, decodePingInterval, encodePingInterval, ownerPingIntervalMs, decodeProbeAnswer, decodeProbeRequest, encodeProbeAnswer, encodeProbeRequest, type DirectPing, type ProbeAnswer, type ProbeCounts } from './probe.js'
import { DirectFrameReader, encodeDirectFrame } from './direct.js'
import { trace } from '../../common/trace.js'
import { backoffMs } from '../../common/backoff.js'
import { writeAtomically } from '../../common/fs.js'
import {
  DEFAULT_LISTEN_ADDRESS, DIAL_TIMEOUT_MS, MAX_PEER_ADDRESSES, MAX_UNVERIFIED_PEERS, MAX_WANTED_PEERS, LIVENESS_ABORT_MS, LIVENESS_PING_INTERVAL_MS, MAX_PING_STREAMS, MAX_CONCURRENT_DIALS, MAX_REMEMBERED_PEERS, REDIAL_MAX_DELAY_MS, REDIAL_MIN_DELAY_MS,
  REMEMBERED_PEERS_FILE, REMEMBERED_PEERS_WRITE_DELAY_MS, LISTEN_PORTS_FILE, GOSSIP_CHECK_INTERVAL_MS, GOSSIP_STREAM_GRACE_MS,
  DIRECT_PROTOCOL, GOSSIP_HEARTBEAT_INTERVAL_MS, MAX_DIRECT_STREAMS, DIRECT_OPEN_TIMEOUT_MS, MAX_DIRECT_QUEUED_FRAMES, MAX_DIRECT_WRITE_BUFFER_BYTES, MAX_PROBES_PER_REQUESTER, PROBE_PROTOCOL,
  MAX_CONNECTIONS, LIVENESS_TOPIC, OWN_ADDRESSES_TTL_MS, GOSSIP_HISTORY_HEARTBEATS, GOSSIP_LAZY_PEERS
} from './constants.js'
import { errorMessage } from '../../protocol/errors.js'
import { silentLogger, type Logger } from '../../common/log.js'

export type MeshServices = { identify: Identify, ping: Ping, pubsub: GossipSub }
export type MeshNode = Libp2p<MeshServices>
type DiscoveryFactory = NonNullable<Libp2pOptions['peerDiscovery']>[number]

export interface Libp2pMeshOptions extends MeshServiceOptions {
  /** The agent's state folder: holds `peer-key` (unless `privateKey` is given) and `mesh-peers.json`. Required. */
  stateDir: string
  /** The agent's libp2p key; default: loaded from (or created in) `<stateDir>/peer-key`. */
  privateKey?: PrivateKey
  /**
   * Multiaddrs to listen on; default [`/ip4/127.0.0.1/tcp/0`] (loopback, any free port). A tcp/0 address gets the
   * port of the last run again (kept in `<stateDir>/mesh-listen.json`) while it is free.
   */
  listen?: string[]
  /** Discover peers with mDNS on the LAN; default false (the bootstrap list and remembered peers suffice). */
  mdns?: boolean
  /**
   * CIDR multiaddrs exempt from libp2p's inbound rate limit (5 connections/s per host), for hosts running many
   * agents; default [`/ip4/127.0.0.0/ipcidr/8`].
   */
  allow?: string[]
  log?: Logger
  /**
   * On this signal the mesh prints its view (what it holds, from which peer, how old) as one JSON line on stdout;
   * default 'SIGUSR2' (`kill -USR2 <agent pid>`); null: no signal handler.
   */
  viewSignal?: NodeJS.Signals | null
  /**
   * A connection whose peer has not shown up subscribed to the control topic after this long, in ms, is aborted and
   * redialled (a gossip stream that failed to open); default GOSSIP_STREAM_GRACE_MS (30 000).
   */
  gossipStreamGraceMs?: number
}

/** The engine's MeshFactory over libp2p, with these node options. */
export function libp2pMeshFactory (options: Libp2pMeshOptions): MeshFactory {
  return async (model, parameters, listener) => await startLibp2pMesh(model, parameters, listener, options)
}

/** Starts a libp2p mesh node for a scoped model. Throws InvalidPnetKeyError for a malformed pnet key. */
export async function startLibp2pMesh (model: ScopedModel, parameters: MeshParameters, listener: ImportListener,
  options: Libp2pMeshOptions): Promise<MeshServiceHandle> {
  const psk = pnetKeyBytes(parameters.pnetKey)
  const privateKey = options.privateKey ?? (await loadOrCreatePeerIdentity(options.stateDir)).privateKey
  const epoch = options.epoch ?? await nextMeshEpoch(options.stateDir, options.log)
  const service = new MeshService({ model, parameters, listener, log: options.log }, { ...options, epoch })
  const node = await startOnRememberedPorts(options, privateKey, psk)
  const transport = new Libp2pTransport(node, controlTopic(model.application), service.transportEvents, options)
  service.start(transport)
  await transport.start([...parameters.bootstrapPeers])
  const signal = options.viewSignal === undefined ? 'SIGUSR2' : options.viewSignal
  if (signal === null) return service
  const unwatch = printViewOn(signal, service)
  const stop = service.stop.bind(service)
  service.stop = async () => {
    unwatch()
    await stop()
  }
  return service
}

/**
 * A libp2p transport for another exchange than the application's mesh (the domain exchange, agent/mesh/domain.ts):
 * the same node settings, its own pnet key, control topic and state folder (ports and remembered peers). Call
 * `begin` once the service is wired to the events: it dials the bootstrap peers.
 */
export async function createLibp2pTransport (psk: Uint8Array, control: string, events: MeshTransportEvents,
  options: Libp2pMeshOptions & { privateKey: PrivateKey }): Promise<{ transport: MeshTransport, begin: (bootstrapPeers: string[]) => Promise<void> }> {
  const node = await startOnRememberedPorts(options, options.privateKey, psk)
  const transport = new Libp2pTransport(node, control, events, options)
  return { transport, begin: async peers => { await transport.start(peers) } }
}

/**
 * Starts the node; an address asking for any free port (tcp/0) gets the port it had in the last run, so that the
 * addresses the other agents remember for this peer stay right after a restart (with the DM down, they are how the
 * mesh finds it again). When that port is taken now, any free port.
 */
async function startOnRememberedPorts (options: Libp2pMeshOptions, privateKey: PrivateKey, psk: Uint8Array): Promise<MeshNode> {
  const requested = options.listen ?? [DEFAULT_LISTEN_ADDRESS]
  const file = join(options.stateDir, LISTEN_PORTS_FILE)
  let remembered: Record<string, number> = {}
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
    if (typeof parsed === 'object' && parsed !== null) remembered = parsed as Record<string, number>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') options.log?.warn(`ignoring ${file}: ${errorMessage(err)}`)
  }
  const anyPort = (address: string): boolean => /\/tcp\/0$/.test(address)
  const reused = requested.map(a => anyPort(a) && Number.isInteger(remembered[a]) && remembered[a] > 0 ? a.replace(/\/tcp\/0$/, `/tcp/${remembered[a]}`) : a)
  let node: MeshNode
  try {
    node = await createMeshNode({ ...options, listen: reused, privateKey, psk })
  } catch (err) {
    if (reused.every((a, i) => a === requested[i])) throw err
    options.log?.info(`could not listen on the ports of the last run (${errorMessage(err)}): taking free ones`)
    node = await createMeshNode({ ...options, listen: requested, privateKey, psk })
  }
  const ports: Record<string, number> = {}
  for (const address of requested.filter(anyPort)) {
    const host = address.replace(/\/tcp\/0$/, '')
    const bound = node.getMultiaddrs().map(m => m.toString()).find(m => m.startsWith(`${host}/tcp/`)) ??
      node.getMultiaddrs().map(m => m.toString()).find(m => m.includes('/tcp/'))
    const port = Number(bound?.match(/\/tcp\/(\d+)/)?.[1])
    if (Number.isInteger(port) && port > 0) ports[address] = port
  }
  try {
    await writeAtomically(file, JSON.stringify(ports))
  } catch (err) {
    options.log?.warn(`could not remember the mesh's ports in ${file}: ${errorMessage(err)}`)
  }
  return node
}

/** Meshes printing their view on each signal: one process listener per signal, however many meshes a process runs. */
const viewPrinters = new Map<NodeJS.Signals, { services: Set<MeshServiceHandle>, print: () => void }>()

function printViewOn (signal: NodeJS.Signals, service: MeshServiceHandle): () => void {
  let printer = viewPrinters.get(signal)
  if (printer === undefined) {
    const services = new Set<MeshServiceHandle>()
    printer = { services, print: () => { for (const s of services) process.stdout.write(JSON.stringify(s.view()) + '\n') } }
    viewPrinters.set(signal, printer)
    process.on(signal, printer.print)
  }
  const { services, print } = printer
  services.add(service)
  return () => {
    services.delete(service)
    if (services.size > 0) return
    process.off(signal, print)
    viewPrinters.delete(signal)
  }
}

export interface MeshNodeOptions {
  privateKey: PrivateKey
  /** The application's pnet key bytes (pnetKeyBytes); without it the node is outside every private network. */
  psk?: Uint8Array
  listen?: string[]
  allow?: string[]
  mdns?: boolean
}

/**
 * A message's origin and sequence number (its gossipsub id under StrictSign), computed before the signature is
 * checked: a copy of a message already accepted from another mesh peer is dropped without verifying it again (each
 * message arrives once per mesh peer; verifying every copy cost most of an idle agent's CPU). Only accepted messages
 * enter gossipsub's cache, so a forged copy seen first is still verified, and rejected.
 */
function fastMessageId (message: { from?: Uint8Array, seqno?: Uint8Array }): string {
  const hex = (bytes: Uint8Array | undefined): string => bytes === undefined ? '' : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  return `${hex(message.from)}:${hex(message.seqno)}`
}

/**
 * yamux answers every data frame it receives with a window update: a frame more, a socket write and a wake-up of the
 * sender per message, though our messages are a few hundred bytes against a 256 KiB window. As go-yamux does, an
 * established stream sends its update only once half its window is consumed (the window still only grows by what
 * was read). Opening and closing frames (SYN, ACK) go as before.
 */
function windowUpdatesAtHalf (): void {
  const send = YamuxStream.prototype.sendWindowUpdate
  YamuxStream.prototype.sendWindowUpdate = function (this: YamuxStream): void {
    const window = this as unknown as { recvWindow: number, recvWindowCapacity: number }
    if (this.state === StreamState.Established && window.recvWindowCapacity > window.recvWindow / 2) return
    send.call(this)
  }
}
windowUpdatesAtHalf()

/**
 * libp2p's length-prefixed decoder (it cuts Noise's frames out of the connection's bytes) reads the next frame's
 * length after every frame, and learns that the buffer is empty from the RangeError its length decoder throws: an
 * Error, with its stack trace, for every message received (a third of the transport's CPU per frame, in-process:
 * docs/tuning.md). An empty buffer holds no length whatever the decoder, so the decoding stops there without asking;
 * a partial length (one byte of two) is still found out as before.
 */
function lengthPrefixedDecodingWithoutThrow (): void {
  const proto = LengthPrefixedDecoder.prototype as LengthPrefixedDecoder & { [DECODER_PATCHED]?: true }
  if (proto[DECODER_PATCHED] === true) return
  const decode = proto.decode
  proto.decode = function * (this: LengthPrefixedDecoder, buf: Parameters<LengthPrefixedDecoder['decode']>[0]): ReturnType<LengthPrefixedDecoder['decode']> {
    for (const frame of decode.call(this, buf)) {
      yield frame
      // Leaving the loop ends the original generator where it would have thrown and caught a RangeError.
      if ((this as unknown as { buffer: { byteLength: number } }).buffer.byteLength === 0) return
    }
  }
  proto[DECODER_PATCHED] = true
}
const DECODER_PATCHED = Symbol.for('meshconf.length-prefixed-decoder')
lengthPrefixedDecodingWithoutThrow()

/** A bare libp2p node configured as a mesh node (also used by tests to play a rogue peer). */
export async function createMeshNode (options: MeshNodeOptions): Promise<MeshNode> {
  const peerDiscovery: DiscoveryFactory[] = options.mdns === true ? [mdns()] : []
  return await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: options.listen ?? [DEFAULT_LISTEN_ADDRESS] },
    connectionManager: { allow: options.allow ?? ['/ip4/127.0.0.0/ipcidr/8'], maxConnections: MAX_CONNECTIONS },
    // Owners' liveness is pinged by the transport itself (see LIVENESS_PING_INTERVAL_MS).
    connectionMonitor: { enabled: false },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(options.psk !== undefined ? { connectionProtector: preSharedKey({ psk: options.psk }) } : {}),
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: MAX_PING_STREAMS, maxInboundStreams: MAX_PING_STREAMS }),
      pubsub: gossipsub({
        emitSelf: false,
        // stretched while the mesh is quiet (quiet-heartbeat.ts)
        heartbeatInterval: GOSSIP_HEARTBEAT_INTERVAL_MS,
        fastMsgIdFn: fastMessageId,
        // IHAVE gossip to 3 peers per topic and heartbeat (default 6, or a quarter of the topic's peers): enough to
        // bridge agents whose topic mesh forms an island, at half the frames; an idle mesh sends none. About the
        // messages of the last heartbeat only (GOSSIP_HISTORY_HEARTBEATS).
        Dlazy: GOSSIP_LAZY_PEERS,
        gossipFactor: 0,
        mcacheGossip: GOSSIP_HISTORY_HEARTBEATS,
        // A topic's mesh of 2 to 4 peers (gossipsub's defaults: 4 to 12). An agent publishes its own messages to every
        // subscribed peer it is connected to (flood publish), and importers connect to their owners, so forwarding
        // mostly delivers duplicates: each costs the receiver a decryption, a decoding and a window update, so a
        // smaller mesh makes a change both cheaper and faster (docs/tuning.md). Newcomers bootstrap from several
        // agents, so pruning does not isolate them; IHAVE gossip bridges what remains.
        D: 3,
        Dlo: 2,
        Dhi: 4,
        Dscore: 2,
        Dout: 1,
        // No IDONTWANT (gossipsub 1.2) for messages under 64 KiB: ours are under 2 KiB, so telling every mesh peer not to
        // forward one costs as much as receiving the duplicate.
        idontwantMinDataSize: 65_536,
        allowPublishToZeroTopicPeers: true,
        // Every agent of a host shares its IP: the colocation penalty would graylist them (libp2p-on-node20 G4).
        scoreParams: { IPColocationFactorWeight: 0 }
      })
    }
  })
}

interface WantedPeer {
  addresses: Multiaddr[]
  attempts: number
  timer?: NodeJS.Timeout
  dialling: boolean
}

interface RememberedPeer { peerId: string, addresses: string[] }

/** Our direct stream to one peer: open, or being opened with the frames that wait for it. */
interface DirectOut { stream?: Stream, opening: boolean, queue: Uint8Array[] }

class Libp2pTransport implements MeshTransport {
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
    for (const entry of await this.readRemembered()) {
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
      await this.writeRemembered()
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
      void this.writeRemembered()
    }, REMEMBERED_PEERS_WRITE_DELAY_MS)
    this.rememberTimer.unref()
  }

  private async readRemembered (): Promise<RememberedPeer[]> {
    const file = join(this.options.stateDir, REMEMBERED_PEERS_FILE)
    try {
      const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
      if (!Array.isArray(parsed)) throw new Error('not a list')
      return parsed.filter((e): e is RememberedPeer => typeof e?.peerId === 'string' && Array.isArray(e.addresses) &&
        e.addresses.every((a: unknown) => typeof a === 'string'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`ignoring ${file}: ${errorMessage(err)}`)
      return []
    }
  }

  private async writeRemembered (): Promise<void> {
    const file = join(this.options.stateDir, REMEMBERED_PEERS_FILE)
    const entries: RememberedPeer[] = [...this.remembered].map(([peerId, addresses]) => ({ peerId, addresses }))
    try {
      await writeAtomically(file, JSON.stringify(entries, null, 2))
    } catch (err) {
      this.log.warn(`could not remember mesh peers in ${file}: ${errorMessage(err)}`)
    }
  }
}

/**
 * The ping of the connection's stream multiplexer (yamux's session ping: one 12-byte frame each way). A ping-protocol
 * ping opens a stream, which costs both peers about ten frames, a protocol negotiation and peer-store writes: much of
 * an idle agent's CPU (docs/tuning.md). libp2p's Connection does not declare its muxer: absent, the ping protocol is
 * used.
 */
function sessionPing (connection: Connection): PingingMuxer | undefined {
  const muxer = (connection as { muxer?: Partial<PingingMuxer> }).muxer
  return typeof muxer?.ping === 'function' ? muxer as PingingMuxer : undefined
}

/** A stream multiplexer that pings its session; resolves with the round trip in ms. */
interface PingingMuxer { ping: (options: AbortOptions) => Promise<number> }

/** An owner did not answer a liveness ping in time; the connection is aborted. */
export class OwnerUnresponsiveError extends Error {
  constructor (peerId: string, timeoutMs: number) {
    super(`owner ${peerId} did not answer a liveness ping within ${timeoutMs} ms`)
    this.name = 'OwnerUnresponsiveError'
  }
}

/** A connected peer never sent its gossip subscriptions: the connection is aborted and redialled. */
export class GossipStreamMissingError extends Error {
  constructor (peerId: string) {
    super(`peer ${peerId} has no working gossip stream on this connection`)
    this.name = 'GossipStreamMissingError'
  }
}

/** A peer dialled us again: its older connection is presumed dead and aborted. */
export class SupersededConnectionError extends Error {
  constructor (peerId: string) {
    super(`peer ${peerId} opened a new connection; the older one is presumed dead`)
    this.name = 'SupersededConnectionError'
  }
}

/** Codes of a dial that reached the host and was turned away, or found no route: nothing listens there. */
const REFUSAL_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Whether a failed dial was refused (libp2p wraps the socket's error, one per address, in its own errors). */
export function isRefusal (err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false
  const e = err as { code?: unknown, message?: unknown, cause?: unknown, errors?: unknown }
  if (typeof e.code === 'string' && REFUSAL_CODES.has(e.code)) return true
  if (typeof e.message === 'string' && [...REFUSAL_CODES].some(code => (e.message as string).includes(code))) return true
  if (Array.isArray(e.errors) && e.errors.some(inner => isRefusal(inner, depth + 1))) return true
  return isRefusal(e.cause, depth + 1)
}

function peerIdOf (address: Multiaddr): string | undefined {
  return address.getComponents().findLast(c => c.name === 'p2p')?.value
}

function withPeerId (address: Multiaddr, peerId: string): Multiaddr {
  return peerIdOf(address) === undefined ? address.encapsulate(`/p2p/${peerId}`) : address
}
