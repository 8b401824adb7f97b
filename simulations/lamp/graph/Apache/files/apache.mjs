// The LAMP simulation's "Apache": an HTTP reverse proxy that spreads requests over its balancer members in turn
// (round robin, like mod_proxy_balancer's byrequests) and re-reads its member list on SIGHUP without restarting,
// as `apachectl graceful` does (Node built-ins only).
//   GET /server-status  -> 200 { pid, startedAt, reloads, members } (answered by the proxy itself)
//   anything else       -> forwarded to the next member; a member that refuses the connection is skipped;
//                          502 when none answers, 503 when there is no member. Header x-balancer-member names it.
// Usage: node apache.mjs --config <file> --pid-file <file>
// The config file (written by the recipes) holds `key = value` lines: `host = 127.0.0.1`, `port = 80`, and one
// `member = http://<ip>:<port>` line per Tomcat. The pid file is written once the proxy listens and removed on
// SIGTERM/SIGINT; the proxy exits when the pid file disappears (its instance folder was removed).
import { createServer, request as httpRequest } from 'node:http'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/** How long a member may take to answer, in milliseconds. */
const MEMBER_TIMEOUT_MS = 10000
/** How often the service checks that its pid file still exists, in milliseconds. */
const PID_FILE_CHECK_MS = 1000

const { values: options } = parseArgs({ options: { config: { type: 'string' }, 'pid-file': { type: 'string' } } })
if (!options.config || !options['pid-file']) usage('--config and --pid-file are required')

const startedAt = new Date().toISOString()
let reloads = 0
let next = 0
let config
try {
  config = readConfig(options.config)
} catch (err) {
  usage(err.message)
}

const server = createServer((request, response) => {
  if (request.url === '/server-status') {
    return answer(response, 200, { pid: process.pid, startedAt, reloads, members: config.members })
  }
  const chunks = []
  request.on('data', chunk => chunks.push(chunk))
  request.on('end', () => forward(request, Buffer.concat(chunks), response, config.members, 0))
})

/** Sends the request to the next member in turn; on a refused connection, tries the following one. */
function forward (request, body, response, members, attempts) {
  if (members.length === 0) return answer(response, 503, { error: 'no balancer member: the config lists no Tomcat' })
  if (attempts === members.length) return answer(response, 502, { error: `no balancer member answered (${members.join(', ')})` })
  const member = members[next++ % members.length]
  const { hostname, port, host } = new URL(member)
  // the path is passed as is, never resolved against the member: a request cannot pick another host
  const outgoing = httpRequest({
    hostname,
    port,
    path: request.url,
    method: request.method,
    headers: { ...request.headers, host, 'x-forwarded-for': request.socket.remoteAddress },
    timeout: MEMBER_TIMEOUT_MS
  }, reply => {
    response.writeHead(reply.statusCode ?? 502, { ...reply.headers, 'x-balancer-member': member })
    reply.pipe(response)
  })
  outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${MEMBER_TIMEOUT_MS} ms`)))
  outgoing.on('error', err => {
    if (response.headersSent) return response.destroy(err)
    console.error(`apache: member ${member} failed: ${err.message}`)
    forward(request, body, response, members, attempts + 1)
  })
  outgoing.end(body)
}

server.on('error', err => {
  console.error(`apache: cannot listen on ${config.host}:${config.port}: ${err.message}`)
  process.exit(1)
})
server.listen(config.port, config.host, () => {
  writeFileSync(options['pid-file'], `${process.pid}\n`)
  watchPidFile()
  console.log(`apache: pid ${process.pid} listening on ${config.host}:${config.port}, members ${config.members.join(' ')}`)
})
process.on('SIGHUP', () => {
  try {
    config = readConfig(options.config)
    reloads++
    console.log(`apache: graceful reload ${reloads}, members ${config.members.join(' ')}`)
  } catch (err) {
    // like `apachectl graceful` on a broken config: keep serving with the old one
    console.error(`apache: configuration kept, ${err.message}`)
  }
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    rmSync(options['pid-file'], { force: true })
    // exit once the server is closed: pooled client connections would otherwise keep the process alive
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}

/** Reads and checks the config file; throws an error naming the file and line on bad input. */
function readConfig (file) {
  const config = { members: [] }
  readFileSync(file, 'utf8').split('\n').forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`${file}:${index + 1}: expected "key = value", got "${line}"`)
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    if (key !== 'member') {
      config[key] = value
      return
    }
    let url
    try {
      url = new URL(value)
    } catch {
      throw new Error(`${file}:${index + 1}: member "${value}" is not a URL; write member = http://<ip>:<port>`)
    }
    if (url.protocol !== 'http:') throw new Error(`${file}:${index + 1}: member "${value}" must be an http:// URL`)
    config.members.push(url.origin)
  })
  for (const name of ['host', 'port']) if (!config[name]) throw new Error(`${file}: "${name} = ..." is missing`)
  config.port = Number(config.port)
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) {
    throw new Error(`${file}: port must be an integer in 1..65535`)
  }
  return config
}

/**
 * The service runs in its own session, so it outlives the recipe that started it. When its instance folder is
 * removed without stop.sh (machine terminated, agent state wiped), its pid file goes too: it exits, as it would
 * with its machine.
 */
function watchPidFile () {
  setInterval(() => {
    if (existsSync(options['pid-file'])) return
    console.log(`apache: pid file ${options['pid-file']} removed, exiting`)
    process.exit(0)
  }, PID_FILE_CHECK_MS).unref()
}

function answer (response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function usage (problem) {
  console.error(`apache: ${problem}\nusage: node apache.mjs --config <file> --pid-file <file>`)
  process.exit(2)
}
