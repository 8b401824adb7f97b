// What the libp2p transport (transport.ts) reads off connections and addresses: the muxer's session ping, why a
// connection is aborted (one error class each), whether a dial was refused, a multiaddr's peer id.
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, Connection } from '@libp2p/interface'


/**
 * The ping of the connection's stream multiplexer (yamux's session ping: one 12-byte frame each way). A ping-protocol
 * ping opens a stream, which costs both peers about ten frames, a protocol negotiation and peer-store writes: much of
 * an idle agent's CPU (docs/tuning.md). libp2p's Connection does not declare its muxer: absent, the ping protocol is
 * used.
 */
export function sessionPing (connection: Connection): PingingMuxer | undefined {
  const muxer = (connection as { muxer?: Partial<PingingMuxer> }).muxer
  return typeof muxer?.ping === 'function' ? muxer as PingingMuxer : undefined
}

/** A stream multiplexer that pings its session; resolves with the round trip in ms. */
export interface PingingMuxer { ping: (options: AbortOptions) => Promise<number> }

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

export function peerIdOf (address: Multiaddr): string | undefined {
  return address.getComponents().findLast(c => c.name === 'p2p')?.value
}

export function withPeerId (address: Multiaddr, peerId: string): Multiaddr {
  return peerIdOf(address) === undefined ? address.encapsulate(`/p2p/${peerId}`) : address
}
