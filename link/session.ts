// The reliable session under a DM <-> agent link, without sockets: each side numbers what it sends (`seq`) and keeps
// it in an outbox until the other acknowledges it, and sends it all again on a new connection; each side drops the
// replays of what it already handled from the peer's process (`epoch`: a new process numbers from 0 again). The
// carriers (agent/link/websocket.ts, manager/messaging/embedded.ts) move its frames; this holds the rules.
import { randomUUID } from 'node:crypto'

interface OutboxEntry {
  seq: number
  /** The encoded `msg` frame, sent as is (again) on every connection until acknowledged. */
  frame: string
  /** Settles the sender's promise once acknowledged (or dropped at stop). */
  settle?: () => void
}

export class ReliableSession<Out> {
  private nextSeq = 0
  private outbox: OutboxEntry[] = []
  private peerEpoch: string | undefined
  /** Highest peer sequence number accepted in `peerEpoch` (replays at or below it are acknowledged, not handled). */
  private lastAcceptedSeq = -1
  /** Messages the peer acknowledged. */
  acknowledged = 0

  /**
   * @param epoch identifies this process to the peer, which drops replays of messages it already handled from it;
   * default a new random one (a DM gives all its agents' sessions its own)
   */
  constructor (readonly epoch: string = randomUUID()) {}

  /**
   * Numbers a message and keeps it until acknowledged; returns the frame to send now if connected. `sign`: the
   * frame's signature of (seq, the body's JSON text), when the sender signs (the DM's commands). The body is
   * serialized once, for the signature and the frame: the frame is JSON.stringify({ t, seq, body, sig }).
   */
  enqueue (body: Out, settle?: () => void, sign?: (seq: number, bodyJson: string) => string): string {
    const seq = this.nextSeq++
    const bodyJson = JSON.stringify(body)
    const sig = sign?.(seq, bodyJson)
    const frame = `{"t":"msg","seq":${seq},"body":${bodyJson}${sig === undefined ? '' : `,"sig":${JSON.stringify(sig)}`}}`
    this.outbox.push({ seq, frame, settle })
    return frame
  }

  /** What a new connection sends first: every frame not acknowledged yet, in order. */
  unacknowledged (): string[] {
    return this.outbox.map(e => e.frame)
  }

  get waiting (): number {
    return this.outbox.length
  }

  /** The peer acknowledged everything up to `seq`. */
  acknowledge (seq: number): void {
    const done = this.outbox.filter(e => e.seq <= seq)
    if (done.length === 0) return
    this.outbox = this.outbox.filter(e => e.seq > seq)
    this.acknowledged += done.length
    for (const entry of done) entry.settle?.()
  }

  /** The peer (re)introduced itself: a new process of it numbers its messages from 0 again. */
  peerIs (epoch: string): void {
    if (epoch === this.peerEpoch) return
    this.peerEpoch = epoch
    this.lastAcceptedSeq = -1
  }

  /** Whether a received message is new (handle, then acknowledge) or a replay (acknowledge only). */
  accept (seq: number): boolean {
    if (seq <= this.lastAcceptedSeq) return false
    this.lastAcceptedSeq = seq
    return true
  }

  /** The acknowledgement frame of a received message. */
  ackFrame (seq: number): string {
    return JSON.stringify({ t: 'ack', seq })
  }

  /** Gives up what was not acknowledged (stop): settles its senders; returns how many messages were dropped. */
  drop (): number {
    const dropped = this.outbox.splice(0)
    for (const entry of dropped) entry.settle?.()
    return dropped.length
  }
}
