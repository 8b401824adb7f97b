// Validation and in-order delivery of received messages, shared by every link and every DmMessaging: what comes
// from the wire is parsed (protocol/messages.ts), rejected input is logged and counted, never thrown.
import { decodeJson } from '../protocol/checks.js'
import { REJECTION_LOG_INTERVAL_MS, REJECTION_LOG_LIMIT } from './constants.js'
import { errorMessage } from '../protocol/errors.js'
import { type Logger } from '../common/log.js'

export type MessageHandler<M> = (msg: M) => void | Promise<void>

export class MessageDispatcher<M> {
  private readonly handlers: Array<MessageHandler<M>> = []
  /** Delivery chain: handlers see one message at a time, in arrival order. */
  private tail: Promise<void>
  /** Messages that arrive before the first handler is added wait for it (a link may start before its owner listens). */
  private readonly firstHandler: Promise<void>
  private firstHandlerAdded: () => void = () => {}
  received = 0
  rejected = 0
  private logWindowStart = 0
  private loggedInWindow = 0
  private unloggedInWindow = 0

  /**
   * @param parse the protocol parse function (throws on invalid input)
   * @param where names the receiver in log lines, e.g. `agent /VM 1 of app1`
   */
  constructor (
    private readonly parse: (value: unknown) => M,
    private readonly logger: Logger,
    private readonly where: string
  ) {
    this.firstHandler = new Promise(resolve => { this.firstHandlerAdded = resolve })
    this.tail = this.firstHandler
  }

  add (handler: MessageHandler<M>): void {
    this.handlers.push(handler)
    this.firstHandlerAdded()
  }

  /** Decodes wire bytes, then as `dispatch`. */
  async dispatchRaw (raw: string | Uint8Array, source: string, accept?: (msg: M) => string | undefined): Promise<void> {
    let value: unknown
    try {
      value = decodeJson(raw)
    } catch (err) {
      this.reject(err, source)
      return
    }
    await this.dispatch(value, source, accept)
  }

  /**
   * Validates a decoded value and hands it to the handlers once those of earlier messages have finished.
   * `accept` may refuse a valid message (returns why), e.g. one claiming another application than its sender's.
   * Resolves once the handlers are done; never rejects.
   */
  async dispatch (value: unknown, source: string, accept?: (msg: M) => string | undefined): Promise<void> {
    let msg: M
    try {
      msg = this.parse(value)
      const refusal = accept?.(msg)
      if (refusal !== undefined) throw new Error(refusal)
    } catch (err) {
      this.reject(err, source)
      return
    }
    const delivery = this.tail.then(async () => {
      this.received++
      for (const handler of this.handlers) {
        try {
          await handler(msg)
        } catch (err) {
          this.logger.error(`${this.where}: the handler of a '${(msg as { kind?: string }).kind}' message failed: ${(err as Error).stack ?? String(err)}`)
        }
      }
    })
    this.tail = delivery
    await delivery
  }

  /** Counts a rejection and logs it, at most REJECTION_LOG_LIMIT lines per interval (a flood must not fill disks). */
  reject (err: unknown, source: string): void {
    this.rejected++
    const now = Date.now()
    if (now - this.logWindowStart >= REJECTION_LOG_INTERVAL_MS) {
      if (this.unloggedInWindow > 0) this.logger.warn(`${this.where}: ${this.unloggedInWindow} more invalid message(s) dropped without a log line`)
      this.logWindowStart = now
      this.loggedInWindow = 0
      this.unloggedInWindow = 0
    }
    if (this.loggedInWindow >= REJECTION_LOG_LIMIT) {
      this.unloggedInWindow++
      return
    }
    this.loggedInWindow++
    this.logger.warn(`${this.where}: dropped a message from ${source}: ${errorMessage(err)}`)
  }
}
