// Gossipsub's heartbeat, stretched while the mesh is quiet. Each heartbeat maintains the topic meshes, sends IHAVE
// gossip about the messages of the last few heartbeats and advances the message cache: in a mesh where nothing has
// happened for GOSSIP_QUIET_HEARTBEATS heartbeats, it has nothing left to gossip and nothing to repair, yet costs
// every agent a wake-up and a pass over its peers each second. So the interval doubles after each quiet heartbeat, up
// to a ceiling, and anything that happens (a message, a publish, a peer coming or going, a subscription, a graft or
// prune) brings the next heartbeat back within the normal interval. Failure detection does not depend on it (pings
// and connection resets do), nor does a change's path (flood publish and direct streams).
// js-libp2p's gossipsub reads its interval from `opts.heartbeatInterval` each time it schedules the next heartbeat;
// those fields are private in its types only (as yamux's, patched in libp2p.ts).
import type { GossipSub } from '@libp2p/gossipsub'
import { GOSSIP_HEARTBEAT_INTERVAL_MS, GOSSIP_QUIET_HEARTBEAT_MAX_INTERVAL_MS, GOSSIP_QUIET_HEARTBEATS } from './constants.js'

/** What this reads and writes of gossipsub 14+ at run time. */
interface HeartbeatInternals {
  opts: { heartbeatInterval: number }
  status: { code: number, heartbeatTimeout?: ReturnType<typeof setTimeout> }
  runHeartbeat: () => void
}

/** Gossipsub's started state (GossipStatusCode.started). */
const STARTED = 0

/** A gossipsub whose heartbeat interval the stretcher cannot find (a version that renamed its internals). */
export class GossipHeartbeatUnsupportedError extends Error {
  constructor () {
    super('this gossipsub has no opts.heartbeatInterval / runHeartbeat: its heartbeat cannot be stretched')
    this.name = 'GossipHeartbeatUnsupportedError'
  }
}

export interface QuietHeartbeatOptions {
  /** The normal interval, in ms; default GOSSIP_HEARTBEAT_INTERVAL_MS (1000, gossipsub's own default). */
  intervalMs?: number
  /** Heartbeats without anything happening before the interval grows; default GOSSIP_QUIET_HEARTBEATS (2). */
  quietHeartbeats?: number
  /** Longest interval, in ms; default GOSSIP_QUIET_HEARTBEAT_MAX_INTERVAL_MS (8000). */
  maxIntervalMs?: number
}

/** Stretches a started gossipsub's heartbeat while nothing happens; `activity()` on anything that does. */
export class QuietHeartbeat {
  private readonly internals: HeartbeatInternals
  private readonly intervalMs: number
  private readonly quietHeartbeats: number
  private readonly maxIntervalMs: number
  /** Heartbeats since the last activity. */
  private quiet = 0
  private readonly onHeartbeat = (): void => { this.heartbeat() }
  private readonly onActivity = (): void => { this.activity() }

  constructor (private readonly pubsub: GossipSub, options: QuietHeartbeatOptions = {}) {
    const internals = pubsub as unknown as Partial<HeartbeatInternals>
    if (typeof internals.opts?.heartbeatInterval !== 'number' || typeof internals.runHeartbeat !== 'function') {
      throw new GossipHeartbeatUnsupportedError()
    }
    this.internals = internals as HeartbeatInternals
    this.intervalMs = options.intervalMs ?? GOSSIP_HEARTBEAT_INTERVAL_MS
    this.quietHeartbeats = options.quietHeartbeats ?? GOSSIP_QUIET_HEARTBEATS
    this.maxIntervalMs = Math.max(this.intervalMs, options.maxIntervalMs ?? GOSSIP_QUIET_HEARTBEAT_MAX_INTERVAL_MS)
    this.internals.opts.heartbeatInterval = this.intervalMs
    pubsub.addEventListener('gossipsub:heartbeat', this.onHeartbeat)
    // gossipsub's own events of activity: messages received, subscriptions, mesh changes
    for (const event of ['message', 'subscription-change', 'gossipsub:graft', 'gossipsub:prune'] as const) {
      pubsub.addEventListener(event, this.onActivity)
    }
  }

  /** The interval the next heartbeat is scheduled with, in ms. */
  currentIntervalMs (): number {
    return this.internals.opts.heartbeatInterval
  }

  /** Something happened (also a publish, a direct message, a peer connected or gone): the normal interval again. */
  activity (): void {
    this.quiet = 0
    const { opts, status } = this.internals
    if (opts.heartbeatInterval === this.intervalMs) return
    opts.heartbeatInterval = this.intervalMs
    // The heartbeat scheduled with the stretched interval comes within the normal one instead.
    if (status.code !== STARTED) return
    clearTimeout(status.heartbeatTimeout)
    status.heartbeatTimeout = setTimeout(this.internals.runHeartbeat, this.intervalMs)
  }

  stop (): void {
    this.pubsub.removeEventListener('gossipsub:heartbeat', this.onHeartbeat)
    for (const event of ['message', 'subscription-change', 'gossipsub:graft', 'gossipsub:prune'] as const) {
      this.pubsub.removeEventListener(event, this.onActivity)
    }
  }

  /** After each heartbeat (before gossipsub schedules the next): a quiet one doubles the interval, to the ceiling. */
  private heartbeat (): void {
    this.quiet++
    if (this.quiet < this.quietHeartbeats) return
    this.internals.opts.heartbeatInterval = Math.min(this.maxIntervalMs, this.internals.opts.heartbeatInterval * 2)
  }
}
