// The agent's link over RabbitMQ: consumes its own durable queue (bound with its routing key only, so it receives
// nothing meant for another machine) and publishes to the DM's exchange with publisher confirms.
import {
  AGENT_SIGNATURE_HEADERS, DM_COMMAND_HEADERS, signAgentMessage, agentQueueName, agentRoutingKey, agentsExchangeName,
  dmExchangeName, machineDmRoutingKey
} from '../../protocol/broker-names.js'
import { parseDmToAgentMessage, type AgentToDmMessage, type DmToAgentMessage } from '../../protocol/messages.js'
import { AmqpSession } from '../../link/amqp-session.js'
import { AMQP_PREFETCH_MESSAGES, DM_COMMANDS_REMEMBERED } from '../../link/constants.js'
import { BoundedMap } from '../mesh/bounded.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import type { AgentIdentity, AgentLink, DmMessageHandler, LinkMetrics } from './types.js'
import { type Logger } from '../../common/log.js'
import { verifyDmCommand } from '../../protocol/mesh.js'
import { UnsignedCommandError } from './websocket.js'

/** A signed command already handled (its sequence number is remembered): a copy published again (replay). */
export class ReplayedCommandError extends Error {
  constructor (seq: number) {
    super(`command ${seq} from the DM was handled already: a copy published again, dropped`)
    this.name = 'ReplayedCommandError'
  }
}

export interface AmqpLinkComponents extends AgentIdentity {
  /** `amqp://user:password@host:5672` */
  url: string
  /** First word of every exchange and queue name; the DM's (default `meshconf`). */
  domain: string
  /**
   * The URL's user is this machine's own broker user (the DM made it, with no right to declare): the agent only
   * checks that its queue and the DM's exchange exist, and stamps its messages with its user id. Default false.
   */
  ownUser?: boolean
  /** Without a user of its own: the machine's message key, with which it signs what it sends the DM. */
  messageKey?: { generation: number, key: string }
  /** With `amqps://`: the authority (PEM) the broker's certificate must chain to; default the system's. */
  ca?: string
  /**
   * The DM's Ed25519 public key (base64): when given, only commands the DM signed (DM_COMMAND_HEADERS) are handled,
   * and a copy of one of the last DM_COMMANDS_REMEMBERED handled is dropped. Default none.
   */
  dmKey?: string
  logger?: Logger
}

class AmqpLink implements AgentLink {
  private readonly session: AmqpSession
  private readonly dispatcher: MessageDispatcher<DmToAgentMessage>
  private readonly dmExchange: string
  private readonly dmRoutingKey: string
  /** Sequence numbers of the signed commands handled last (with a dmKey), DM_COMMANDS_REMEMBERED at most. */
  private readonly handledSeqs = new BoundedMap<number, true>(DM_COMMANDS_REMEMBERED)

  constructor (components: AmqpLinkComponents) {
    const { domain, application, scopedInstancePath, url } = components
    const logger = components.logger ?? console
    const name = `agent ${scopedInstancePath} of ${application}`
    this.dispatcher = new MessageDispatcher(parseDmToAgentMessage, logger, name)
    this.dmExchange = dmExchangeName(domain)
    this.dmRoutingKey = machineDmRoutingKey(application, scopedInstancePath)
    const exchange = agentsExchangeName(domain, application)
    const queue = agentQueueName(domain, application, scopedInstancePath)
    const user = decodeURIComponent(new URL(url).username)
    this.session = new AmqpSession({
      url,
      name,
      logger,
      ...(components.ca !== undefined ? { ca: components.ca } : {}),
      ...(components.ownUser === true && user !== '' ? { userId: user } : {}),
      ...(components.messageKey !== undefined
        ? {
            headers: (content: Buffer) => ({
              [AGENT_SIGNATURE_HEADERS.path]: scopedInstancePath,
              [AGENT_SIGNATURE_HEADERS.generation]: components.messageKey?.generation ?? 0,
              [AGENT_SIGNATURE_HEADERS.signature]: signAgentMessage(components.messageKey?.key ?? '', content)
            })
          }
        : {}),
      setup: async channel => {
        if (components.ownUser === true) {
          // Its own user may declare nothing: the DM declared all of this before making the machine.
          await channel.checkExchange(this.dmExchange)
          await channel.checkQueue(queue)
        } else {
          // The DM declared all of this before creating the machine; declaring it again (same arguments) lets the
          // agent start first or survive a broker that lost its definitions.
          await channel.assertExchange(this.dmExchange, 'topic', { durable: true })
          await channel.assertExchange(exchange, 'topic', { durable: true })
          await channel.assertQueue(queue, { durable: true, autoDelete: false })
          await channel.bindQueue(queue, exchange, agentRoutingKey(scopedInstancePath))
        }
        await channel.prefetch(AMQP_PREFETCH_MESSAGES)
        await channel.consume(queue, delivery => {
          if (delivery === null) {
            logger.warn(`${name}: RabbitMQ cancelled the consumer of ${queue} (queue deleted?)`)
            return
          }
          const ack = (): void => {
            try {
              channel.ack(delivery)
            } catch {
              // channel already closed: the broker redelivers after reconnection
            }
          }
          if (components.dmKey !== undefined) {
            // Checked before anything reads the body; a refused command is dropped (acknowledged), not redelivered.
            const headers = (delivery.properties.headers ?? {}) as Record<string, unknown>
            const seq = headers[DM_COMMAND_HEADERS.seq]
            const signature = headers[DM_COMMAND_HEADERS.signature]
            let body: unknown
            try { body = JSON.parse(delivery.content.toString('utf8')) } catch { body = undefined }
            const valid = typeof seq === 'number' && typeof signature === 'string' && body !== undefined &&
              verifyDmCommand(components.dmKey, application, scopedInstancePath, seq, body, signature)
            if (!valid) {
              this.dispatcher.reject(new UnsignedCommandError(typeof seq === 'number' ? seq : 0, typeof signature !== 'string'), 'the DM (signature)')
              ack()
              return
            }
            if (this.handledSeqs.has(seq)) {
              this.dispatcher.reject(new ReplayedCommandError(seq), 'the DM (sequence)')
              ack()
              return
            }
            this.handledSeqs.set(seq, true)
          }
          void this.dispatcher.dispatchRaw(delivery.content, 'the DM').then(ack)
        })
      }
    })
  }

  async start (): Promise<void> {
    await this.session.start()
  }

  async stop (): Promise<void> {
    await this.session.stop()
  }

  async send (msg: AgentToDmMessage): Promise<void> {
    await this.session.publish(this.dmExchange, this.dmRoutingKey, Buffer.from(JSON.stringify(msg)))
  }

  onMessage (handler: DmMessageHandler): void {
    this.dispatcher.add(handler)
  }

  connected (): boolean {
    return this.session.connected()
  }

  metrics (): LinkMetrics {
    return {
      sent: this.session.confirmed,
      received: this.dispatcher.received,
      rejected: this.dispatcher.rejected,
      connections: this.session.connections
    }
  }
}

export function createAmqpLink (components: AmqpLinkComponents): AgentLink {
  return new AmqpLink(components)
}
