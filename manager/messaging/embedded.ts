// DmMessaging served by the DM itself over WebSocket (`wss://host:7401/agents`, TLS with the DM's own CA that agents
// pin: tls.ts; `ws://` when started --insecure), the default: no broker to install.
// Agents (agent/link/websocket.ts) say hello with their application, scoped instance and token: their machine's
// credential (credentials.ts: its own, for that path only, revoked with the machine), or the DM token. Every message
// of a connection is then checked against the path of its hello. Each scoped instance has a mailbox: what is sent before its agent connects, or while it is disconnected,
// waits there (in memory: it does not survive a DM restart) until the agent acknowledges it.
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { WebSocketServer, WebSocket } from 'ws'
import { EMBEDDED_CLOSE_CODES, parseAgentFrame, type AgentFrame, type DmFrame } from '../../protocol/embedded-frames.js'
import { parseAgentToDmMessage, type AgentToDmMessage, type DmToAgentMessage } from '../../protocol/messages.js'
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import { EMBEDDED_CLOSE_GRACE_MS, EMBEDDED_PING_INTERVAL_MS } from '../../link/constants.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { ReliableSession } from '../../link/session.js'
import { PairMap } from '../../protocol/keys.js'
import { senderMismatch } from './sender.js'
import type { AgentMessageHandler, AgentMachine, DmMessaging, MessagingMetrics } from './types.js'
import { checkCredential, issueCredential, memoryCredentialStore, revokeCredential, type MachineCredentialStore } from './credentials.js'
import { errorMessage } from '../../protocol/errors.js'
import {
  EMBEDDED_HELLO_DEADLINE_MS, EMBEDDED_MAX_FRAME_BYTES, EMBEDDED_MAX_HELLO_BYTES, EMBEDDED_MAX_HELLO_FIELD_CHARS,
  EMBEDDED_MAX_HELLO_PATH_CHARS, EMBEDDED_MAX_UNAUTHENTICATED_PER_ADDRESS, loggable, type EmbeddedRefusal
} from './limits.js'
import { signDmCommandJson, type DmSigningKey } from '../../protocol/mesh.js'
import { type Logger } from '../../common/log.js'

/** Default TCP port of the embedded agents' endpoint. */
export const DEFAULT_EMBEDDED_PORT = 7401
/** Path of the agents' endpoint. */
export const EMBEDDED_AGENTS_PATH = '/agents'

/** The embedded messaging was configured without a DM token: agents could not be authenticated. */
export class MissingDmTokenError extends Error {
  constructor () {
    super('the embedded messaging needs the DM token to authenticate agents; set the DM token in its configuration')
    this.name = 'MissingDmTokenError'
  }
}

/** The agents' endpoint cannot listen (port in use, address not local, no permission). */
export class EmbeddedListenError extends Error {
  constructor (readonly address: string, cause: Error) {
    super(`the embedded messaging cannot listen for agents on ${address}: ${cause.message}; ` +
      'choose another port (or host) in the DM\'s messaging configuration, or stop what uses it')
    this.name = 'EmbeddedListenError'
  }
}

/** A frame came on a connection another connection of the same machine took over: dropped, the new one resends. */
export class ReplacedConnectionFrameError extends Error {
  constructor (readonly scopedInstancePath: string, readonly frameType: string) {
    super(`a '${frameType}' frame for ${scopedInstancePath} on a connection another one took over (dropped; the agent ` +
      'resends what was not acknowledged on its new connection; frequent ones mean two agents share a machine\'s credential)')
    this.name = 'ReplacedConnectionFrameError'
  }
}

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export interface EmbeddedMessagingComponents {
  /** The DM's own token: accepted in a hello for any path (the DM's operator), never handed to agents. */
  dmToken: string
  /** Where machines' credential hashes are kept; default: in memory (lost with the process: tests). */
  credentials?: MachineCredentialStore
  /**
   * The DM's signing key: every command is signed, and machines' endpoints carry its public key, so that their agents
   * run only what the DM signed. Default: none (commands unsigned; agents given no key accept them).
   */
  signingKey?: DmSigningKey
  /**
   * The endpoint's TLS (tls.ts): it speaks `wss://` with `cert` and `key`, and hands agents `ca` to pin. Default none:
   * plaintext `ws://` (`--insecure`, tests of the plaintext link).
   */
  tls?: { cert: string, key: string, ca: string }
  /** TCP port; default 7401, 0 picks a free one (tests). */
  port?: number
  /** Listen address; default '127.0.0.1' ('0.0.0.0' when agents run on other machines). */
  host?: string
  /** Base URL agents dial, e.g. `wss://10.0.0.2:7401`; default `wss://<host>:<port>` (`ws://` without tls). */
  publicUrl?: string
  logger?: Logger
  /** How long a socket may stay without a valid hello, in ms; default EMBEDDED_HELLO_DEADLINE_MS (10 000). */
  helloDeadlineMs?: number
  /**
   * Sockets without a valid hello yet, per remote address; default EMBEDDED_MAX_UNAUTHENTICATED_PER_ADDRESS (64).
   */
  maxUnauthenticatedPerAddress?: number
}

/** What the DM keeps per scoped instance: its reliable session (link/session.ts) and its current socket. */
interface AgentMailbox {
  application: string
  scopedInstancePath: string
  session: ReliableSession<DmToAgentMessage>
  socket: WebSocket | undefined
}

class EmbeddedMessaging implements DmMessaging {
  private server: WebSocketServer | undefined
  private https: HttpsServer | undefined
  private readonly dispatcher: MessageDispatcher<AgentToDmMessage>
  private readonly logger: Logger
  private readonly mailboxes = new PairMap<AgentMailbox>()
  /** Identifies this DM process: agents reset their replay detection when it changes (one for all mailboxes). */
  private readonly epoch = randomUUID()
  private readonly alive = new WeakSet<WebSocket>()
  /** The highest sequence number to acknowledge on each socket at the end of the turn (acknowledgeLater). */
  private readonly pendingAcks = new WeakMap<WebSocket, number>()
  private pingTimer: NodeJS.Timeout | undefined
  private sent = 0
  private connections = 0
  /** Sockets without a valid hello yet, by remote address. */
  private readonly unauthenticated = new Map<string, number>()
  private readonly refusals = new Map<EmbeddedRefusal, number>()

  private readonly credentials: MachineCredentialStore

  constructor (private readonly components: EmbeddedMessagingComponents) {
    if (components.dmToken === undefined || components.dmToken === '') throw new MissingDmTokenError()
    this.credentials = components.credentials ?? memoryCredentialStore()
    this.logger = components.logger ?? console
    this.dispatcher = new MessageDispatcher(parseAgentToDmMessage, this.logger, 'DM (embedded messaging)')
  }

  async start (): Promise<void> {
    const host = this.components.host ?? '127.0.0.1'
    const port = this.components.port ?? DEFAULT_EMBEDDED_PORT
    const { tls } = this.components
    // maxPayload: a larger frame closes its socket (1009) as soon as its header arrives, before it is buffered.
    let server: WebSocketServer
    if (tls !== undefined) {
      const https = createHttpsServer({ cert: tls.cert, key: tls.key })
      // A client that fails the TLS handshake (a man in the middle, a scanner) is counted, and never reaches the hello.
      https.on('tlsClientError', (err, socket) => {
        this.refusals.set('tls', (this.refusals.get('tls') ?? 0) + 1)
        this.logger.warn(`DM (embedded messaging): TLS handshake failed with ${loggable(socket.remoteAddress ?? 'unknown')}: ${loggable(err.message)}`)
      })
      server = new WebSocketServer({ server: https, path: EMBEDDED_AGENTS_PATH, maxPayload: EMBEDDED_MAX_FRAME_BYTES })
      await new Promise<void>((resolve, reject) => {
        https.once('error', err => reject(new EmbeddedListenError(`${host}:${port}`, err)))
        https.listen(port, host, () => resolve())
      })
      https.on('error', err => this.logger.error(`DM (embedded messaging): ${err.message}`))
      this.https = https
    } else {
      server = new WebSocketServer({ host, port, path: EMBEDDED_AGENTS_PATH, maxPayload: EMBEDDED_MAX_FRAME_BYTES })
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve)
        server.once('error', err => reject(new EmbeddedListenError(`${host}:${port}`, err)))
      })
    }
    server.on('error', err => this.logger.error(`DM (embedded messaging): ${err.message}`))
    server.on('connection', (socket, request) => this.accept(socket, request.socket.remoteAddress ?? 'unknown'))
    this.server = server
    this.pingTimer = setInterval(() => {
      for (const socket of server.clients) {
        if (!this.alive.has(socket)) {
          socket.terminate()
          continue
        }
        this.alive.delete(socket)
        socket.ping()
      }
    }, EMBEDDED_PING_INTERVAL_MS)
    this.pingTimer.unref()
  }

  connected (): boolean {
    return this.server !== undefined
  }

  async stop (): Promise<void> {
    clearInterval(this.pingTimer)
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    // A polite close first; agents that do not answer it within the grace are cut.
    const closing = [...server.clients].map(async socket => {
      await new Promise<void>(resolve => {
        socket.once('close', () => resolve())
        socket.close(1001, 'DM stopping')
        setTimeout(() => { socket.terminate(); resolve() }, EMBEDDED_CLOSE_GRACE_MS).unref()
      })
    })
    await Promise.all(closing)
    await new Promise<void>(resolve => server.close(() => resolve()))
    const https = this.https
    this.https = undefined
    if (https !== undefined) await new Promise<void>(resolve => https.close(() => resolve()))
  }

  private helloDeadlineMs (): number {
    return this.components.helloDeadlineMs ?? EMBEDDED_HELLO_DEADLINE_MS
  }

  private mailbox (application: string, scopedInstancePath: string): AgentMailbox {
    let mailbox = this.mailboxes.get(application, scopedInstancePath)
    if (mailbox === undefined) {
      mailbox = { application, scopedInstancePath, session: new ReliableSession(this.epoch), socket: undefined }
      this.mailboxes.set(application, scopedInstancePath, mailbox)
    }
    return mailbox
  }

  async prepareAgent (application: string, scopedInstancePath: string): Promise<void> {
    this.mailbox(application, scopedInstancePath)
  }

  async sendToAgent (application: string, scopedInstancePath: string, msg: DmToAgentMessage): Promise<void> {
    const mailbox = this.mailbox(application, scopedInstancePath)
    const { signingKey } = this.components
    const frame = mailbox.session.enqueue(msg, undefined, signingKey === undefined
      ? undefined
      : (seq, bodyJson) => signDmCommandJson(signingKey, application, scopedInstancePath, seq, bodyJson))
    this.sent++
    if (mailbox.socket?.readyState === WebSocket.OPEN) mailbox.socket.send(frame)
  }

  onAgentMessage (handler: AgentMessageHandler): void {
    this.dispatcher.add(handler)
  }

  async forgetAgent (application: string, scopedInstancePath: string): Promise<void> {
    revokeCredential(this.credentials, application, scopedInstancePath)
    this.mailboxes.get(application, scopedInstancePath)?.socket?.close(1000, 'scoped instance forgotten by the DM')
    this.mailboxes.delete(application, scopedInstancePath)
  }

  async deleteApplication (application: string): Promise<void> {
    for (const mailbox of this.mailboxes.valuesOf(application)) await this.forgetAgent(application, mailbox.scopedInstancePath)
  }

  agentEndpoint (machine?: AgentMachine): AgentEndpoint {
    const token = machine === undefined
      ? this.components.dmToken
      : issueCredential(this.credentials, machine.application, machine.scopedInstancePath)
    const dmKey = machine !== undefined ? this.components.signingKey?.publicKey : undefined
    const ca = this.components.tls?.ca
    return {
      kind: 'embedded', url: `${this.baseUrl()}${EMBEDDED_AGENTS_PATH}`, token, ...(dmKey !== undefined ? { dmKey } : {}), ...(ca !== undefined ? { ca } : {})
    }
  }

  private baseUrl (): string {
    if (this.components.publicUrl !== undefined) return this.components.publicUrl.replace(/\/+$/, '')
    const host = this.components.host ?? '127.0.0.1'
    const address = (this.https?.address() ?? this.server?.address()) as AddressInfo | undefined
    const port = address?.port ?? this.components.port ?? DEFAULT_EMBEDDED_PORT
    // a wildcard listen address is not dialable: hand out loopback (set publicUrl for remote agents)
    const dialable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
    return `${this.components.tls !== undefined ? 'wss' : 'ws'}://${dialable.includes(':') ? `[${dialable}]` : dialable}:${port}`
  }

  metrics (): MessagingMetrics {
    return {
      sent: this.sent, received: this.dispatcher.received, rejected: this.dispatcher.rejected, connections: this.connections,
      refused: Object.fromEntries(this.refusals)
    }
  }

  /** Counts the refusal, logs it (fields escaped) and closes the socket with a reason `ws` accepts (<= 123 bytes). */
  private refuse (socket: WebSocket, reason: EmbeddedRefusal, code: number, message: string, detail?: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
    if (detail !== undefined) this.logger.warn(`DM (embedded messaging): refused a socket (${reason}): ${detail}`)
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return
    socket.close(code, Buffer.from(message).subarray(0, 123).toString().replace(/\uFFFD$/, ''))
  }

  private accept (socket: WebSocket, address: string): void {
    this.alive.add(socket)
    socket.on('pong', () => this.alive.add(socket))
    socket.on('error', err => {
      // `ws` closes a socket whose frame exceeds maxPayload (1009) with this error.
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.refuse(socket, 'frame-too-large', 1009, 'frame too large', `a frame over ${EMBEDDED_MAX_FRAME_BYTES} bytes from ${address}`)
      } else {
        this.logger.warn(`DM (embedded messaging): agent socket error: ${err.message}`)
      }
    })
    const unauthenticated = (this.unauthenticated.get(address) ?? 0) + 1
    this.unauthenticated.set(address, unauthenticated)
    let counted = true
    const authenticated = (): void => {
      if (!counted) return
      counted = false
      const left = (this.unauthenticated.get(address) ?? 1) - 1
      if (left <= 0) this.unauthenticated.delete(address)
      else this.unauthenticated.set(address, left)
    }
    let mailbox: AgentMailbox | undefined
    const helloTimer = setTimeout(() => {
      this.refuse(socket, 'no-hello', EMBEDDED_CLOSE_CODES.badHello, 'no hello received', `no hello from ${address} within ${this.helloDeadlineMs()} ms`)
    }, this.helloDeadlineMs())
    socket.on('close', () => {
      clearTimeout(helloTimer)
      authenticated()
      if (mailbox?.socket === socket) mailbox.socket = undefined
    })
    if (unauthenticated > (this.components.maxUnauthenticatedPerAddress ?? EMBEDDED_MAX_UNAUTHENTICATED_PER_ADDRESS)) {
      this.refuse(socket, 'too-many-unauthenticated', 1013, 'too many connections without hello; try again later',
        `${address} has ${unauthenticated - 1} sockets without a hello already`)
      return
    }
    socket.on('message', data => {
      this.alive.add(socket)
      if (mailbox === undefined && (data as Buffer).byteLength > EMBEDDED_MAX_HELLO_BYTES) {
        clearTimeout(helloTimer)
        this.refuse(socket, 'frame-too-large', EMBEDDED_CLOSE_CODES.badHello, `a hello is at most ${EMBEDDED_MAX_HELLO_BYTES} bytes`,
          `a first frame of ${(data as Buffer).byteLength} bytes from ${address}`)
        return
      }
      let frame: AgentFrame
      try {
        frame = parseAgentFrame(data as Buffer)
      } catch (err) {
        this.dispatcher.reject(err, `${mailbox === undefined ? `an agent not yet identified (${address})` : loggable(mailbox.scopedInstancePath)} (frame)`)
        if (mailbox === undefined) {
          clearTimeout(helloTimer)
          this.refuse(socket, 'bad-hello', EMBEDDED_CLOSE_CODES.badHello, errorMessage(err))
        }
        return
      }
      if (mailbox === undefined) {
        clearTimeout(helloTimer)
        mailbox = this.hello(socket, frame, address)
        if (mailbox !== undefined) authenticated()
        return
      }
      this.onFrame(mailbox, socket, frame)
    })
  }

  /** Authenticates the first frame; returns the agent's mailbox, or undefined after closing the socket. */
  private hello (socket: WebSocket, frame: AgentFrame, address: string): AgentMailbox | undefined {
    if (frame.t !== 'hello') {
      this.refuse(socket, 'bad-hello', EMBEDDED_CLOSE_CODES.badHello, `expected a hello frame first, got '${frame.t}'`)
      return undefined
    }
    const tooLong = (['application', 'token', 'epoch'] as const).find(f => frame[f].length > EMBEDDED_MAX_HELLO_FIELD_CHARS) ??
      (frame.scopedInstancePath.length > EMBEDDED_MAX_HELLO_PATH_CHARS ? 'scopedInstancePath' : undefined)
    if (tooLong !== undefined) {
      this.refuse(socket, 'field-too-long', EMBEDDED_CLOSE_CODES.badHello, `hello field ${tooLong} is too long`,
        `a hello from ${address} whose ${tooLong} has ${frame[tooLong].length} characters`)
      return undefined
    }
    if (!sameSecret(frame.token, this.components.dmToken)) {
      const verdict = checkCredential(this.credentials, frame.application, frame.scopedInstancePath, frame.token)
      if (!verdict.ok) {
        this.refuse(socket, verdict.reason, EMBEDDED_CLOSE_CODES.unauthorized,
          `credential not valid for ${frame.scopedInstancePath} of application '${frame.application}' (${verdict.reason})`,
          `the agent of ${loggable(frame.scopedInstancePath)} (${loggable(frame.application)}) from ${address}: ${verdict.reason}`)
        return undefined
      }
    }
    const mailbox = this.mailbox(frame.application, frame.scopedInstancePath)
    if (mailbox.socket !== undefined && mailbox.socket !== socket) {
      mailbox.socket.close(EMBEDDED_CLOSE_CODES.replaced, 'another connection took over this scoped instance')
    }
    mailbox.socket = socket
    mailbox.session.peerIs(frame.epoch)
    this.connections++
    socket.send(JSON.stringify({ t: 'welcome', epoch: mailbox.session.epoch } satisfies DmFrame))
    for (const pending of mailbox.session.unacknowledged()) socket.send(pending)
    return mailbox
  }

  /**
   * Acknowledges `seq` on the socket it came on, once this turn's work is done: acknowledgements are cumulative, so
   * the messages of one read (an agent's reports of one engine step, handled in the same turn) cost one frame and one
   * TLS write, not one each. Never on another socket: a new connection may come from a new agent process, whose
   * numbers start again.
   */
  private acknowledgeLater (mailbox: AgentMailbox, socket: WebSocket, seq: number): void {
    const pending = this.pendingAcks.get(socket)
    if (pending !== undefined) {
      this.pendingAcks.set(socket, Math.max(pending, seq))
      return
    }
    this.pendingAcks.set(socket, seq)
    setImmediate(() => {
      const highest = this.pendingAcks.get(socket)
      this.pendingAcks.delete(socket)
      if (highest !== undefined && socket.readyState === WebSocket.OPEN) socket.send(mailbox.session.ackFrame(highest))
    })
  }

  private onFrame (mailbox: AgentMailbox, socket: WebSocket, frame: AgentFrame): void {
    // A connection another one took over may still deliver frames it had in flight. Its sequence numbers belong to
    // its own epoch: accepted against the new connection's session, they would mark the new peer's messages as
    // replays (acknowledged, never handled). The new connection resends what was not acknowledged.
    if (mailbox.socket !== socket) {
      this.dispatcher.reject(new ReplacedConnectionFrameError(loggable(mailbox.scopedInstancePath), frame.t), `the agent of ${loggable(mailbox.scopedInstancePath)} (${mailbox.application})`)
      return
    }
    switch (frame.t) {
      case 'hello':
        this.logger.warn(`DM (embedded messaging): ignored a second hello from ${loggable(mailbox.scopedInstancePath)}`)
        return
      case 'ack':
        mailbox.session.acknowledge(frame.seq)
        return
      case 'msg': {
        const seq = frame.seq
        const ack = (): void => { this.acknowledgeLater(mailbox, socket, seq) }
        if (!mailbox.session.accept(seq)) {
          ack()
          return
        }
        const { application, scopedInstancePath } = mailbox
        void this.dispatcher.dispatch(frame.body, `the agent of ${scopedInstancePath} (${application})`,
          msg => senderMismatch(msg, application, scopedInstancePath)).then(ack)
      }
    }
  }
}

export function createEmbeddedMessaging (components: EmbeddedMessagingComponents): DmMessaging {
  return new EmbeddedMessaging(components)
}
