// A bare libp2p node configured as a mesh node (TCP, Noise, yamux, identify, ping, gossipsub with the mesh's
// settings), and the process-wide patches of libp2p's modules that the mesh's CPU cost depends on.
// libp2p 3 calls Promise.withResolvers (Node 22): the polyfill must be evaluated before libp2p's modules.
import '../polyfill.js'
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
import type { PrivateKey } from '@libp2p/interface'
import {
  DEFAULT_LISTEN_ADDRESS, MAX_PING_STREAMS, GOSSIP_HEARTBEAT_INTERVAL_MS, MAX_CONNECTIONS, GOSSIP_HISTORY_HEARTBEATS, GOSSIP_LAZY_PEERS
} from './constants.js'

export type MeshServices = { identify: Identify, ping: Ping, pubsub: GossipSub }
export type MeshNode = Libp2p<MeshServices>
type DiscoveryFactory = NonNullable<Libp2pOptions['peerDiscovery']>[number]

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
