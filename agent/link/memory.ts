// In-process transport: a hub (a tiny broker living in the DM's process) and the agent link that uses it.
// Messages cross the hub as JSON text and are parsed on arrival, exactly as on a wire, so tests of the DM and of
// the agent exercise the same validation as production. The DM side is manager/messaging/memory.ts.
import { randomUUID } from 'node:crypto'
import { parseDmToAgentMessage, type AgentToDmMessage } from '../../protocol/messages.js'
import { PairMap } from '../../protocol/keys.js'
import { MessageDispatcher } from './dispatch.js'
import type { AgentIdentity, AgentLink, DmMessageHandler, LinkMetrics, MessagingLogger } from './types.js'

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

export interface MemoryLinkComponents extends AgentIdentity {
  /** Id of the hub, from the DM's `agentEndpoint()`. */
  hub: string
  logger?: MessagingLogger
}

class MemoryLink implements AgentLink {
  private readonly dispatcher: MessageDispatcher<ReturnType<typeof parseDmToAgentMessage>>
  private hub: MemoryHub | undefined
  /** Messages sent before `start`. */
  private readonly outbox: string[] = []
  private sent = 0
  private connections = 0

  constructor (private readonly components: MemoryLinkComponents) {
    const { application, scopedInstancePath } = components
    this.dispatcher = new MessageDispatcher(parseDmToAgentMessage, components.logger ?? console,
      `agent ${scopedInstancePath} of ${application}`)
  }

  async start (): Promise<void> {
    const { application, scopedInstancePath } = this.components
    const hub = findMemoryHub(this.components.hub)
    this.hub = hub
    this.connections++
    hub.agentMailbox(application, scopedInstancePath).attach(raw => this.dispatcher.dispatchRaw(raw, 'the DM'))
    for (const raw of this.outbox.splice(0)) this.deliver(hub, raw)
  }

  async stop (): Promise<void> {
    const { application, scopedInstancePath } = this.components
    this.hub?.agentMailbox(application, scopedInstancePath).detach()
    this.hub = undefined
  }

  async send (msg: AgentToDmMessage): Promise<void> {
    const raw = JSON.stringify(msg)
    if (this.hub === undefined) this.outbox.push(raw)
    else this.deliver(this.hub, raw)
  }

  private deliver (hub: MemoryHub, raw: string): void {
    const { application, scopedInstancePath } = this.components
    hub.toDm.push({ application, scopedInstancePath, raw })
    this.sent++
  }

  onMessage (handler: DmMessageHandler): void {
    this.dispatcher.add(handler)
  }

  connected (): boolean {
    return this.hub !== undefined
  }

  metrics (): LinkMetrics {
    return { sent: this.sent, received: this.dispatcher.received, rejected: this.dispatcher.rejected, connections: this.connections }
  }
}

export function createMemoryLink (components: MemoryLinkComponents): AgentLink {
  return new MemoryLink(components)
}
