// An in-memory mesh: the same MeshService (ordering, ownership checks, liveness, anti-entropy, debounce) over a
// hub shared inside one process instead of libp2p, so the engine and the DM are tested without sockets.
// Every running mesh of a hub is connected to every other one of the same application; a peer is identified by
// the peer id of its signed ownership.
import type { MeshFactory } from '../ports.js'
import { MeshService, type MeshServiceHandle, type MeshServiceOptions, type MeshTransport, type MeshTransportEvents, type PublishOptions } from './service.js'
import { type Logger } from '../../common/log.js'

export interface MemoryMeshHub {
  /** A MeshFactory whose meshes join this hub. */
  factory (options?: MeshServiceOptions & { log?: Logger }): MeshFactory
  /**
   * A transport of this hub for any other user of MeshTransport (the domain exchange): `group` plays the
   * application's part (only members of one group are connected). Stopping the transport leaves the hub.
   */
  join (peerId: string, group: string, events: MeshTransportEvents): MeshTransport
  /** Cuts a peer off (as a dead or unreachable agent) or heals it: every other peer sees it disconnect or return. */
  setReachable (peerId: string, reachable: boolean): void
  /** Drops the deliveries for which `lose` returns true (a lossy network, to exercise anti-entropy); undefined: none. */
  setLoss (lose?: (from: string, to: string, topic: string) => boolean): void
  /** Running meshes, by peer id. */
  readonly meshes: ReadonlyMap<string, MeshServiceHandle>
}

/** A mesh of this hub started twice for one peer id (two agents claiming one identity). */
export class DuplicatePeerError extends Error {
  constructor (peerId: string) {
    super(`peer ${peerId} already has a running mesh in this hub: stop it first, or sign the ownership for another peer id`)
    this.name = 'DuplicatePeerError'
  }
}

interface Member {
  transport: MeshTransport
  events: MeshTransportEvents
  application: string
  topics: Set<string>
  reachable: boolean
}

export function createMemoryMeshHub (): MemoryMeshHub {
  const members = new Map<string, Member>()
  const meshes = new Map<string, MeshServiceHandle>()
  let lose: ((from: string, to: string, topic: string) => boolean) | undefined
  const linked = (a: Member, b: Member): boolean => a !== b && a.application === b.application && a.reachable && b.reachable

  // Deliveries are asynchronous, as on a network, so no listener runs inside the sender's call.
  const later = (fn: () => void): void => { setImmediate(fn) }

  const announcePresence = (member: Member, up: boolean): void => {
    for (const other of members.values()) {
      if (other === member || other.application !== member.application) continue
      if (up && !linked(member, other)) continue
      const [a, b] = [member.transport.peerId, other.transport.peerId]
      later(() => {
        if (up) {
          other.events.peerReady(a)
          member.events.peerReady(b)
        } else {
          other.events.peerDisconnected(a)
          member.events.peerDisconnected(b)
        }
      })
    }
  }

  class MemoryTransport implements MeshTransport {
    constructor (readonly peerId: string, private readonly self: () => Member) {}
    addresses (): string[] { return [`/memory/${this.peerId}`] }
    subscribe (topic: string): void { this.self().topics.add(topic) }
    unsubscribe (topic: string): void { this.self().topics.delete(topic) }
    async publish (topic: string, data: Uint8Array, options?: PublishOptions): Promise<void> {
      const sender = this.self()
      for (const other of members.values()) {
        if (options?.to !== undefined && !options.to.includes(other.transport.peerId)) continue
        if (!linked(sender, other) || !other.topics.has(topic) || lose?.(this.peerId, other.transport.peerId, topic) === true) continue
        later(() => { if (members.get(other.transport.peerId) === other && linked(sender, other)) other.events.message(topic, this.peerId, data) })
      }
    }
    isConnected (peerId: string): boolean {
      const other = members.get(peerId)
      return other !== undefined && linked(this.self(), other)
    }
    connectedPeers (): string[] {
      return [...members.values()].filter(o => linked(this.self(), o)).map(o => o.transport.peerId)
    }
    watchPeer (): void {}
    async stop (): Promise<void> {
      const member = this.self()
      announcePresence(member, false)
      members.delete(this.peerId)
      meshes.delete(this.peerId)
    }
  }

  const join = (peerId: string, group: string, events: MeshTransportEvents): MeshTransport => {
    if (members.has(peerId)) throw new DuplicatePeerError(peerId)
    const member: Member = { transport: new MemoryTransport(peerId, () => member), events, application: group, topics: new Set(), reachable: true }
    members.set(peerId, member)
    // peerReady comes later (deliveries are asynchronous): the user subscribes first, as it does on libp2p
    announcePresence(member, true)
    return member.transport
  }

  return {
    meshes,
    join,
    factory: (options = {}) => async (model, parameters, listener) => {
      const peerId = parameters.ownership.peerId
      if (members.has(peerId)) throw new DuplicatePeerError(peerId)
      const service = new MeshService({ model, parameters, listener, log: options.log }, options)
      const transport = join(peerId, model.application, service.transportEvents)
      meshes.set(peerId, service)
      service.start(transport)
      return service
    },
    setLoss (filter) {
      lose = filter
    },
    setReachable (peerId, reachable) {
      const member = members.get(peerId)
      if (member === undefined || member.reachable === reachable) return
      if (!reachable) announcePresence(member, false)
      member.reachable = reachable
      if (reachable) announcePresence(member, true)
    }
  }
}
