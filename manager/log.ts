// The DM's log: the process logger (common/log.ts) with component `dm`; fastify's request log goes through it at
// info (component `rest`), with the token, the session cookie and the CSRF token redacted.
import { createProcessLogger, type ProcessLogger, type ProcessLoggerOptions } from '../common/log.js'

/** Request fields that never reach the log. */
const REDACTED_REQUEST_FIELDS = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-meshconf-csrf"]']

export function createDmLog (options: Omit<ProcessLoggerOptions, 'component' | 'redact'> = {}): ProcessLogger {
  return createProcessLogger({ ...options, component: 'dm', redact: REDACTED_REQUEST_FIELDS })
}
