// The agent's in-process link (tests), over the hub of link/memory-hub.ts: messages cross it as JSON text and are
// parsed on arrival, exactly as on a wire, so tests of the DM and of the agent exercise the same validation.
import { parseDmToAgentMessage, type AgentToDmMessage } from '../../protocol/messages.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { findMemoryHub, type Mailbox, type MemoryHub } from '../../link/memory-hub.js'
import type { AgentIdentity, AgentLink, DmMessageHandler, LinkMetrics } from './types.js'
import { type Logger } from '../../common/log.js'

export interface MemoryLinkComponents extends AgentIdentity {
  /** Id of the hub, from the DM's `agentEndpoint()`. */
  hub: string
  logger?: Logger
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
