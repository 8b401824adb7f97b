// The protocol simulation's network: a memory transport (agent/mesh/service.ts MeshTransport) per agent, driven by
// the simulated clock, with per-frame latency and loss over a sparse topology like the libp2p mesh's:
// - gossip links: each agent joins by linking to GOSSIP_LINKS random agents already there (mean degree about 4, the
//   gossipsub Dhi of agent/mesh/libp2p.ts); a flooded message reaches an agent after its hop count in that graph;
// - direct links: an importer dials each owner it imports from (watchPeer), as the libp2p transport does, so owners
//   publish their announces and withdraws straight to their importers (one hop).
// What is simplified is listed in docs/scale.md ("Protocol simulation").
import type { MeshTransport, MeshTransportEvents } from '../../agent/mesh/service.js'
import { DIAL_TIMEOUT_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS } from '../../agent/mesh/constants.js'
import type { SimClock } from './clock.js'

export interface SimNetworkOptions {
  /** One-way latency of a hop, in ms; default 0.2 (a LAN). */
  latencyMs?: number
  /** Spread of each hop's latency, as a fraction: 0.2 gives ±20 %; default 0.2. */
  latencyJitter?: number
  /**
   * Probability that a frame is dropped, 0 to 1; default 0. A direct frame is lost with this probability; a flooded
   * one misses an agent only when every gossip link into it drops it (loss^degree).
   */
  loss?: number
  /** Gossip links a joining agent opens to agents already there; default 2 (mean degree 4). */
  gossipLinks?: number
}

/** What one agent sent and received, in frames (with gossip duplicates) and bytes, and the messages it decoded. */
export interface AgentCounters {
  sentFrames: number
  sentBytes: number
  receivedFrames: number
  receivedBytes: number
  /** Messages the agent's MeshService decoded and judged (one per message, duplicates dropped by gossipsub). */
  handled: number
}

const DEFAULT_LATENCY_MS = 0.2
const DEFAULT_LATENCY_JITTER = 0.2
const DEFAULT_GOSSIP_LINKS = 2
/** A connection's set-up before either side may use it: TCP, then Noise (1.5 round trips), in one-way latencies. */
const HANDSHAKE_ONE_WAY_TRIPS = 4
/** A hop-count table stays in use until the mesh grew by this fraction (joins far from a root change it little). */
const HOPS_STALE_GROWTH = 0.01

interface SimAgent {
  index: number
  peerId: string
  events: MeshTransportEvents
  topics: Set<string>
  up: boolean
  /** Agents this one holds a connection with (gossip and dialled links). */
  links: Set<number>
  gossip: number[]
  dialling: Set<number>
  /** Handles every message it receives (an owner); else requests to all are counted but not delivered (see flood). */
  exporter: boolean
  counters: AgentCounters
}

const newCounters = (): AgentCounters => ({ sentFrames: 0, sentBytes: 0, receivedFrames: 0, receivedBytes: 0, handled: 0 })

export class SimNetwork {
  private readonly agents: SimAgent[] = []
  private readonly byPeer = new Map<string, SimAgent>()
  private readonly subscribers = new Map<string, Set<number>>()
  private readonly hopTables = new Map<number, { size: number, hops: Uint16Array, farthest: number }>()
  private readonly latencyMs: number
  private readonly jitter: number
  private readonly loss: number
  private readonly gossipLinks: number
  /** Frames and handling of requests counted at importers without delivering them (see flood). */
  readonly elided: AgentCounters = newCounters()
  /** Frames dropped by the simulated loss. */
  dropped = 0

  constructor (private readonly clock: SimClock, private readonly control: string, options: SimNetworkOptions = {}) {
    this.latencyMs = options.latencyMs ?? DEFAULT_LATENCY_MS
    this.jitter = options.latencyJitter ?? DEFAULT_LATENCY_JITTER
    this.loss = options.loss ?? 0
    this.gossipLinks = options.gossipLinks ?? DEFAULT_GOSSIP_LINKS
  }

  get size (): number { return this.agents.length }

  counters (peerId: string): AgentCounters {
    return this.agent(peerId).counters
  }

  /** Every agent's counters, summed, with what was counted without delivery. */
  totals (): AgentCounters {
    const sum = { ...this.elided }
    for (const a of this.agents) for (const k of Object.keys(sum) as Array<keyof AgentCounters>) sum[k] += a.counters[k]
    return sum
  }

  /** Joins an agent: it links to GOSSIP_LINKS random agents already up (its bootstrap peers). */
  join (peerId: string, events: MeshTransportEvents, exporter: boolean): MeshTransport {
    const agent: SimAgent = {
      index: this.agents.length, peerId, events, topics: new Set(), up: true, links: new Set(), gossip: [], dialling: new Set(), exporter, counters: newCounters()
    }
    const candidates = this.agents.filter(a => a.up)
    for (let k = 0; k < this.gossipLinks && candidates.length > 0; k++) {
      const [other] = candidates.splice(Math.floor(this.clock.random() * candidates.length), 1)
      agent.gossip.push(other.index)
      other.gossip.push(agent.index)
      this.connect(agent, other)
    }
    this.agents.push(agent)
    this.byPeer.set(peerId, agent)
    return this.transport(agent)
  }

  /** The agent's host is lost (no RST): its peers notice when their pings time out, as the libp2p transport does. */
  crash (peerId: string): void {
    const agent = this.agent(peerId)
    agent.up = false
    for (const i of agent.links) {
      const other = this.agents[i]
      other.links.delete(agent.index)
      const noticedMs = this.clock.random() * LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS
      this.clock.at(this.clock.elapsedMs + noticedMs, () => { if (other.up) other.events.peerDisconnected(peerId, false) })
    }
    agent.links.clear()
  }

  private agent (peerId: string): SimAgent {
    const agent = this.byPeer.get(peerId)
    if (agent === undefined) throw new Error(`no simulated agent ${peerId}`)
    return agent
  }

  private hopMs (): number {
    return this.latencyMs * (1 - this.jitter + 2 * this.jitter * this.clock.random())
  }

  /** A connection between two agents, usable after its handshake; both then hear that the other is ready. */
  private connect (a: SimAgent, b: SimAgent): void {
    a.dialling.add(b.index)
    this.clock.at(this.clock.elapsedMs + HANDSHAKE_ONE_WAY_TRIPS * this.hopMs(), () => {
      a.dialling.delete(b.index)
      if (!a.up || !b.up) {
        if (a.up) this.clock.at(this.clock.elapsedMs + DIAL_TIMEOUT_MS, () => { if (a.up) a.events.peerDisconnected(b.peerId, false) })
        return
      }
      a.links.add(b.index)
      b.links.add(a.index)
      a.events.peerReady(b.peerId)
      b.events.peerReady(a.peerId)
    })
  }

  /** Gossip hops from `root` to every agent (BFS over gossip links), reused until the mesh grew by HOPS_STALE_GROWTH. */
  private hopsFrom (root: number): { hops: Uint16Array, farthest: number } {
    const known = this.hopTables.get(root)
    if (known !== undefined && this.agents.length <= known.size * (1 + HOPS_STALE_GROWTH)) return known
    const hops = new Uint16Array(this.agents.length).fill(0xffff)
    hops[root] = 0
    const queue = [root]
    for (let head = 0; head < queue.length; head++) {
      const at = queue[head]
      for (const next of this.agents[at].gossip) {
        if (hops[next] !== 0xffff) continue
        hops[next] = hops[at] + 1
        queue.push(next)
      }
    }
    const table = { size: this.agents.length, hops, farthest: hops[queue[queue.length - 1]] }
    this.hopTables.set(root, table)
    return table
  }

  /** Hops of a flooded message between an owner and any agent (tables are kept for owners only), at least 1. */
  private hops (from: SimAgent, to: SimAgent): number {
    if (from.links.has(to.index)) return 1
    const [root, other] = from.exporter || !to.exporter ? [from, to] : [to, from]
    const { hops, farthest } = this.hopsFrom(root.index)
    const h = other.index < hops.length ? hops[other.index] : 0xffff
    // Unreached (joined since the table, or cut off): as far as the farthest agent reached, plus one.
    return h === 0xffff ? farthest + 1 : Math.max(1, h)
  }

  private deliver (from: SimAgent, to: SimAgent, topic: string, data: Uint8Array, delayMs: number): void {
    this.clock.at(this.clock.elapsedMs + delayMs, () => {
      if (!to.up || !to.topics.has(topic)) return
      to.counters.handled++
      to.events.message(topic, from.peerId, data)
    })
  }

  /** One frame on a connection: counted, maybe dropped, delivered after one hop. */
  private direct (from: SimAgent, to: SimAgent, topic: string, data: Uint8Array): void {
    from.counters.sentFrames++
    from.counters.sentBytes += data.byteLength
    if (this.clock.random() < this.loss) {
      this.dropped++
      return
    }
    to.counters.receivedFrames++
    to.counters.receivedBytes += data.byteLength
    this.deliver(from, to, topic, data, this.hopMs())
  }

  /**
   * Gossipsub flooding to every subscriber: the publisher writes to the subscribers it is connected to, every other
   * one gets it over its gossip links (one frame from each, the first one handled, the rest duplicates). A request
   * asked of every owner is handled only by owners: an importer's handling of it only remembers the requester as
   * heard from (for its own digest budget, unused by an agent that exports nothing), so it is counted, not delivered.
   */
  private flood (from: SimAgent, topic: string, data: Uint8Array, skipConnected: boolean): void {
    const subscribers = this.subscribers.get(topic)
    if (subscribers === undefined) return
    const request = topic === this.control ? requestOf(data) : undefined
    const elide = request !== undefined && request.targets === undefined
    const targets = request?.targets
    let elidedAgents = 0
    for (const i of subscribers) {
      const to = this.agents[i]
      if (to === from || !to.up) continue
      if (from.links.has(i)) {
        if (!skipConnected) this.direct(from, to, topic, data)
        continue
      }
      if (elide && !to.exporter) {
        elidedAgents++
        continue
      }
      if (targets !== undefined && !targets.includes(to.peerId)) {
        // A targeted request: relayed to all, dropped unread by all but its targets.
        to.counters.receivedFrames += Math.max(1, to.gossip.length - 1)
        to.counters.receivedBytes += Math.max(1, to.gossip.length - 1) * data.byteLength
        continue
      }
      const copies = Math.max(1, to.gossip.length - 1)
      to.counters.receivedFrames += copies
      to.counters.receivedBytes += copies * data.byteLength
      to.counters.sentFrames += copies
      to.counters.sentBytes += copies * data.byteLength
      if (this.clock.random() < this.loss ** Math.max(1, to.gossip.length)) {
        this.dropped++
        continue
      }
      this.deliver(from, to, topic, data, this.hops(from, to) * this.hopMs())
    }
    if (elidedAgents > 0) {
      // Mean gossip degree 2·GOSSIP_LINKS: each agent gets the message from its links but one, and forwards as much.
      const copies = Math.max(1, 2 * this.gossipLinks - 1) * elidedAgents
      this.elided.receivedFrames += copies
      this.elided.receivedBytes += copies * data.byteLength
      this.elided.sentFrames += copies
      this.elided.sentBytes += copies * data.byteLength
      this.elided.handled += elidedAgents
    }
  }

  private transport (agent: SimAgent): MeshTransport {
    const subscribersOf = (topic: string): Set<number> => {
      let set = this.subscribers.get(topic)
      if (set === undefined) this.subscribers.set(topic, set = new Set())
      return set
    }
    return {
      peerId: agent.peerId,
      addresses: () => [`/sim/${agent.index}/p2p/${agent.peerId}`],
      subscribe: topic => {
        agent.topics.add(topic)
        subscribersOf(topic).add(agent.index)
      },
      unsubscribe: topic => {
        agent.topics.delete(topic)
        subscribersOf(topic).delete(agent.index)
      },
      publish: async (topic, data, options) => {
        if (!agent.up) return
        const subscribers = subscribersOf(topic)
        // To these peers only, on their connections; flooded as any message when one of them is not connected (libp2p.ts).
        const targets = options?.to?.map(peer => this.byPeer.get(peer))
        if (targets !== undefined && targets.every(other => other !== undefined && agent.links.has(other.index))) {
          for (const other of targets) if (other !== undefined && subscribers.has(other.index)) this.direct(agent, other, topic, data)
          return
        }
        for (const i of agent.links) if (subscribers.has(i)) this.direct(agent, this.agents[i], topic, data)
        if (options?.direct !== true || options.gossip !== false) this.flood(agent, topic, data, true)
      },
      isConnected: peerId => {
        const other = this.byPeer.get(peerId)
        return other !== undefined && agent.up && other.up && agent.links.has(other.index)
      },
      connectedPeers: () => [...agent.links].map(i => this.agents[i].peerId),
      watchPeer: peerId => {
        const other = this.byPeer.get(peerId)
        if (other === undefined || agent.links.has(other.index) || agent.dialling.has(other.index)) return
        this.connect(agent, other)
      },
      stop: async () => { agent.up = false }
    }
  }
}

const decoder = new TextDecoder()

/** The request in a control message (targets undefined: asked of every owner); undefined for a digest. */
function requestOf (data: Uint8Array): { targets?: string[] } | undefined {
  const m = JSON.parse(decoder.decode(data)) as { kind?: string, targets?: string[] }
  return m.kind === 'request' ? { targets: m.targets } : undefined
}
