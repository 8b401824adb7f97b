// The LAMP simulation's "Tomcat": an HTTP application that answers every GET with its own name and the value
// it reads from the database (Node built-ins only).
//   GET /               -> 200 { name, value, pid } | 502 { name, error } when the database does not answer
//   GET /status         -> 200 { name, pid, requests, rps }: requests served (status requests aside), and requests per
//                          second over the last RPS_WINDOW_MS (what the elastic story's probe reads)
// Usage: node tomcat.mjs --config <file> --pid-file <file>
// The config file (written by the recipes) holds `key = value` lines:
//   name = /Tomcat VM 1/Tomcat     host = 127.0.0.1     port = 8080
//   database = http://127.0.0.1:3306     key = message
// It is re-read at each request, so a new database applies at once (host and port only at the next start).
// The pid file is written once the server listens and removed on SIGTERM/SIGINT; the service exits when the pid
// file disappears (its instance folder was removed).
import { createServer } from 'node:http'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/** How long a database query may take, in milliseconds. */
const DATABASE_TIMEOUT_MS = 5000
/** How often the service checks that its pid file still exists, in milliseconds. */
const PID_FILE_CHECK_MS = 1000
/** The window over which /status counts requests per second, in milliseconds. */
const RPS_WINDOW_MS = 2000
/** Most request times kept for that count: beyond it the rate reads as at least this over the window. */
const MAX_RECENT_REQUESTS = 100000

const { values: options } = parseArgs({ options: { config: { type: 'string' }, 'pid-file': { type: 'string' } } })
if (!options.config || !options['pid-file']) usage('--config and --pid-file are required')

let config
try {
  config = readConfig(options.config)
} catch (err) {
  usage(err.message)
}

let served = 0
/** Times (ms) of the requests of the last RPS_WINDOW_MS, oldest first. */
const recent = []
function forgetOld (now) {
  let old = 0
  while (old < recent.length && recent[old] <= now - RPS_WINDOW_MS) old++
  recent.splice(0, old)
}

const server = createServer((request, response) => {
  if (request.url === '/status') {
    forgetOld(Date.now())
    return answer(response, 200, { name: config.name, pid: process.pid, requests: served, rps: recent.length / (RPS_WINDOW_MS / 1000) })
  }
  served++
  const now = Date.now()
  forgetOld(now)
  if (recent.length < MAX_RECENT_REQUESTS) recent.push(now)
  try {
    config = readConfig(options.config)
  } catch (err) {
    console.error(`tomcat: configuration kept, ${err.message}`)
  }
  const { name, database } = config
  if (request.method !== 'GET') return answer(response, 405, { name, error: 'only GET is served' })
  readValue(config).then(
    value => answer(response, 200, { name, value, pid: process.pid }),
    err => answer(response, 502, { name, error: `database ${database}: ${err.message}` }))
})

server.on('error', err => {
  console.error(`tomcat: cannot listen on ${config.host}:${config.port}: ${err.message}`)
  process.exit(1)
})
server.listen(config.port, config.host, () => {
  writeFileSync(options['pid-file'], `${process.pid}\n`)
  watchPidFile()
  console.log(`tomcat: ${config.name} pid ${process.pid} listening on ${config.host}:${config.port}, database ${config.database}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    rmSync(options['pid-file'], { force: true })
    // exit once the server is closed: pooled client connections would otherwise keep the process alive
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}

async function readValue ({ database, key }) {
  const reply = await fetch(`${database}/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(DATABASE_TIMEOUT_MS) })
  const body = await reply.json()
  if (!reply.ok) throw new Error(body.error ?? `HTTP ${reply.status}`)
  return body.value
}

/** Reads and checks the config file; throws an error naming the file and line on bad input. */
function readConfig (file) {
  const config = {}
  readFileSync(file, 'utf8').split('\n').forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`${file}:${index + 1}: expected "key = value", got "${line}"`)
    config[line.slice(0, eq).trim()] = line.slice(eq + 1).trim()
  })
  for (const name of ['name', 'host', 'port', 'database', 'key']) {
    if (!config[name]) throw new Error(`${file}: "${name} = ..." is missing`)
  }
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
    console.log(`tomcat: pid file ${options['pid-file']} removed, exiting`)
    process.exit(0)
  }, PID_FILE_CHECK_MS).unref()
}

function answer (response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function usage (problem) {
  console.error(`tomcat: ${problem}\nusage: node tomcat.mjs --config <file> --pid-file <file>`)
  process.exit(2)
}
