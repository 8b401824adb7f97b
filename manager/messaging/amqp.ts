// DmMessaging over RabbitMQ. Names (protocol/broker-names.ts): DM -> agent through the topic exchange
// `<domain>.<application>.agents`, routing key `machine.<path>`, into the durable queue `<domain>.<application>.<path>`
// declared by prepareAgent before the machine exists; agent -> DM through the topic exchange `<domain>.dm`, routing
// key `<application>.<path>`, consumed from the durable queue `<domain>.dm`. Publisher confirms; reconnects by itself.
// With RabbitMQ's management API (broker-users.ts), each machine gets a broker user of its own: it reads only its
// queue and publishes only with its routing key, and the DM takes a message only with the `user_id` of a machine,
// checked against what the message is about (as the embedded endpoint checks against a socket's hello). Without the
// API, agents share the broker user of the agents' URL, and the DM checks only the routing key's application.
import type { ConfirmChannel } from 'amqplib'
import {
  AGENT_SIGNATURE_HEADERS, DEFAULT_MESSAGING_DOMAIN, DM_COMMAND_HEADERS, agentQueueName, agentRoutingKey,
  agentsExchangeName, dmExchangeName, dmQueueName, dmRoutingKey, machineBrokerUser, machineDmRoutingKey,
  machineOfBrokerUser
} from '../../protocol/broker-names.js'
import { parseAgentToDmMessage, type AgentToDmMessage, type DmToAgentMessage } from '../../protocol/messages.js'
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import { brokerPassword, type BrokerUsers } from './broker-users.js'
import { checkMessageSignature, issueMessageKey, revokeCredential, type MachineCredentialStore } from './credentials.js'
import { senderMismatch } from './sender.js'
import { AmqpSession } from '../../link/amqp-session.js'
import { AMQP_PREFETCH_MESSAGES } from '../../link/constants.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { errorMessage } from '../../protocol/errors.js'
import { signDmCommand, type DmSigningKey } from '../../protocol/mesh.js'
import type { AgentMachine, AgentMessageHandler, DmMessaging, MessagingMetrics } from './types.js'
import { type Logger } from '../../common/log.js'

export interface AmqpMessagingComponents {
  /** `amqp://user:password@host:5672` */
  url: string
  /** URL handed to agents; default `url`. */
  agentUrl?: string
  /** First word of every exchange and queue name; default `meshconf`. */
  domain?: string
  /**
   * The broker's management API: when it answers at start, one broker user per machine (broker-users.ts). Default
   * none: agents share the agents' URL's user.
   */
  brokerUsers?: BrokerUsers
  /**
   * Without machines' broker users: where machines' generations live (the DM's store) and the DM's secret their
   * message keys derive from; each machine then signs its messages (credentials.ts). Default none: the DM checks only
   * the routing key's application.
   */
  signatures?: { credentials: MachineCredentialStore, dmSecret: string }
  /**
   * With `amqps://`: the authority (PEM) the broker's certificate must chain to; the DM pins it and hands it to
   * agents in their endpoint. Default none: the system's authorities.
   */
  ca?: string
  /**
   * The DM's signing key: every command is signed with it (DM_COMMAND_HEADERS), and machines get its public half in
   * their endpoint (`dmKey`), so that they run nothing another publisher (a machine sharing the broker user, anyone
   * on the path of `amqp://`) made or changed. Default none: commands unsigned.
   */
  signingKey?: DmSigningKey
  logger?: Logger
}

/** A broker authority was given for a URL that does not speak TLS: it would not be used, and the link would be clear. */
export class AmqpCaWithoutTlsError extends Error {
  constructor (url: string) {
    super(`a broker certificate authority was given, but ${url.replace(/\/\/[^@/]*@/, '//***@')} is not amqps://: the link would be plaintext`)
    this.name = 'AmqpCaWithoutTlsError'
  }
}

class AmqpMessaging implements DmMessaging {
  private readonly session: AmqpSession
  private readonly dispatcher: MessageDispatcher<AgentToDmMessage>
  private readonly domain: string
  private readonly logger: Logger
  /** application -> scoped instance paths whose queue this DM declared; declared again after each reconnection. */
  private readonly prepared = new Map<string, Set<string>>()
  private sent = 0
  /** The last command's sequence number: microseconds since the epoch at least, so that it grows across restarts. */
  private lastSeq = 0
  /** Whether machines get broker users of their own (the management API answered at start). */
  private identities = false
  /** The passwords of the machines' users made by this process (an endpoint is read right after its machine's). */
  private readonly passwords = new Map<string, string>()

  constructor (private readonly components: AmqpMessagingComponents) {
    this.domain = components.domain ?? DEFAULT_MESSAGING_DOMAIN
    this.logger = components.logger ?? console
    if (components.ca !== undefined) {
      for (const url of [components.url, components.agentUrl ?? components.url]) {
        if (new URL(url).protocol !== 'amqps:') throw new AmqpCaWithoutTlsError(url)
      }
    }
    const name = `DM (RabbitMQ, domain ${this.domain})`
    this.dispatcher = new MessageDispatcher(parseAgentToDmMessage, this.logger, name)
    const dmExchange = dmExchangeName(this.domain)
    const dmQueue = dmQueueName(this.domain)
    this.session = new AmqpSession({
      url: components.url,
      name,
      logger: this.logger,
      ...(components.ca !== undefined ? { ca: components.ca } : {}),
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
          const userId = delivery.properties.userId as string | undefined
          const headers = (delivery.properties.headers ?? {}) as Record<string, unknown>
          void this.dispatcher.dispatchRaw(delivery.content, `routing key '${routingKey}'${userId !== undefined ? `, user '${userId}'` : ''}`,
            msg => this.senderProblem(msg, routingKey, userId) ?? this.signatureProblem(msg, delivery.content, headers))
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

  /**
   * Why `msg` cannot be taken from who published it, or undefined. With machines' users: the broker vouches for
   * `user_id` (it refuses a message whose user_id is not its connection's), which must be a machine's user, and the
   * message must be about that machine. Without: the routing key names the message's application.
   */
  private senderProblem (msg: AgentToDmMessage, routingKey: string, userId: string | undefined): string | undefined {
    if (this.identities) {
      const machine = userId === undefined ? undefined : machineOfBrokerUser(this.domain, userId)
      if (machine === undefined) return `published ${userId === undefined ? 'without a user id' : `by broker user '${userId}'`}, not by a machine's own user`
      return senderMismatch(msg, machine.application, machine.scopedInstancePath)
    }
    return routingKey === dmRoutingKey(msg.application) || routingKey.startsWith(`${dmRoutingKey(msg.application)}.`)
      ? undefined
      : `published with routing key '${routingKey}' but about application '${msg.application}'`
  }

  /**
   * Without machines' users, with signatures: why `msg` is not signed by the current key of the machine its headers
   * name, or is about another machine; undefined when it is fine (or signatures are off).
   */
  private signatureProblem (msg: AgentToDmMessage, content: Buffer, headers: Record<string, unknown>): string | undefined {
    const signatures = this.components.signatures
    if (this.identities || signatures === undefined) return undefined
    const path = headers[AGENT_SIGNATURE_HEADERS.path]
    const generation = headers[AGENT_SIGNATURE_HEADERS.generation]
    const signature = headers[AGENT_SIGNATURE_HEADERS.signature]
    if (typeof path !== 'string' || typeof generation !== 'number' || typeof signature !== 'string') {
      return 'not signed with a machine\'s message key (the agents\' broker user is shared: only signed messages are taken)'
    }
    const refusal = checkMessageSignature(signatures.credentials, signatures.dmSecret, msg.application, path, generation, content, signature)
    if (refusal !== undefined) return `signature of ${JSON.stringify(path)} refused (${refusal})`
    return senderMismatch(msg, msg.application, path)
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
    const users = this.components.brokerUsers
    this.identities = users !== undefined && await users.available()
    if (users !== undefined && !this.identities) {
      this.logger.warn('DM (RabbitMQ): the broker\'s management API does not answer: machines share the broker user of the agents\' URL ' +
        '(any agent can read any machine\'s queue); enable it with `rabbitmq-plugins enable rabbitmq_management` and restart the DM')
    }
  }

  /** Whether machines get broker users of their own. */
  get perMachineUsers (): boolean {
    return this.identities
  }

  async provisionAgent (machine: AgentMachine): Promise<void> {
    if (!this.identities || this.components.brokerUsers === undefined) return
    const { application, scopedInstancePath } = machine
    // Its user may declare nothing: its queue must be there before it connects.
    await this.prepareAgent(application, scopedInstancePath)
    const user = machineBrokerUser(this.domain, application, scopedInstancePath)
    const password = brokerPassword()
    await this.components.brokerUsers.grant({
      user, password, vhost: this.vhost(), queue: agentQueueName(this.domain, application, scopedInstancePath),
      writeExchange: dmExchangeName(this.domain), routingKey: machineDmRoutingKey(application, scopedInstancePath)
    })
    this.passwords.set(user, password)
  }

  /** The broker's virtual host of the DM's URL ('/' when it names none). */
  private vhost (): string {
    const path = new URL(this.components.url).pathname
    return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1))
  }

  async stop (): Promise<void> {
    await this.session.stop()
  }

  connected (): boolean {
    return this.session.connected()
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
    const signingKey = this.components.signingKey
    let headers: Record<string, string | number> | undefined
    if (signingKey !== undefined) {
      const seq = this.lastSeq = Math.max(this.lastSeq + 1, Date.now() * 1000)
      headers = { [DM_COMMAND_HEADERS.seq]: seq, [DM_COMMAND_HEADERS.signature]: signDmCommand(signingKey, application, scopedInstancePath, seq, msg) }
    }
    await this.session.publish(agentsExchangeName(this.domain, application), agentRoutingKey(scopedInstancePath),
      Buffer.from(JSON.stringify(msg)), headers)
  }

  onAgentMessage (handler: AgentMessageHandler): void {
    this.dispatcher.add(handler)
  }

  async forgetAgent (application: string, scopedInstancePath: string): Promise<void> {
    this.prepared.get(application)?.delete(scopedInstancePath)
    if (this.components.signatures !== undefined) revokeCredential(this.components.signatures.credentials, application, scopedInstancePath)
    if (this.identities && this.components.brokerUsers !== undefined) {
      const user = machineBrokerUser(this.domain, application, scopedInstancePath)
      this.passwords.delete(user)
      // Revoked first: the machine's agent cannot read or send anything more, whatever happens to its queue.
      await this.components.brokerUsers.revoke(user).catch(err => {
        this.logger.warn(`DM (RabbitMQ): the broker user of ${scopedInstancePath} (${application}) could not be deleted now (${errorMessage(err)}); delete ${user} by hand`)
      })
    }
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

  agentEndpoint (machine?: AgentMachine): AgentEndpoint {
    const url = this.components.agentUrl ?? this.components.url
    const ca = {
      ...(this.components.ca !== undefined ? { ca: this.components.ca } : {}),
      ...(machine !== undefined && this.components.signingKey !== undefined ? { dmKey: this.components.signingKey.publicKey } : {})
    }
    if (machine !== undefined && !this.identities && this.components.signatures !== undefined) {
      const { credentials, dmSecret } = this.components.signatures
      return { kind: 'amqp', url, domain: this.domain, messageKey: issueMessageKey(credentials, dmSecret, machine.application, machine.scopedInstancePath), ...ca }
    }
    if (machine === undefined || !this.identities) return { kind: 'amqp', url, domain: this.domain, ...ca }
    const user = machineBrokerUser(this.domain, machine.application, machine.scopedInstancePath)
    const password = this.passwords.get(user)
    if (password === undefined) throw new Error(`no broker user made for ${machine.scopedInstancePath} (${machine.application}): provisionAgent first`)
    const own = new URL(url)
    own.username = encodeURIComponent(user)
    own.password = encodeURIComponent(password)
    return { kind: 'amqp', url: own.toString(), domain: this.domain, ownUser: true, ...ca }
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
