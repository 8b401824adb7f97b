// The DM's log through pino: JSON lines (level, time, component, msg) on stderr, or, on a terminal, one readable line
// each (`15:04:05 WARN  [rest] ...`). `dm start --log-level` sets the level; fastify's request log goes through it at
// info, with the token and cookies redacted.
import { pino, type Logger } from 'pino'
import type { DmLogger } from './dm.js'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface DmLog extends DmLogger {
  /** The pino logger (fastify's request log). */
  readonly pino: Logger
}

/** A line for people from a pino JSON line. */
export function readableLine (json: string): string {
  try {
    const entry = JSON.parse(json) as { level: number, time: number, msg?: string, component?: string, req?: { method?: string, url?: string }, res?: { statusCode?: number } }
    const level = pino.levels.labels[entry.level]?.toUpperCase() ?? String(entry.level)
    const what = entry.msg ?? ''
    const request = entry.req !== undefined ? ` ${entry.req.method ?? ''} ${entry.req.url ?? ''}` : entry.res !== undefined ? ` ${entry.res.statusCode ?? ''}` : ''
    return `${new Date(entry.time).toISOString().slice(11, 19)} ${level.padEnd(5)} ${entry.component !== undefined ? `[${entry.component}] ` : ''}${what}${request}\n`
  } catch {
    return json
  }
}

export interface DmLogOptions {
  /** Default info. */
  level?: LogLevel
  /** Readable lines instead of JSON; default: when stderr is a terminal. */
  readable?: boolean
  /** Where the lines go; default stderr. */
  write?: (line: string) => void
}

export function createDmLog (options: DmLogOptions = {}): DmLog {
  const readable = options.readable ?? process.stderr.isTTY === true
  const write = options.write ?? ((line: string) => { process.stderr.write(line) })
  const destination = readable
    ? { write: (line: string) => { write(readableLine(line)) } }
    : options.write !== undefined ? { write } : pino.destination(2)
  const logger = pino({
    level: options.level ?? 'info',
    base: { component: 'dm' },
    // a request's token or session cookie never reaches the log
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-meshconf-csrf"]'], censor: '[redacted]' }
  }, destination)
  return {
    pino: logger,
    info: message => { logger.info(message) },
    warn: message => { logger.warn(message) },
    error: message => { logger.error(message) }
  }
}
