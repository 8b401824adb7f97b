// The web console's side of the REST server: its static files (dist/web, made by scripts/bundle-web.mjs) at `/`, and
// browser sessions. A person logs in once with the DM token (POST /api/session); the answer sets an httpOnly,
// SameSite=Strict session cookie, so the token never sits in the URL, in local storage or within reach of scripts.
// A cookie-authenticated write must also carry the header X-Meshconf-Csrf with the value of the (readable) CSRF
// cookie of that session: another site can make a browser send the cookie, never that header. The live events'
// WebSocket, a GET the browser opens with the cookie, must come from the DM's own origin.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isAuthorized } from '../auth.js'

/** Name of the httpOnly session cookie. */
export const SESSION_COOKIE = 'meshconf_session'
/** Name of the cookie the page reads and echoes in CSRF_HEADER on writes. */
export const CSRF_COOKIE = 'meshconf_csrf'
/** Header a cookie-authenticated write must carry (lower case, as node gives headers). */
export const CSRF_HEADER = 'x-meshconf-csrf'
/** Lifetime of a session, in milliseconds: 12 hours (the cookie's Max-Age from login; the DM also forgets a session
 * unused that long). */
export const SESSION_IDLE_MS = 12 * 3600_000
/** Sessions kept at once; the least recently used goes first beyond it (logins are not allowed to grow memory). */
export const MAX_SESSIONS = 1000
/** Random bytes of a session id and of a CSRF value. */
const SESSION_ID_BYTES = 32
/** The bundle's files: name -> content type (nothing else of the folder is served). */
const WEB_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8'
}
// Scripts only from the DM itself; Cytoscape writes style attributes, hence 'unsafe-inline' for styles only.
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

export interface ConsoleOptions {
  /** Folder of the built console (index.html, console.js, console.css); default dist/web of this package. */
  webDirectory?: string
  /** Lifetime of a session, in milliseconds; default SESSION_IDLE_MS (12 h). */
  sessionIdleMs?: number
  /** Sessions kept at once; default MAX_SESSIONS (1000). */
  maxSessions?: number
}

interface Session { csrf: string, lastUsedAt: number }

/** What a request's session cookie allows: `ok`, `csrf` (a valid session but a write without the CSRF header, or a
 * WebSocket from another origin) or `none` (no valid session). */
export type SessionVerdict = 'ok' | 'csrf' | 'none'

/** dist/web of this package, from the sources (manager/rest) as from the build (dist/manager/rest). */
function defaultWebDirectory (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '..', '..', 'dist', 'web'), join(here, '..', '..', 'web')]
  return candidates.find(c => existsSync(join(c, 'console.js'))) ?? candidates[0]
}

function sameSecret (given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The cookies of a request (the last one wins for a repeated name; malformed pairs are ignored). */
export function parseCookies (header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined) return cookies
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=')
    if (at <= 0) continue
    cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
  }
  return cookies
}

function cookie (name: string, value: string, httpOnly: boolean, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; SameSite=Strict; Max-Age=${maxAgeSeconds}${httpOnly ? '; HttpOnly' : ''}`
}

export function createConsole (components: { token: string }, options: ConsoleOptions = {}) {
  const { token } = components
  const webDirectory = options.webDirectory ?? defaultWebDirectory()
  const idleMs = options.sessionIdleMs ?? SESSION_IDLE_MS
  const maxSessions = options.maxSessions ?? MAX_SESSIONS
  // insertion order = least recently used first (a use re-inserts)
  const sessions = new Map<string, Session>()
  const counters = { logins: 0, loginFailures: 0, csrfRefusals: 0 }
  const files = new Map<string, Buffer>()

  function sessionOf (request: FastifyRequest): { id: string, session: Session } | undefined {
    const id = parseCookies(request.headers.cookie).get(SESSION_COOKIE)
    if (id === undefined) return undefined
    const session = sessions.get(id)
    if (session === undefined) return undefined
    if (Date.now() - session.lastUsedAt > idleMs) { sessions.delete(id); return undefined }
    sessions.delete(id)
    session.lastUsedAt = Date.now()
    sessions.set(id, session)
    return { id, session }
  }

  function file (name: string): Buffer | undefined {
    const cached = files.get(name)
    if (cached !== undefined) return cached
    const path = join(webDirectory, name)
    if (!existsSync(path)) return undefined
    const content = readFileSync(path)
    files.set(name, content)
    return content
  }

  async function serve (name: string, reply: FastifyReply): Promise<FastifyReply> {
    const content = file(name)
    if (content === undefined) {
      return reply.code(404).send({ error: { code: 'REST_CONSOLE_NOT_BUILT', message: `the web console is not built (no ${join(webDirectory, name)}): run npm run build` } })
    }
    return reply.code(200)
      .header('content-type', WEB_FILES[name])
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(content)
  }

  function expectedOrigins (request: FastifyRequest): string[] {
    const host = request.headers.host ?? ''
    return [`http://${host}`, `https://${host}`]
  }

  return {
    counters,
    webDirectory,

    /** Requests that need no credentials: the console's files and the session endpoints themselves. */
    isPublic (request: FastifyRequest): boolean {
      const path = request.url.split('?')[0]
      if (path === '/api/session') return true
      return request.method === 'GET' && (path === '/' || Object.hasOwn(WEB_FILES, path.slice(1)))
    },

    /** Whether the request's session cookie authenticates it (see SessionVerdict). */
    verdict (request: FastifyRequest): SessionVerdict {
      const found = sessionOf(request)
      if (found === undefined) return 'none'
      const upgrade = request.headers.upgrade?.toLowerCase() === 'websocket'
      if (upgrade) {
        const origin = request.headers.origin
        if (origin !== undefined && !expectedOrigins(request).includes(origin)) { counters.csrfRefusals++; return 'csrf' }
        return 'ok'
      }
      if (request.method === 'GET' || request.method === 'HEAD') return 'ok'
      const header = request.headers[CSRF_HEADER]
      if (typeof header !== 'string' || !sameSecret(header, found.session.csrf)) { counters.csrfRefusals++; return 'csrf' }
      return 'ok'
    },

    /** The console's routes: its files, and POST/GET/DELETE /api/session. */
    register (app: FastifyInstance): void {
      app.get('/', async (_request, reply) => serve('index.html', reply))
      for (const name of Object.keys(WEB_FILES)) {
        if (name !== 'index.html') app.get(`/${name}`, async (_request, reply) => serve(name, reply))
      }
      app.post('/api/session', {
        schema: {
          body: {
            type: 'object', additionalProperties: false, required: ['token'],
            properties: { token: { type: 'string', minLength: 1, maxLength: 1024 } }
          }
        }
      }, async (request, reply) => {
        const given = (request.body as { token: string }).token
        if (!isAuthorized(`Bearer ${given}`, token)) {
          counters.loginFailures++
          return reply.code(401).send({ error: { code: 'REST_UNAUTHORIZED', message: 'wrong DM token: it is in <data-dir>/token of the DM, printed once by its first start' } })
        }
        counters.logins++
        const id = randomBytes(SESSION_ID_BYTES).toString('hex')
        const csrf = randomBytes(SESSION_ID_BYTES).toString('hex')
        sessions.set(id, { csrf, lastUsedAt: Date.now() })
        for (const [old] of sessions) {
          if (sessions.size <= maxSessions) break
          sessions.delete(old)
        }
        const maxAge = Math.floor(idleMs / 1000)
        return reply.code(204).header('set-cookie', [cookie(SESSION_COOKIE, id, true, maxAge), cookie(CSRF_COOKIE, csrf, false, maxAge)]).send()
      })
      // Whether the browser is logged in (the page asks at load, then shows the console or the login form).
      app.get('/api/session', async request => {
        // 200 either way: the page asks at every load, and a 401 would be a console error in the browser
        return { authenticated: sessionOf(request) !== undefined || isAuthorized(request.headers.authorization, token) }
      })
      app.delete('/api/session', async (request, reply) => {
        const found = sessionOf(request)
        // logging out needs the CSRF header too: another site must not end a person's session
        if (found !== undefined) {
          const header = request.headers[CSRF_HEADER]
          if (typeof header !== 'string' || !sameSecret(header, found.session.csrf)) {
            counters.csrfRefusals++
            return reply.code(403).send({ error: { code: 'REST_CSRF', message: `logging out needs the header ${CSRF_HEADER} with the ${CSRF_COOKIE} cookie's value` } })
          }
          sessions.delete(found.id)
        }
        return reply.code(204).header('set-cookie', [cookie(SESSION_COOKIE, '', true, 0), cookie(CSRF_COOKIE, '', false, 0)]).send()
      })
    }
  }
}

export type WebConsole = ReturnType<typeof createConsole>
