// The one logger of the DM, the agents, the link and the mesh. A process logs through pino: JSON lines (level, time,
// component, application, path, step, msg), or on a terminal one readable line each (`15:04:05 WARN  [agent]
// /vm/db start: ...`). Code takes a `Logger` (the interface), so a test or a benchmark can pass its own.
import { pino, type DestinationStream, type Logger as Pino } from 'pino'
import { isoTime } from './clock.js'
import { LOG_BATCH_MAX_CHARS } from './constants.js'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** What a line is about, where known. */
export interface LogFields {
  application?: string
  /** The instance path (`/Tomcat VM 1/Tomcat`; an agent's own lines: its machine's). */
  path?: string
  /** The life-cycle step whose recipe printed the line. */
  step?: string
}

/** The logger every part takes. `console` fits. */
export interface Logger {
  debug (message: string, fields?: LogFields): void
  info (message: string, fields?: LogFields): void
  warn (message: string, fields?: LogFields): void
  error (message: string, fields?: LogFields): void
}

/** A logger that drops every line (a part whose owner did not give one, and does not want its lines). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

/** A process's pino logger behind the Logger interface. */
export interface ProcessLogger extends Logger {
  /** The pino logger itself (fastify's request log). */
  readonly pino: Pino
  /** Writes what is buffered and closes the log file. */
  close (): Promise<void>
}

export interface ProcessLoggerOptions {
  /** `dm`, `agent`, ...: the `component` field of every line. */
  component: string
  /** Fields of every line (an agent's application). */
  bindings?: Pick<LogFields, 'application'>
  /** Least level written; default info. */
  level?: LogLevel
  /** Readable lines instead of JSON on `write`; default: when stderr is a terminal. */
  readable?: boolean
  /**
   * Where the lines go; default stderr (or `fd`), written at the end of the event-loop turn that logged them and at
   * once when the process exits (turnBatchedDestination).
   */
  write?: (line: string) => void
  /** The file descriptor of the JSON lines when no `write` is given; default 2 (stderr). */
  fd?: number
  /** Also append the JSON lines to this file. */
  file?: string
  /** Paths of a line's fields whose value never reaches the log. */
  redact?: string[]
}

/** A line for people from a pino JSON line. */
export function readableLine (json: string): string {
  try {
    const entry = JSON.parse(json) as {
      level: number, time: number, msg?: string, component?: string, path?: string, step?: string,
      req?: { method?: string, url?: string }, res?: { statusCode?: number }
    }
    const level = pino.levels.labels[entry.level]?.toUpperCase() ?? String(entry.level)
    const about = entry.path !== undefined && entry.msg?.startsWith(`[${entry.path}]`) !== true ? `${entry.path}${entry.step !== undefined ? ` ${entry.step}` : ''}: ` : ''
    const request = entry.req !== undefined ? ` ${entry.req.method ?? ''} ${entry.req.url ?? ''}` : entry.res !== undefined ? ` ${entry.res.statusCode ?? ''}` : ''
    return `${isoTime(entry.time).slice(11, 19)} ${level.padEnd(5)} ${entry.component !== undefined ? `[${entry.component}] ` : ''}${about}${entry.msg ?? ''}${request}\n`
  } catch {
    return json
  }
}

/** Lines waiting for the end of their event-loop turn, flushed at once at exit (one set for every destination). */
const unflushed = new Set<() => void>()
let exitHooked = false
const flushAll = (): void => { for (const flush of [...unflushed]) flush() }

/**
 * Lines to a file descriptor, written with one synchronous write at the end of the event-loop turn that logged them
 * (setImmediate) rather than one write each as they are logged: whatever the turn does after a log line (an update's
 * spawn, an announce, a report to the DM) does not wait for the write system call, and lines of one turn (a recipe's
 * output) share one write. At exit (process.exit, the end of the event loop, an uncaught exception before it is
 * printed) the pending lines are written synchronously; a process killed with SIGKILL loses at most the lines of
 * the turn it was killed in (the in-memory log ring, which `meshconf logs` reads, had them anyway).
 */
export function turnBatchedDestination (fd: number): DestinationStream & { flush: () => void } {
  const out = pino.destination({ dest: fd, sync: true })
  let pending = ''
  let scheduled: NodeJS.Immediate | undefined
  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled)
    scheduled = undefined
    unflushed.delete(flush)
    if (pending === '') return
    const text = pending
    pending = ''
    out.write(text)
  }
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', flushAll)
    process.on('uncaughtExceptionMonitor', flushAll)
  }
  return {
    flush,
    write: (line: string) => {
      pending += line
      if (pending.length >= LOG_BATCH_MAX_CHARS) { flush(); return }
      if (scheduled === undefined) {
        scheduled = setImmediate(flush)
        unflushed.add(flush)
      }
    }
  }
}

export function createProcessLogger (options: ProcessLoggerOptions): ProcessLogger {
  const readable = options.readable ?? process.stderr.isTTY === true
  const out = options.write ?? ((line: string) => { process.stderr.write(line) })
  const batched = readable || options.write !== undefined ? undefined : turnBatchedDestination(options.fd ?? 2)
  const stderr: DestinationStream = batched ?? (readable
    ? { write: line => { out(readableLine(line)) } }
    : { write: options.write ?? out })
  const file = options.file === undefined ? undefined : pino.destination({ dest: options.file, append: true, sync: false })
  file?.on('error', (err: Error) => { stderr.write(`${JSON.stringify({ level: 50, time: Date.now(), component: options.component, msg: `cannot write ${options.file}: ${err.message}` })}\n`) })
  const destination: DestinationStream = file === undefined ? stderr : { write: line => { stderr.write(line); file.write(line) } }
  const logger = pino({
    level: options.level ?? 'info',
    base: { component: options.component, ...options.bindings },
    ...(options.redact === undefined ? {} : { redact: { paths: options.redact, censor: '[redacted]' } })
  }, destination)
  const at = (level: LogLevel) => (message: string, fields?: LogFields): void => {
    if (fields === undefined) logger[level](message)
    else logger[level](fields, message)
  }
  return {
    pino: logger,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    close: async () => {
      batched?.flush()
      if (file === undefined) return
      await new Promise<void>(resolve => {
        file.once('close', () => resolve())
        file.once('error', () => resolve())
        file.end()
      })
    }
  }
}

/** `<ISO time> LEVEL message` lines on stderr, debug left out: the default of a part nobody gave a logger. */
export const stderrLogger: Logger = {
  debug: () => {},
  info: message => { process.stderr.write(`${isoTime(Date.now())} INFO ${message}\n`) },
  warn: message => { process.stderr.write(`${isoTime(Date.now())} WARN ${message}\n`) },
  error: message => { process.stderr.write(`${isoTime(Date.now())} ERROR ${message}\n`) }
}

/** A Logger calling `write` with each line's level (tests, benchmarks and simulations route lines where they want). */
export function lineLogger (write: (level: LogLevel, message: string, fields?: LogFields) => void): Logger {
  return {
    debug: (message, fields) => { write('debug', message, fields) },
    info: (message, fields) => { write('info', message, fields) },
    warn: (message, fields) => { write('warn', message, fields) },
    error: (message, fields) => { write('error', message, fields) }
  }
}
