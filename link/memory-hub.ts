// The in-process transport's hub: a tiny broker living in the DM's process (tests). Messages cross it as JSON text
// and are parsed on arrival, exactly as on a wire. The agent side is agent/link/memory.ts, the DM side
// manager/messaging/memory.ts.
import { randomUUID } from 'node:crypto'
import { PairMap } from '../protocol/keys.js'
import type { AgentIdentity } from './types.js'

/** No hub with this id in this process (the DM's memory messaging was stopped, or the id is wrong). */
export class UnknownMemoryHubError extends Error {
  constructor (readonly hub: string) {
    super(`no in-process messaging hub '${hub}': memory endpoints only work inside the DM's process (tests); ` +
      'use an embedded or amqp endpoint for a separate agent process')
    this.name = 'UnknownMemoryHubError'
  }
}

/** Items delivered in order to at most one consumer; kept while no consumer is attached. */
export class Mailbox<T> {
  private readonly items: T[] = []
  private consumer: ((item: T) => Promise<void>) | undefined
  private draining = false

  push (item: T): void {
    this.items.push(item)
    void this.drain()
  }

  attach (consumer: (item: T) => Promise<void>): void {
    this.consumer = consumer
    void this.drain()
  }

  detach (): void {
    this.consumer = undefined
  }

  get size (): number {
    return this.items.length
  }

  private async drain (): Promise<void> {
    if (this.draining) return
    this.draining = true
    try {
      while (this.consumer !== undefined && this.items.length > 0) {
        const item = this.items.shift() as T
        await this.consumer(item)
      }
    } finally {
      this.draining = false
    }
  }
}

/** A message to the DM with the identity of the link that sent it (what a transport authenticates). */
export interface MemoryAgentEnvelope extends AgentIdentity {
  raw: string
}

export class MemoryHub {
  readonly id = randomUUID()
  readonly toDm = new Mailbox<MemoryAgentEnvelope>()
  private readonly agents = new PairMap<Mailbox<string>>()

  /** The mailbox of one scoped instance, created on first use. */
  agentMailbox (application: string, scopedInstancePath: string): Mailbox<string> {
    let mailbox = this.agents.get(application, scopedInstancePath)
    if (mailbox === undefined) this.agents.set(application, scopedInstancePath, mailbox = new Mailbox())
    return mailbox
  }

  forgetAgent (application: string, scopedInstancePath: string): void {
    this.agents.delete(application, scopedInstancePath)
  }

  forgetApplication (application: string): void {
    this.agents.deleteAll(application)
  }
}

const hubs = new Map<string, MemoryHub>()

export function registerMemoryHub (hub: MemoryHub): void {
  hubs.set(hub.id, hub)
}

export function unregisterMemoryHub (hub: MemoryHub): void {
  hubs.delete(hub.id)
}

export function findMemoryHub (id: string): MemoryHub {
  const hub = hubs.get(id)
  if (hub === undefined) throw new UnknownMemoryHubError(id)
  return hub
}
