// Exports exchanged through a RabbitMQ topic exchange, the way Roboconf's agents did it (reference §1.2, §4.3):
// one exchange per application, an auto-deleted queue per agent bound to `those.that.import.<Prefix>` for every
// prefix its instances import, and to `those.that.export.<Prefix>` for every prefix its started instances export,
// so that a request makes the owners re-announce. The same engine runs over this hub and over the libp2p mesh,
// which is what lets the benchmark measure both side by side. Tuned as a fair hub would be: Nagle off (noDelay),
// no publisher confirms and consumers in auto-ack mode, as Roboconf's RabbitMqClient (basicPublish on a channel never
// put in confirm mode, basicConsume with autoAck), and exports published before the binding round trip (docs/tuning.md).
import amqp from 'amqplib'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import { exportsByPrefix } from '../../protocol/model/exports.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import type { ImportListener, MeshHandle } from '../../agent/ports.js'
import { DEFAULT_AMQP_URL, HUB_WIRE_VERSION } from './bench-constants.js'
import { errorMessage } from '../../protocol/errors.js'
import { trace } from '../../common/trace.js'

/** Routing key prefixes, as in Roboconf's `ThoseThat`. */
const THOSE_THAT_IMPORT = 'those.that.import.'
const THOSE_THAT_EXPORT = 'those.that.export.'

/** What travels on the exchange (JSON), the counterpart of MsgCmdAddImport / RemoveImport / RequestImport. */
export type HubMessage =
  | { v: 1, kind: 'addImport', sender: string, prefix: string, instancePath: string, component: string,
    variables: Record<string, string | null> }
  | { v: 1, kind: 'removeImport', sender: string, prefix: string, instancePath: string }
  | { v: 1, kind: 'requestImport', sender: string, prefix: string }

/** A hub message that could not be read; logged and dropped (a broken peer must not crash this agent). */
export class InvalidHubMessageError extends Error {
  constructor (reason: string) {
    super(`invalid amqp-hub message: ${reason}; it was dropped (every agent of a run must use the same meshconf build)`)
    this.name = 'InvalidHubMessageError'
  }
}

/** Counters of what one agent put on and took off the broker. */
export interface HubTraffic {
  messagesSent: number
  bytesSent: number
  messagesReceived: number
  bytesReceived: number
}

export interface AmqpHubComponents {
  /** Broker URL. Default `amqp://guest:guest@127.0.0.1:5672`. */
  url?: string
  /** Prefix of the exchange and queue names (Roboconf's messaging domain); a fresh one per benchmark run. */
  domain: string
  /** Where dropped messages and broker errors are reported. Default: console.warn. */
  log?: (line: string) => void
  /**
   * Nagle's algorithm off on the broker connection (amqplib's `noDelay`). Default true: with it on, a frame written
   * while the previous one is unacknowledged waits for the broker's delayed ACK. false only to report that cost
   * (`reconfigure.amqp_hub_nagle`).
   */
  noDelay?: boolean
}

export interface AmqpHubHandle extends MeshHandle {
  traffic (): HubTraffic
  /** Resolves once every bind and unbind asked for so far is confirmed and every publication handed to the broker. */
  flush (): Promise<void>
}

/** `<domain>.<application>.agents`, as in Roboconf. */
export function applicationExchangeName (domain: string, application: string): string {
  return `${domain}.${application}.agents`
}

/** `/vm 1/docker` -> `vm 1.docker` (Roboconf's `MessagingUtils.escapeInstancePath`). */
function escapeScopedPath (scopedInstancePath: string): string {
  return scopedInstancePath.replace(/^\/+|\/+$/g, '').replaceAll('/', '.')
}

/** A MeshFactory whose handles also report their broker traffic. */
export type AmqpHubFactory = (model: ScopedModel, parameters: MeshParameters, listener: ImportListener) => Promise<AmqpHubHandle>

/** Creates a MeshFactory whose meshes exchange exports through RabbitMQ (the mesh parameters are not needed). */
export function amqpHubMeshFactory (components: AmqpHubComponents): AmqpHubFactory {
  return async (model, _parameters, listener) => {
    const hub = new AmqpHub(components, model, listener)
    await hub.start()
    return hub
  }
}

/** Deletes the application's exchange once every agent of the run has stopped (queues delete themselves). */
export async function deleteApplicationExchange (components: AmqpHubComponents, application: string): Promise<void> {
  const connection = await amqp.connect(components.url ?? DEFAULT_AMQP_URL, { noDelay: true })
  try {
    const channel = await connection.createChannel()
    await channel.deleteExchange(applicationExchangeName(components.domain, application))
    await channel.close()
  } finally {
    await connection.close()
  }
}

class AmqpHub implements AmqpHubHandle {
  private readonly url: string
  private readonly exchange: string
  private readonly queueName: string
  private readonly sender: string
  private readonly log: (line: string) => void
  private readonly noDelay: boolean
  private connection?: ChannelModel
  private channel?: Channel
  /** Broker operations run one after the other, so a bind always precedes the publications that rely on it. */
  private pending: Promise<void> = Promise.resolve()
  private readonly importKeys = new Set<string>()
  private readonly exportKeys = new Set<string>()
  /** Announced instance path -> its variables grouped by prefix (re-sent on request). */
  private readonly announced = new Map<string, { component: string, byPrefix: Map<string, Record<string, string | null>> }>()
  private readonly counters: HubTraffic = { messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0 }
  private stopped = false

  constructor (components: AmqpHubComponents, model: ScopedModel, private readonly listener: ImportListener) {
    this.url = components.url ?? DEFAULT_AMQP_URL
    this.exchange = applicationExchangeName(components.domain, model.application)
    this.queueName = `${components.domain}.${model.application}.${escapeScopedPath(model.scopedInstancePath)}`
    this.sender = model.scopedInstancePath
    this.log = components.log ?? (line => { console.warn(line) })
    this.noDelay = components.noDelay ?? true
  }

  async start (): Promise<void> {
    this.connection = await amqp.connect(this.url, { noDelay: this.noDelay })
    this.connection.on('error', (err: Error) => { this.log(`amqp-hub ${this.sender}: connection error: ${err.message}`) })
    const channel = this.channel = await this.connection.createChannel()
    channel.on('error', (err: Error) => { this.log(`amqp-hub ${this.sender}: channel error: ${err.message}`) })
    await channel.assertExchange(this.exchange, 'topic', { durable: false })
    await channel.assertQueue(this.queueName, { durable: false, exclusive: true, autoDelete: true })
    await channel.consume(this.queueName, message => { if (message !== null) this.receive(message) }, { noAck: true })
  }

  listenAddresses (): string[] {
    return []
  }

  traffic (): HubTraffic {
    return { ...this.counters }
  }

  async flush (): Promise<void> {
    await this.pending
  }

  /** Binds the import keys, then asks the owners of newly imported prefixes to re-announce (as Roboconf's agent does). */
  setInterests (prefixes: ReadonlySet<string>): void {
    const added = [...prefixes].filter(p => !this.importKeys.has(THOSE_THAT_IMPORT + p))
    this.rebind(this.importKeys, new Set([...prefixes].map(p => THOSE_THAT_IMPORT + p)))
    if (added.length > 0) this.request(added)
  }

  announce (instancePath: string, component: string, variables: Record<string, string | null>): void {
    trace('hub.announce', instancePath)
    const byPrefix = exportsByPrefix(variables)
    this.announced.set(instancePath, { component, byPrefix })
    // The exports first: the binding that lets requests reach us is a broker round trip (Roboconf's agent waited for
    // it), which the importers need not wait for. The mesh does not wait for anything either (docs/tuning.md).
    for (const [prefix, group] of byPrefix) this.publishAdd(prefix, instancePath, component, group)
    this.rebind(this.exportKeys, this.wantedExportKeys())
  }

  withdraw (instancePath: string): void {
    const known = this.announced.get(instancePath)
    if (known === undefined) return
    this.announced.delete(instancePath)
    for (const prefix of known.byPrefix.keys()) {
      this.publish(THOSE_THAT_IMPORT + prefix, { v: HUB_WIRE_VERSION, kind: 'removeImport', sender: this.sender, prefix, instancePath })
    }
    this.rebind(this.exportKeys, this.wantedExportKeys())
  }

  request (prefixes: Iterable<string>): void {
    for (const prefix of prefixes) {
      this.publish(THOSE_THAT_EXPORT + prefix, { v: HUB_WIRE_VERSION, kind: 'requestImport', sender: this.sender, prefix })
    }
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.pending
    // Closing the connection deletes the exclusive queue; the exchange outlives agents and is deleted by the run.
    await this.connection?.close().catch(() => {})
  }

  private wantedExportKeys (): Set<string> {
    const keys = new Set<string>()
    for (const { byPrefix } of this.announced.values()) for (const prefix of byPrefix.keys()) keys.add(THOSE_THAT_EXPORT + prefix)
    return keys
  }

  private rebind (current: Set<string>, wanted: Set<string>): void {
    const added = [...wanted].filter(k => !current.has(k))
    const removed = [...current].filter(k => !wanted.has(k))
    for (const key of added) current.add(key)
    for (const key of removed) current.delete(key)
    if (added.length === 0 && removed.length === 0) return
    this.enqueue(async channel => {
      for (const key of added) await channel.bindQueue(this.queueName, this.exchange, key)
      for (const key of removed) await channel.unbindQueue(this.queueName, this.exchange, key)
    })
  }

  private publishAdd (prefix: string, instancePath: string, component: string, variables: Record<string, string | null>): void {
    this.publish(THOSE_THAT_IMPORT + prefix,
      { v: HUB_WIRE_VERSION, kind: 'addImport', sender: this.sender, prefix, instancePath, component, variables })
  }

  private publish (routingKey: string, message: HubMessage): void {
    const body = Buffer.from(JSON.stringify(message))
    this.enqueue(async channel => {
      channel.publish(this.exchange, routingKey, body)
      trace('hub.send', `${message.kind} ${body.length}`)
      this.counters.messagesSent++
      this.counters.bytesSent += body.length
    })
  }

  private enqueue (operation: (channel: Channel) => Promise<void>): void {
    if (this.stopped || this.channel === undefined) return
    const channel = this.channel
    this.pending = this.pending.then(() => operation(channel)).catch((err: unknown) => {
      this.log(`amqp-hub ${this.sender}: broker operation failed: ${errorMessage(err)}`)
    })
  }

  private receive (delivery: ConsumeMessage): void {
    trace('hub.receive', `${delivery.content.length}`)
    this.counters.messagesReceived++
    this.counters.bytesReceived += delivery.content.length
    let message: HubMessage
    try {
      message = parseHubMessage(delivery.content)
    } catch (err) {
      this.log(`amqp-hub ${this.sender}: ${errorMessage(err)}`)
      return
    }
    switch (message.kind) {
      case 'addImport':
        this.listener.importAdded(message.prefix,
          { instancePath: message.instancePath, component: message.component, variables: message.variables })
        break
      case 'removeImport':
        this.listener.importRemoved(message.prefix, message.instancePath)
        break
      case 'requestImport':
        for (const [instancePath, { component, byPrefix }] of this.announced) {
          const group = byPrefix.get(message.prefix)
          if (group !== undefined) this.publishAdd(message.prefix, instancePath, component, group)
        }
        break
    }
  }
}

/** Reads and checks one hub message; throws InvalidHubMessageError. */
export function parseHubMessage (content: Buffer): HubMessage {
  let value: unknown
  try {
    value = JSON.parse(content.toString('utf8'))
  } catch {
    throw new InvalidHubMessageError('not JSON')
  }
  if (typeof value !== 'object' || value === null) throw new InvalidHubMessageError('not an object')
  const m = value as Record<string, unknown>
  if (m.v !== HUB_WIRE_VERSION) throw new InvalidHubMessageError(`unknown version ${String(m.v)}`)
  if (typeof m.sender !== 'string' || typeof m.prefix !== 'string') throw new InvalidHubMessageError('sender or prefix missing')
  if (m.kind === 'requestImport') return { v: 1, kind: 'requestImport', sender: m.sender, prefix: m.prefix }
  if (typeof m.instancePath !== 'string') throw new InvalidHubMessageError('instancePath missing')
  if (m.kind === 'removeImport') return { v: 1, kind: 'removeImport', sender: m.sender, prefix: m.prefix, instancePath: m.instancePath }
  if (m.kind !== 'addImport') throw new InvalidHubMessageError(`unknown kind ${String(m.kind)}`)
  if (typeof m.component !== 'string' || !isVariables(m.variables)) throw new InvalidHubMessageError('component or variables missing')
  return { v: 1, kind: 'addImport', sender: m.sender, prefix: m.prefix, instancePath: m.instancePath, component: m.component, variables: m.variables }
}

function isVariables (value: unknown): value is Record<string, string | null> {
  return typeof value === 'object' && value !== null &&
    Object.values(value).every(v => v === null || typeof v === 'string')
}
