// The one logger of the DM, the agents, the link and the mesh. A process logs through pino: JSON lines (level, time,
// component, application, path, step, msg), or on a terminal one readable line each (`15:04:05 WARN  [agent]
// /vm/db start: ...`). Code takes a `Logger` (the interface), so a test or a benchmark can pass its own.
import { pino, type DestinationStream, type Logger as Pino } from 'pino'
import { isoTime } from './clock.js'

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
  /** Where the lines go; default stderr, written synchronously (a killed process keeps its last lines). */
  write?: (line: string) => void
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

export function createProcessLogger (options: ProcessLoggerOptions): ProcessLogger {
  const readable = options.readable ?? process.stderr.isTTY === true
  const out = options.write ?? ((line: string) => { process.stderr.write(line) })
  const stderr: DestinationStream = readable
    ? { write: line => { out(readableLine(line)) } }
    : options.write !== undefined ? { write: options.write } : pino.destination({ dest: 2, sync: true })
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
