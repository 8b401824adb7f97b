// The agent's link to the DM's embedded endpoint (manager/messaging/embedded.ts): a WebSocket that says hello
// (application, scoped instance, token), then exchanges numbered messages; each side keeps what it sent until the
// other acknowledged it, and sends it again after a reconnection, so nothing is lost while the DM is unreachable.
import WebSocket from 'ws'
import {
  DM_MESSAGE_VERSION, parseDmToAgentMessage, type AgentToDmMessage, type DmToAgentMessage
} from '../../protocol/messages.js'
import { EMBEDDED_CLOSE_CODES, parseDmFrame, type AgentFrame } from '../../protocol/embedded-frames.js'
import { CONNECT_TIMEOUT_MS, EMBEDDED_CLOSE_GRACE_MS, EMBEDDED_PING_INTERVAL_MS, STOP_FLUSH_TIMEOUT_MS, reconnectDelayMs } from '../../link/constants.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { ReliableSession } from '../../link/session.js'
import type { AgentIdentity, AgentLink, DmMessageHandler, LinkMetrics } from './types.js'
import { verifyDmCommand } from '../../protocol/mesh.js'
import { type Logger } from '../../common/log.js'

/** The DM refused this agent (bad token, or a hello it could not read): retrying would not help. */
export class AgentLinkRefusedError extends Error {
  constructor (readonly url: string, readonly code: number, reason: string) {
    super(`the DM at ${url} refused the agent (${code}: ${reason}); check the endpoint token in the agent's params file`)
    this.name = 'AgentLinkRefusedError'
  }
}

export interface WebSocketLinkComponents extends AgentIdentity {
  /** `wss://host:7401/agents` (`ws://` for a DM started --insecure) */
  url: string
  /**
   * The DM's certificate authority (PEM), from the params: a `wss://` server whose certificate it did not sign is
   * refused before anything is sent (its name is not checked: this authority signs only the DM's endpoint).
   * Without it, `wss://` trusts the system's authorities and checks the name.
   */
  ca?: string
  /** The machine's credential (or the DM token). */
  token: string
  /**
   * The DM's Ed25519 public key (base64), from the params: when given, a command without the DM's signature, or with
   * one that does not match (changed on the way), is refused and counted, and nothing of it runs.
   */
  dmKey?: string
  logger?: Logger
}

/** A command from the DM without its signature, or with one that does not match it (changed on the way). */
export class UnsignedCommandError extends Error {
  constructor (seq: number, missing: boolean) {
    super(`command ${seq} from the DM ${missing ? 'is not signed' : 'does not match its signature (changed on the way?)'}: ` +
      'refused; the agent runs only commands signed by the DM key of its params')
    this.name = 'UnsignedCommandError'
  }
}

class WebSocketLink implements AgentLink {
  private readonly dispatcher: MessageDispatcher<DmToAgentMessage>
  private readonly logger: Logger
  private readonly name: string
  /** Numbering, outbox, acknowledgements and replay detection (link/session.ts). */
  private readonly session = new ReliableSession<AgentToDmMessage>()
  private socket: WebSocket | undefined
  private ready = false
  private stopped = false
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | undefined
  private livenessTimer: NodeJS.Timeout | undefined
  private lastHeardAt = 0
  private connections = 0
  /** Connections that failed TLS: the server's certificate, or records changed on the way. */
  private tlsFailures = 0
  private firstConnection: { resolve: () => void, reject: (err: Error) => void } | undefined

  constructor (private readonly components: WebSocketLinkComponents) {
    this.logger = components.logger ?? console
    this.name = `agent ${components.scopedInstancePath} of ${components.application}`
    this.dispatcher = new MessageDispatcher(parseDmToAgentMessage, this.logger, this.name)
  }

  async start (): Promise<void> {
    this.stopped = false
    await new Promise<void>((resolve, reject) => {
      this.firstConnection = { resolve, reject }
      this.connect()
    })
  }

  async stop (): Promise<void> {
    const deadline = Date.now() + STOP_FLUSH_TIMEOUT_MS
    while (this.ready && this.session.waiting > 0 && Date.now() < deadline) await sleep(20)
    this.stopped = true
    clearTimeout(this.reconnectTimer)
    clearInterval(this.livenessTimer)
    this.firstConnection?.resolve()
    this.firstConnection = undefined
    const dropped = this.session.drop()
    if (dropped > 0) this.logger.warn(`${this.name}: stopped with ${dropped} message(s) not acknowledged by the DM`)
    const socket = this.socket
    if (socket !== undefined && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>(resolve => {
        socket.once('close', () => resolve())
        socket.close(1000, 'agent stopping')
        setTimeout(() => { socket.terminate(); resolve() }, EMBEDDED_CLOSE_GRACE_MS).unref()
      })
    }
  }

  async send (msg: AgentToDmMessage): Promise<void> {
    await new Promise<void>(resolve => {
      const frame = this.session.enqueue(msg, resolve)
      if (this.ready) this.socket?.send(frame)
    })
  }

  onMessage (handler: DmMessageHandler): void {
    this.dispatcher.add(handler)
  }

  connected (): boolean {
    return this.ready
  }

  metrics (): LinkMetrics {
    return {
      sent: this.session.acknowledged, received: this.dispatcher.received, rejected: this.dispatcher.rejected, connections: this.connections,
      tlsFailures: this.tlsFailures
    }
  }

  private connect (): void {
    if (this.stopped) return
    const { url, application, scopedInstancePath, token, ca } = this.components
    const socket = new WebSocket(url, {
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      // Node's TLS takes an Error or undefined here (ws's types say boolean): undefined accepts any name.
      ...(ca !== undefined ? { ca, checkServerIdentity: (() => undefined) as unknown as WebSocket.ClientOptions['checkServerIdentity'] } : {})
    })
    this.socket = socket
    socket.on('open', () => {
      const hello: AgentFrame = { t: 'hello', v: DM_MESSAGE_VERSION, application, scopedInstancePath, token, epoch: this.session.epoch }
      socket.send(JSON.stringify(hello))
    })
    socket.on('message', data => {
      this.lastHeardAt = Date.now()
      this.onFrame(socket, data as Buffer)
    })
    socket.on('ping', () => { this.lastHeardAt = Date.now() })
    socket.on('error', err => {
      // A server that fails TLS (not the DM's certificate, records changed on the way) is a man in the middle or a
      // misconfiguration: always said, and counted.
      const tls = isTlsError(err)
      if (tls) this.tlsFailures++
      if (tls || this.attempt === 0 || this.attempt % 10 === 0) {
        this.logger.warn(`${this.name}: DM connection error at ${url}: ${err.message}${tls ? ' (TLS: not the DM of this agent\'s params, or the connection was tampered with; nothing is sent until it is)' : ''}`)
      }
    })
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()))
  }

  private onFrame (socket: WebSocket, data: Buffer): void {
    let frame
    try {
      frame = parseDmFrame(data)
    } catch (err) {
      this.dispatcher.reject(err, 'the DM (frame)')
      return
    }
    switch (frame.t) {
      case 'welcome':
        this.session.peerIs(frame.epoch)
        this.ready = true
        this.attempt = 0
        this.connections++
        if (this.connections > 1) this.logger.info(`${this.name}: reconnected to the DM at ${this.components.url}`)
        this.watchLiveness(socket)
        for (const pending of this.session.unacknowledged()) socket.send(pending)
        this.firstConnection?.resolve()
        this.firstConnection = undefined
        return
      case 'msg': {
        const seq = frame.seq
        const ack = (): void => {
          if (socket.readyState === WebSocket.OPEN) socket.send(this.session.ackFrame(seq))
        }
        const { dmKey, application, scopedInstancePath } = this.components
        if (dmKey !== undefined && !verifyDmCommand(dmKey, application, scopedInstancePath, seq, frame.body, frame.sig)) {
          // Not acknowledged: the DM sends the genuine command again when it reconnects.
          this.dispatcher.reject(new UnsignedCommandError(seq, frame.sig === undefined), 'the DM (signature)')
          return
        }
        if (this.session.accept(seq)) void this.dispatcher.dispatch(frame.body, 'the DM').then(ack)
        else ack()
        return
      }
      case 'ack':
        this.session.acknowledge(frame.seq)
    }
  }

  /** A DM that went away without closing (host down, cable) is noticed by its missing pings. */
  private watchLiveness (socket: WebSocket): void {
    clearInterval(this.livenessTimer)
    this.lastHeardAt = Date.now()
    this.livenessTimer = setInterval(() => {
      if (Date.now() - this.lastHeardAt > 3 * EMBEDDED_PING_INTERVAL_MS) socket.terminate()
    }, EMBEDDED_PING_INTERVAL_MS)
    this.livenessTimer.unref()
  }

  private onClose (socket: WebSocket, code: number, reason: string): void {
    if (this.socket !== socket) return
    this.socket = undefined
    this.ready = false
    clearInterval(this.livenessTimer)
    if (this.stopped) return
    const refused = code === EMBEDDED_CLOSE_CODES.unauthorized || code === EMBEDDED_CLOSE_CODES.badHello
    if (refused) {
      const err = new AgentLinkRefusedError(this.components.url, code, reason)
      if (this.firstConnection !== undefined) {
        this.stopped = true
        this.firstConnection.reject(err)
        this.firstConnection = undefined
        return
      }
      this.logger.error(`${this.name}: ${err.message}`)
    } else if (code === EMBEDDED_CLOSE_CODES.replaced) {
      this.logger.warn(`${this.name}: another connection took over this scoped instance at the DM (${reason})`)
    }
    const delay = refused ? reconnectDelayMs(20) : reconnectDelayMs(this.attempt++)
    this.reconnectTimer = setTimeout(() => this.connect(), delay)
  }
}

/** Errors of the TLS layer: certificate verification, or a record that fails its check (OpenSSL's codes). */
function isTlsError (err: Error): boolean {
  const code = (err as { code?: string }).code ?? ''
  return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code) ||
    /\b(ssl|tls)\b|certificate/i.test(err.message)
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

export function createWebSocketLink (components: WebSocketLinkComponents): AgentLink {
  return new WebSocketLink(components)
}
