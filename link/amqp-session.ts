// A RabbitMQ session that survives broker restarts: one connection and one confirm channel, re-opened with backoff
// whenever they are lost (Roboconf needed every process restarted by hand after a broker restart: #202). The
// topology (exchanges, queues, bindings, consumers) is declared again by `setup` on every new channel, and every
// message stays in the outbox until the broker confirmed it, so what was published during an outage, or was not
// confirmed when the connection dropped, is published again. Used by the agent's link and by the DM's messaging.
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib'
import { AMQP_HEARTBEAT_S, CONNECT_TIMEOUT_MS, STOP_FLUSH_TIMEOUT_MS, reconnectDelayMs } from './constants.js'
import { errorMessage } from '../protocol/errors.js'
import { type Logger } from '../common/log.js'

export interface AmqpSessionOptions {
  /** `amqp://user:password@host:port[/vhost]` */
  url: string
  /** Names the session in log lines, e.g. `agent /VM 1 of app1`. */
  name: string
  logger: Logger
  /** Declares exchanges, queues, bindings and consumers on a fresh channel; run again after each reconnection. */
  setup: (channel: ConfirmChannel) => Promise<void>
  /**
   * The `user_id` property of every message published: the broker refuses a message whose user_id is not the
   * connection's user, so the receiver knows who sent it. Default none.
   */
  userId?: string
  /** Headers of every message published, from its content (a signature); default none. */
  headers?: (content: Buffer) => Record<string, string | number>
  /**
   * The certificate authority (PEM) the broker's certificate must chain to, for `amqps://`: pinned, the system's
   * authorities are then not trusted. Default none: `amqps://` trusts the system's authorities.
   */
  ca?: string
}

interface OutboxEntry {
  exchange: string
  routingKey: string
  content: Buffer
  /** This message's own headers (besides `options.headers`). */
  headers: Record<string, string | number> | undefined
  /** The channel it was last published on; undefined while waiting to be published. */
  channel: ConfirmChannel | undefined
  resolve: () => void
}

/** Adds the heartbeat period to a URL that does not choose one (the broker's default, 60 s, is slow to notice a cut). */
export function withHeartbeat (url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${AMQP_HEARTBEAT_S}`
}

/** Hides credentials from log lines. */
function safeUrl (url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@')
}

export class AmqpSession {
  private model: ChannelModel | undefined
  private channel: ConfirmChannel | undefined
  private outbox: OutboxEntry[] = []
  private stopped = false
  private connecting: Promise<void> | undefined
  private wakeUp: (() => void) | undefined
  /** Successful connections (the first one included). */
  connections = 0
  /** Messages confirmed by the broker. */
  confirmed = 0

  constructor (private readonly options: AmqpSessionOptions) {}

  /** Resolves once connected and set up the first time; retries with backoff until then (or until `stop`). */
  async start (): Promise<void> {
    this.stopped = false
    await this.connectLoop()
  }

  async stop (): Promise<void> {
    if (this.channel !== undefined && this.outbox.length > 0) {
      const deadline = Date.now() + STOP_FLUSH_TIMEOUT_MS
      while (this.outbox.length > 0 && this.channel !== undefined && Date.now() < deadline) await sleep(20)
    }
    this.stopped = true
    this.wakeUp?.()
    const model = this.model
    this.model = undefined
    this.channel = undefined
    if (this.outbox.length > 0) {
      this.options.logger.warn(`${this.options.name}: stopped with ${this.outbox.length} message(s) not confirmed by RabbitMQ`)
      for (const entry of this.outbox.splice(0)) entry.resolve()
    }
    await model?.close().catch(() => {})
  }

  connected (): boolean {
    return this.channel !== undefined
  }

  /**
   * Publishes a persistent message; resolves once the broker confirmed it. While disconnected the message waits and
   * is published after reconnection; a message the broker refuses (nack) is published again.
   */
  async publish (exchange: string, routingKey: string, content: Buffer, headers?: Record<string, string | number>): Promise<void> {
    await new Promise<void>(resolve => {
      const entry: OutboxEntry = { exchange, routingKey, content, headers, channel: undefined, resolve }
      this.outbox.push(entry)
      if (this.channel !== undefined) this.publishEntry(this.channel, entry)
    })
  }

  /** Drops waiting messages (e.g. to an exchange just deleted, which would close the channel); they resolve. */
  dropPending (predicate: (exchange: string, routingKey: string) => boolean): void {
    this.outbox = this.outbox.filter(entry => {
      if (!predicate(entry.exchange, entry.routingKey)) return true
      entry.resolve()
      return false
    })
  }

  /**
   * Runs `operation` now if connected. Declarations must also be in `setup` so that a reconnection replays them:
   * an operation that fails because the connection dropped is therefore only logged. Returns whether it succeeded.
   */
  async whenConnected (what: string, operation: (channel: ConfirmChannel) => Promise<unknown>): Promise<boolean> {
    const channel = this.channel
    if (channel === undefined) return false
    try {
      await operation(channel)
      return true
    } catch (err) {
      this.options.logger.warn(`${this.options.name}: ${what} failed (${errorMessage(err)}); retried after reconnection`)
      return false
    }
  }

  private publishEntry (channel: ConfirmChannel, entry: OutboxEntry): void {
    entry.channel = channel
    try {
      channel.publish(entry.exchange, entry.routingKey, entry.content,
        {
          persistent: true, contentType: 'application/json', ...(this.options.userId !== undefined ? { userId: this.options.userId } : {}),
          ...(this.options.headers !== undefined || entry.headers !== undefined
            ? { headers: { ...this.options.headers?.(entry.content), ...entry.headers } }
            : {})
        },
        err => {
          if (entry.channel !== channel) return // republished on a newer channel meanwhile
          if (err !== null && err !== undefined) {
            // nack, or the channel closed before confirming: publish again once a channel is there
            entry.channel = undefined
            if (this.channel === channel && !this.stopped) setTimeout(() => this.retryWaiting(), reconnectDelayMs(0))
            return
          }
          this.outbox = this.outbox.filter(e => e !== entry)
          this.confirmed++
          entry.resolve()
        })
    } catch (err) {
      // the channel is closing: the reconnection publishes the entry again
      entry.channel = undefined
    }
  }

  private retryWaiting (): void {
    const channel = this.channel
    if (channel === undefined) return
    for (const entry of this.outbox) if (entry.channel === undefined) this.publishEntry(channel, entry)
  }

  private async connectLoop (): Promise<void> {
    this.connecting ??= this.connectWithBackoff().finally(() => { this.connecting = undefined })
    await this.connecting
  }

  private async connectWithBackoff (): Promise<void> {
    const { name, logger, url } = this.options
    for (let attempt = 0; !this.stopped; attempt++) {
      let model: ChannelModel | undefined
      try {
        // the connection name shows in `rabbitmqctl list_connections client_properties` and the management UI
        model = await connect(withHeartbeat(url), {
          timeout: CONNECT_TIMEOUT_MS,
          noDelay: true,
          clientProperties: { connection_name: `meshconf ${name}` },
          ...(this.options.ca !== undefined ? { ca: [this.options.ca] } : {})
        })
        model.on('error', (err: Error) => logger.warn(`${name}: RabbitMQ connection error: ${err.message}`))
        const channel = await model.createConfirmChannel()
        channel.on('error', (err: Error) => logger.warn(`${name}: RabbitMQ channel error: ${err.message}`))
        const lost = (): void => this.lost(model as ChannelModel)
        model.on('close', lost)
        channel.on('close', lost)
        await this.options.setup(channel)
        if (this.stopped) {
          await model.close().catch(() => {})
          return
        }
        this.model = model
        this.channel = channel
        this.connections++
        if (this.connections > 1) logger.info(`${name}: reconnected to RabbitMQ at ${safeUrl(url)}`)
        for (const entry of this.outbox) this.publishEntry(channel, entry)
        return
      } catch (err) {
        await model?.close().catch(() => {})
        const delay = reconnectDelayMs(attempt)
        if (attempt === 0 || attempt % 10 === 0) {
          logger.warn(`${name}: cannot reach RabbitMQ at ${safeUrl(url)} (${errorMessage(err)}); retrying every ${delay} ms or so`)
        }
        await new Promise<void>(resolve => {
          this.wakeUp = resolve
          setTimeout(resolve, delay)
        })
      }
    }
  }

  /** The connection or the channel closed (broker restart, network, channel error): reconnect. */
  private lost (model: ChannelModel): void {
    if (this.model !== model) return
    this.model = undefined
    this.channel = undefined
    for (const entry of this.outbox) entry.channel = undefined
    model.close().catch(() => {})
    if (this.stopped) return
    this.options.logger.warn(`${this.options.name}: lost RabbitMQ connection; reconnecting`)
    void this.connectLoop()
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
