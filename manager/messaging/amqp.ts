// DmMessaging over RabbitMQ. Names (protocol/messages.ts): DM -> agent through the topic exchange
// `<domain>.<application>.agents`, routing key `machine.<path>`, into the durable queue `<domain>.<application>.<path>`
// declared by prepareAgent before the machine exists; agent -> DM through the topic exchange `<domain>.dm`, routing
// key `<application>`, consumed from the durable queue `<domain>.dm`. Publisher confirms; reconnects by itself.
import type { ConfirmChannel } from 'amqplib'
import {
  DEFAULT_MESSAGING_DOMAIN, agentQueueName, agentRoutingKey, agentsExchangeName, dmExchangeName, dmQueueName,
  dmRoutingKey, parseAgentToDmMessage, type AgentEndpoint, type AgentToDmMessage, type DmToAgentMessage
} from '../../protocol/messages.js'
import { AmqpSession } from '../../link/amqp-session.js'
import { AMQP_PREFETCH_MESSAGES } from '../../link/constants.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import type { AgentMessageHandler, DmMessaging, MessagingMetrics } from './types.js'
import { type Logger } from '../../common/log.js'

export interface AmqpMessagingComponents {
  /** `amqp://user:password@host:5672` */
  url: string
  /** URL handed to agents; default `url`. */
  agentUrl?: string
  /** First word of every exchange and queue name; default `meshconf`. */
  domain?: string
  logger?: Logger
}

class AmqpMessaging implements DmMessaging {
  private readonly session: AmqpSession
  private readonly dispatcher: MessageDispatcher<AgentToDmMessage>
  private readonly domain: string
  private readonly logger: Logger
  /** application -> scoped instance paths whose queue this DM declared; declared again after each reconnection. */
  private readonly prepared = new Map<string, Set<string>>()
  private sent = 0

  constructor (private readonly components: AmqpMessagingComponents) {
    this.domain = components.domain ?? DEFAULT_MESSAGING_DOMAIN
    this.logger = components.logger ?? console
    const name = `DM (RabbitMQ, domain ${this.domain})`
    this.dispatcher = new MessageDispatcher(parseAgentToDmMessage, this.logger, name)
    const dmExchange = dmExchangeName(this.domain)
    const dmQueue = dmQueueName(this.domain)
    this.session = new AmqpSession({
      url: components.url,
      name,
      logger: this.logger,
      setup: async channel => {
        await channel.assertExchange(dmExchange, 'topic', { durable: true })
        await channel.assertQueue(dmQueue, { durable: true, autoDelete: false })
        await channel.bindQueue(dmQueue, dmExchange, '#')
        await channel.prefetch(AMQP_PREFETCH_MESSAGES)
        await channel.consume(dmQueue, delivery => {
          if (delivery === null) {
            this.logger.warn(`${name}: RabbitMQ cancelled the consumer of ${dmQueue} (queue deleted?)`)
            return
          }
          const routingKey = delivery.fields.routingKey
          // The routing key says which application's agent published; a message must not speak for another one.
          void this.dispatcher.dispatchRaw(delivery.content, `routing key '${routingKey}'`,
            msg => dmRoutingKey(msg.application) === routingKey
              ? undefined
              : `published with routing key '${routingKey}' but about application '${msg.application}'`)
            .then(() => {
              try {
                channel.ack(delivery)
              } catch {
                // channel already closed: the broker redelivers after reconnection
              }
            })
        })
        // Last, so that agents prepared while this runs are declared too (Map iteration sees additions).
        for (const [application, paths] of this.prepared) {
          for (const path of paths) await this.declareAgent(channel, application, path)
        }
      }
    })
  }

  private async declareAgent (channel: ConfirmChannel, application: string, scopedInstancePath: string): Promise<void> {
    const exchange = agentsExchangeName(this.domain, application)
    const queue = agentQueueName(this.domain, application, scopedInstancePath)
    await channel.assertExchange(exchange, 'topic', { durable: true })
    await channel.assertQueue(queue, { durable: true, autoDelete: false })
    await channel.bindQueue(queue, exchange, agentRoutingKey(scopedInstancePath))
  }

  async start (): Promise<void> {
    await this.session.start()
  }

  async stop (): Promise<void> {
    await this.session.stop()
  }

  async prepareAgent (application: string, scopedInstancePath: string): Promise<void> {
    let paths = this.prepared.get(application)
    if (paths === undefined) this.prepared.set(application, paths = new Set())
    if (paths.has(scopedInstancePath)) return
    paths.add(scopedInstancePath)
    // While disconnected, the reconnection's setup declares it (before the outbox is published again).
    await this.session.whenConnected(`declaring the queue of ${scopedInstancePath} (${application})`,
      channel => this.declareAgent(channel, application, scopedInstancePath))
  }

  async sendToAgent (application: string, scopedInstancePath: string, msg: DmToAgentMessage): Promise<void> {
    await this.prepareAgent(application, scopedInstancePath)
    this.sent++
    await this.session.publish(agentsExchangeName(this.domain, application), agentRoutingKey(scopedInstancePath),
      Buffer.from(JSON.stringify(msg)))
  }

  onAgentMessage (handler: AgentMessageHandler): void {
    this.dispatcher.add(handler)
  }

  async forgetAgent (application: string, scopedInstancePath: string): Promise<void> {
    this.prepared.get(application)?.delete(scopedInstancePath)
    const exchange = agentsExchangeName(this.domain, application)
    const routingKey = agentRoutingKey(scopedInstancePath)
    this.session.dropPending((e, k) => e === exchange && k === routingKey)
    const queue = agentQueueName(this.domain, application, scopedInstancePath)
    const done = await this.session.whenConnected(`deleting queue ${queue}`, channel => channel.deleteQueue(queue))
    if (!done) this.logger.warn(`DM: RabbitMQ queue ${queue} could not be deleted now; delete it by hand if it remains`)
  }

  async deleteApplication (application: string): Promise<void> {
    for (const path of [...this.prepared.get(application) ?? []]) await this.forgetAgent(application, path)
    this.prepared.delete(application)
    const exchange = agentsExchangeName(this.domain, application)
    this.session.dropPending(e => e === exchange)
    await this.session.whenConnected(`deleting exchange ${exchange}`, channel => channel.deleteExchange(exchange))
  }

  agentEndpoint (): AgentEndpoint {
    return { kind: 'amqp', url: this.components.agentUrl ?? this.components.url, domain: this.domain }
  }

  metrics (): MessagingMetrics {
    return {
      sent: this.sent,
      received: this.dispatcher.received,
      rejected: this.dispatcher.rejected,
      connections: this.session.connections
    }
  }
}

export function createAmqpMessaging (components: AmqpMessagingComponents): DmMessaging {
  return new AmqpMessaging(components)
}
