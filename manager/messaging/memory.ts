// In-process DmMessaging for tests of the DM: agents use agent/link/memory.ts with `agentEndpoint()`.
import { parseAgentToDmMessage, type AgentToDmMessage, type DmToAgentMessage } from '../../protocol/messages.js'
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { MemoryHub, registerMemoryHub, unregisterMemoryHub } from '../../link/memory-hub.js'
import { senderMismatch } from './sender.js'
import type { AgentMessageHandler, DmMessaging, MessagingMetrics } from './types.js'
import { type Logger } from '../../common/log.js'

export interface MemoryMessagingComponents {
  logger?: Logger
}

class MemoryMessaging implements DmMessaging {
  private readonly hub = new MemoryHub()
  private readonly dispatcher: MessageDispatcher<AgentToDmMessage>
  private sent = 0

  constructor (components: MemoryMessagingComponents) {
    this.dispatcher = new MessageDispatcher(parseAgentToDmMessage, components.logger ?? console, 'DM (memory messaging)')
    // Registered at once so that `agentEndpoint()` is usable before `start()`.
    registerMemoryHub(this.hub)
  }

  async start (): Promise<void> {
    registerMemoryHub(this.hub)
    this.hub.toDm.attach(({ raw, application, scopedInstancePath }) => this.dispatcher.dispatchRaw(raw,
      `the agent of ${scopedInstancePath} (${application})`, msg => senderMismatch(msg, application, scopedInstancePath)))
  }

  async stop (): Promise<void> {
    this.hub.toDm.detach()
    unregisterMemoryHub(this.hub)
  }

  async prepareAgent (application: string, scopedInstancePath: string): Promise<void> {
    this.hub.agentMailbox(application, scopedInstancePath)
  }

  async sendToAgent (application: string, scopedInstancePath: string, msg: DmToAgentMessage): Promise<void> {
    this.hub.agentMailbox(application, scopedInstancePath).push(JSON.stringify(msg))
    this.sent++
  }

  onAgentMessage (handler: AgentMessageHandler): void {
    this.dispatcher.add(handler)
  }

  async forgetAgent (application: string, scopedInstancePath: string): Promise<void> {
    this.hub.forgetAgent(application, scopedInstancePath)
  }

  async deleteApplication (application: string): Promise<void> {
    this.hub.forgetApplication(application)
  }

  agentEndpoint (): AgentEndpoint {
    return { kind: 'memory', hub: this.hub.id }
  }

  metrics (): MessagingMetrics {
    return { sent: this.sent, received: this.dispatcher.received, rejected: this.dispatcher.rejected, connections: 0 }
  }
}

export function createMemoryMessaging (components: MemoryMessagingComponents = {}): DmMessaging {
  return new MemoryMessaging(components)
}
