// The agent's recent log, kept in memory for `meshconf logs` (the DM asks for it through the link): the last
// LOG_RING_BYTES of lines, each with a sequence number (a reader's cursor), and, for the lines a recipe printed, the
// instance and the step they belong to.
import { LOGS_ANSWER_MAX_BYTES } from '../protocol/messages.js'
import { LOG_RING_BYTES } from './constants.js'
import { lineLogger, type Logger } from '../common/log.js'
import { isoTime } from '../common/clock.js'

export type LogLevel = 'info' | 'warn' | 'error'

export interface LogLine {
  seq: number
  /** ISO time. */
  at: string
  level: LogLevel
  message: string
  /** The instance the line is about (`[<path>] ...` lines). */
  instance?: string
  /** The life-cycle step whose recipe printed the line. */
  step?: string
}

export interface LogQuery {
  /** Only lines after this sequence number. */
  afterSeq?: number
  /** Only the last `tail` lines (after the other filters). */
  tail?: number
  /** Only the lines of this instance and its subtree. */
  instance?: string
}

/** `[/vm1/db] start: script scripts/start.sh: ...`: the instance, and the step when a recipe printed it. */
const ATTRIBUTED = /^\[(\/[^\]]*)\](?: (deploy|start|update|stop|undeploy):)?/

/** A kept line: its time as a number, made an ISO string only when read (every line is kept, few are read). */
type KeptLine = Omit<LogLine, 'at'> & { atMs: number }

export class LogRing {
  private readonly lines: KeptLine[] = []
  private bytes = 0
  private seq = 0

  constructor (private readonly maxBytes = LOG_RING_BYTES) {}

  /** Keeps a line; returns the instance and step it is about. */
  add (level: LogLevel, message: string): Pick<LogLine, 'instance' | 'step'> {
    const found = message.startsWith('[') ? ATTRIBUTED.exec(message) : null
    const line: KeptLine = {
      seq: ++this.seq, atMs: Date.now(), level, message,
      ...(found === null ? {} : { instance: found[1], ...(found[2] === undefined ? {} : { step: found[2] }) })
    }
    this.lines.push(line)
    this.bytes += message.length + 40
    while (this.bytes > this.maxBytes && this.lines.length > 1) this.bytes -= (this.lines.shift()?.message.length ?? 0) + 40
    return line
  }

  read (query: LogQuery = {}): { lines: LogLine[], lastSeq: number } {
    let lines = this.lines
    if (query.afterSeq !== undefined) lines = lines.filter(l => l.seq > (query.afterSeq as number))
    if (query.instance !== undefined) {
      const path = query.instance
      lines = lines.filter(l => l.instance !== undefined && (l.instance === path || l.instance.startsWith(`${path}/`)))
    }
    if (query.tail !== undefined) lines = lines.slice(-query.tail)
    // an answer is bounded: the newest lines of a tail, else the oldest after the cursor (the reader asks on)
    const fromEnd = query.afterSeq === undefined
    const kept: LogLine[] = []
    let bytes = 0
    for (let i = 0; i < lines.length; i++) {
      const { atMs, ...line } = lines[fromEnd ? lines.length - 1 - i : i]
      bytes += line.message.length + 80
      if (bytes > LOGS_ANSWER_MAX_BYTES && kept.length > 0) break
      kept.push({ ...line, at: isoTime(atMs) })
    }
    return { lines: fromEnd ? kept.reverse() : kept, lastSeq: this.seq }
  }
}

/**
 * A logger keeping every line but debug in `ring` before passing it to `out`, with the instance path it is about (a
 * `[<path>] ...` line, the step when a recipe printed it), else `machinePath`.
 */
export function ringLogger (ring: LogRing, out: Logger, machinePath: string): Logger {
  return lineLogger((level, message, fields) => {
    if (level === 'debug') {
      out.debug(message, fields)
      return
    }
    const line = ring.add(level, message)
    out[level](message, { path: line.instance ?? machinePath, ...(line.step === undefined ? {} : { step: line.step }), ...fields })
  })
}
