// The shared-db simulation's "Tomcat" (the LAMP simulation's, reading from the database of another application:
// the stand-in over HTTP, or MariaDB through its client): an HTTP application that answers every GET with its own
// name and the value it reads from the database (Node built-ins and the mariadb client only).
//   GET /               -> 200 { name, value, pid } | 502 { name, error } when the database does not answer
// Usage: node tomcat.mjs --config <file> --pid-file <file>
// The config file (written by the recipes) holds `key = value` lines:
//   name = /Tomcat VM 1/Tomcat     host = 127.0.0.1     port = 8080
//   database = http://127.0.0.1:3306 (the stand-in) or mariadb://127.0.0.1:3306/<schema>     key = message
// It is re-read at each request, so a new database applies at once (host and port only at the next start).
// The pid file is written once the server listens and removed on SIGTERM/SIGINT; the service exits when the pid
// file disappears (its instance folder was removed).
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/** How long a database query may take, in milliseconds. */
const DATABASE_TIMEOUT_MS = 5000
/** How often the service checks that its pid file still exists, in milliseconds. */
const PID_FILE_CHECK_MS = 1000

const { values: options } = parseArgs({ options: { config: { type: 'string' }, 'pid-file': { type: 'string' } } })
if (!options.config || !options['pid-file']) usage('--config and --pid-file are required')

let config
try {
  config = readConfig(options.config)
} catch (err) {
  usage(err.message)
}

const server = createServer((request, response) => {
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
  const mariadb = /^mariadb:\/\/([^:/]+):(\d+)\/(\w+)$/.exec(database)
  if (mariadb !== null) return await readFromMariaDb(mariadb[1], mariadb[2], mariadb[3], key)
  const reply = await fetch(`${database}/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(DATABASE_TIMEOUT_MS) })
  const body = await reply.json()
  if (!reply.ok) throw new Error(body.error ?? `HTTP ${reply.status}`)
  return body.value
}

/** The value of `key` in `<schema>.kv` through the mariadb client (arguments, never a shell). */
async function readFromMariaDb (host, port, schema, key) {
  const query = `SELECT v FROM ${schema}.kv WHERE k = '${key.replace(/[^\w-]/g, '')}'`
  return await new Promise((resolve, reject) => {
    execFile('mariadb', ['-h', host, '-P', port, '-u', 'root', '--protocol=TCP', '-N', '-B', '-e', query],
      { timeout: DATABASE_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err !== null) return reject(new Error(stderr.trim() || err.message))
        const value = stdout.trim()
        if (value === '') return reject(new Error(`no value for key "${key}"`))
        resolve(value)
      })
  })
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
