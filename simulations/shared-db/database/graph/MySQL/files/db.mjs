// The LAMP simulation's database stand-in: an HTTP key-value store kept in a JSON file (Node built-ins only).
//   GET /kv/<key>  -> 200 { key, value } | 404 { error }
//   PUT /kv/<key>  (body: the value, UTF-8) -> 204, written to the data file before answering
// Usage: node db.mjs --data <file.json> --host <ip> --port <n> --pid-file <file>
// The pid file is written once the server listens (start.sh waits for it) and removed on SIGTERM/SIGINT; the
// service exits when the pid file disappears (its instance folder was removed).
import { createServer } from 'node:http'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/** How often the service checks that its pid file still exists, in milliseconds. */
const PID_FILE_CHECK_MS = 1000

const { values: options } = parseArgs({
  options: {
    data: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, 'pid-file': { type: 'string' }
  }
})
for (const name of ['data', 'host', 'port', 'pid-file']) {
  if (options[name] === undefined || options[name] === '') usage(`--${name} is required`)
}
const port = Number(options.port)
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`--port must be an integer in 1..65535, got "${options.port}"`)

const store = readStore(options.data)

const server = createServer((request, response) => {
  const match = /^\/kv\/([^/?]+)$/.exec(request.url ?? '')
  if (match === null) return answer(response, 404, { error: `unknown path ${request.url}; use /kv/<key>` })
  const key = decodeURIComponent(match[1])
  if (request.method === 'GET') {
    if (!Object.hasOwn(store, key)) return answer(response, 404, { error: `no value for key "${key}"` })
    return answer(response, 200, { key, value: store[key] })
  }
  if (request.method === 'PUT') {
    const chunks = []
    request.on('data', chunk => chunks.push(chunk))
    request.on('end', () => {
      store[key] = Buffer.concat(chunks).toString('utf8')
      // write then rename: a kill -9 never leaves a half-written store
      writeFileSync(`${options.data}.tmp`, JSON.stringify(store, null, 2))
      renameSync(`${options.data}.tmp`, options.data)
      response.writeHead(204).end()
    })
    return
  }
  answer(response, 405, { error: `method ${request.method} not allowed; use GET or PUT` })
})

server.on('error', err => {
  console.error(`db: cannot listen on ${options.host}:${port}: ${err.message}`)
  process.exit(1)
})
server.listen(port, options.host, () => {
  writeFileSync(options['pid-file'], `${process.pid}\n`)
  watchPidFile()
  console.log(`db: pid ${process.pid} listening on ${options.host}:${port}, data in ${options.data}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    rmSync(options['pid-file'], { force: true })
    // exit once the server is closed: pooled client connections would otherwise keep the process alive
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}

function readStore (file) {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'))
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object')
    return parsed
  } catch (err) {
    usage(`cannot read the data file ${file}: ${err.message} (deploy.sh writes it as a JSON object of strings)`)
  }
}

/**
 * The service runs in its own session, so it outlives the recipe that started it. When its instance folder is
 * removed without stop.sh (machine terminated, agent state wiped), its pid file goes too: it exits, as it would
 * with its machine.
 */
function watchPidFile () {
  setInterval(() => {
    if (existsSync(options['pid-file'])) return
    console.log(`db: pid file ${options['pid-file']} removed, exiting`)
    process.exit(0)
  }, PID_FILE_CHECK_MS).unref()
}

function answer (response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function usage (problem) {
  console.error(`db: ${problem}\nusage: node db.mjs --data <file.json> --host <ip> --port <n> --pid-file <file>`)
  process.exit(2)
}
