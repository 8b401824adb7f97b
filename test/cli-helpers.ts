// Helpers of the CLI tests: run `meshconf` as a real child process (from the TypeScript sources) or in-process,
// read ZIPs, and a small test double of the DM for the case the real DM cannot produce on demand (PROBLEM).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { crc32 } from 'node:zlib'
import { execa } from 'execa'
import { WebSocketServer, type WebSocket } from 'ws'
import yauzl from 'yauzl'
import type { InstanceNode } from '../manager/client.js'
import type { InstanceStatus } from '../protocol/lifecycle.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
// argv[1] names the real entry (bin/meshconf.js), as when the CLI is installed: modules that check whether they
// are the main script read it.
const ENTRY = "import { main } from './manager/cli.ts'; process.exitCode = await main(['node', 'meshconf', ...process.argv.slice(2)])"
const BIN = fileURLToPath(new URL('../bin/meshconf.js', import.meta.url))

export interface CliResult { exitCode: number, stdout: string, stderr: string }

/**
 * Starts the CLI in a child process with HOME set to `home` (so ~/.meshconf/config.json is the test's) and only the
 * MESHCONF_* variables given in `env`.
 */
export function spawnCli (args: string[], options: { home: string, env?: Record<string, string>, timeoutMs?: number }) {
  const env: Record<string, string> = { ...process.env as Record<string, string>, HOME: options.home, NO_COLOR: '1', ...options.env }
  if (options.env?.MESHCONF_DM === undefined) delete env.MESHCONF_DM
  if (options.env?.MESHCONF_TOKEN === undefined) delete env.MESHCONF_TOKEN
  return execa('node', ['--import=tsx', '--input-type=module', '-e', ENTRY, '--', BIN, ...args], {
    cwd: ROOT, env, extendEnv: false, reject: false, timeout: options.timeoutMs ?? 60_000, stdin: 'ignore'
  })
}

/** Resolves once the child's stdout so far matches `pattern` (e.g. a watcher drew its first tree). */
export async function waitForOutput (child: ReturnType<typeof spawnCli>, pattern: RegExp): Promise<void> {
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      if (pattern.test(seen)) { child.stdout?.off('data', onData); resolve() }
    }
    child.stdout?.on('data', onData)
    child.then(r => { reject(new Error(`the CLI ended (exit ${String(r.exitCode)}) before printing ${String(pattern)}: ${String(r.stdout)} ${String(r.stderr)}`)) }, reject)
  })
}

/**
 * Runs the CLI with its stdout on a pseudo-terminal (util-linux `script`), as a person at a terminal would, colours
 * allowed. Output comes back with the terminal's CRLF line ends turned into LF.
 */
export async function runCliOnTerminal (args: string[], options: { home: string, env?: Record<string, string> }): Promise<CliResult> {
  const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`
  const command = ['node', '--import=tsx', '--input-type=module', '-e', ENTRY, '--', BIN, ...args].map(quote).join(' ')
  const env: Record<string, string> = { ...process.env as Record<string, string>, HOME: options.home, TERM: 'xterm', ...options.env }
  delete env.NO_COLOR
  const result = await execa('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env, extendEnv: false, reject: false, timeout: 60_000, stdin: 'ignore' })
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.replaceAll('\r\n', '\n'), stderr: result.stderr }
}

export async function runCli (args: string[], options: { home: string, env?: Record<string, string>, timeoutMs?: number }): Promise<CliResult> {
  const result = await spawnCli(args, options)
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

let inProcessQueue: Promise<unknown> = Promise.resolve()

/**
 * Runs the CLI's main() in this process, capturing stdout and stderr: much cheaper than a child process on a loaded
 * machine. Calls are serialized (output capture, HOME and MESHCONF_* are process-wide).
 */
export async function runCliInProcess (args: string[], options: { home: string, env?: Record<string, string> }): Promise<CliResult> {
  const run = async (): Promise<CliResult> => {
    const { main } = await import('../manager/cli.js')
    const saved = { HOME: process.env.HOME, MESHCONF_DM: process.env.MESHCONF_DM, MESHCONF_TOKEN: process.env.MESHCONF_TOKEN, NO_COLOR: process.env.NO_COLOR }
    const writes = { stdout: process.stdout.write, stderr: process.stderr.write }
    const out = { stdout: '', stderr: '' }
    const capture = (name: 'stdout' | 'stderr') => (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      out[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
      const callback = rest.find(r => typeof r === 'function') as (() => void) | undefined
      callback?.()
      return true
    }
    const setEnv = (name: keyof typeof saved, value: string | undefined): void => {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    setEnv('HOME', options.home)
    setEnv('MESHCONF_DM', options.env?.MESHCONF_DM)
    setEnv('MESHCONF_TOKEN', options.env?.MESHCONF_TOKEN)
    setEnv('NO_COLOR', '1')
    process.stdout.write = capture('stdout') as typeof process.stdout.write
    process.stderr.write = capture('stderr') as typeof process.stderr.write
    try {
      const exitCode = await main(['node', 'meshconf', ...args])
      return { exitCode, ...out }
    } finally {
      process.stdout.write = writes.stdout
      process.stderr.write = writes.stderr
      for (const [name, value] of Object.entries(saved)) setEnv(name as keyof typeof saved, value)
      process.exitCode = 0
    }
  }
  const result = inProcessQueue.then(run, run)
  inProcessQueue = result.catch(() => {})
  return await result
}

/** Reads the entry names and text of a ZIP held in memory, checking each entry's CRC-32 (yauzl does not). */
export async function readZip (zip: Buffer): Promise<Map<string, string>> {
  const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true }, (err, z) => { err != null ? reject(err) : resolve(z) })
  })
  const files = new Map<string, string>()
  await new Promise<void>((resolve, reject) => {
    zipfile.on('entry', (entry: yauzl.Entry) => {
      zipfile.openReadStream(entry, (err, stream) => {
        if (err != null) { reject(err); return }
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          const data = Buffer.concat(chunks)
          if (crc32(data) !== entry.crc32) { reject(new Error(`CRC-32 mismatch in ${entry.fileName}`)); return }
          files.set(entry.fileName, data.toString('utf8'))
          zipfile.readEntry()
        })
        stream.on('error', reject)
      })
    })
    zipfile.on('end', resolve)
    zipfile.on('error', reject)
    zipfile.readEntry()
  })
  return files
}

export interface DmDouble {
  url: string
  token: string
  /** Components whose instances go to PROBLEM instead of starting. */
  failing: Set<string>
  close: () => Promise<void>
}

/**
 * A test double of the part of the DM's REST contract that following a start needs (the instance tree, the
 * actions, the events), for what the real DM cannot produce on demand: an instance going to PROBLEM. States move
 * through DEPLOYING and STARTING with events, every STEP_MS milliseconds, like the real life cycle.
 */
export async function startDmDouble (initial: Record<string, InstanceNode[]>): Promise<DmDouble> {
  const STEP_MS = 30
  const token = `double-${Math.random().toString(36).slice(2)}`
  const trees = new Map(Object.entries(structuredClone(initial)))
  const failing = new Set<string>()
  const sockets = new Set<{ socket: WebSocket, application?: string }>()

  const flatten = (nodes: InstanceNode[]): InstanceNode[] => nodes.flatMap(n => [n, ...flatten(n.children)])
  const emit = (application: string, node: InstanceNode, status: InstanceStatus): void => {
    node.status = status
    const event = JSON.stringify({ type: 'instance', application, path: node.path, status, at: new Date().toISOString() })
    for (const s of sockets) if (s.application === undefined || s.application === application) s.socket.send(event)
  }
  const start = (application: string, node: InstanceNode): void => {
    (['DEPLOYING', 'STARTING', 'DEPLOYED_STARTED'] as const).forEach((status, i) => setTimeout(() => {
      if (status === 'DEPLOYED_STARTED' && failing.has(node.component)) {
        node.data['last.problem'] = `${node.component} start.sh exited with 1`
        emit(application, node, 'PROBLEM')
      } else if (node.status !== 'PROBLEM') emit(application, node, status)
    }, STEP_MS * (i + 1)))
  }
  const send = (res: ServerResponse, status: number, body?: unknown): void => {
    res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
    res.end(body === undefined ? undefined : JSON.stringify(body))
  }
  const fail = (res: ServerResponse, status: number, code: string, message: string): void => { send(res, status, { error: { code, message } }) }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://double')
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    if (req.headers.authorization !== `Bearer ${token}`) { fail(res, 401, 'REST_UNAUTHORIZED', 'missing or wrong token'); return }
    const [, api, applications, app, sub] = url.pathname.split('/').map(decodeURIComponent)
    const tree = trees.get(app)
    if (api !== 'api' || applications !== 'applications' || tree === undefined) {
      fail(res, 404, 'REST_NOT_FOUND', `${req.method} ${url.pathname} is not part of the double`)
    } else if (req.method === 'GET' && sub === 'instances') {
      send(res, 200, tree)
    } else if (req.method === 'POST' && sub === 'actions') {
      const { action, path } = JSON.parse(Buffer.concat(chunks).toString()) as { action: string, path?: string }
      if (action !== 'deploy-and-start-all') { fail(res, 400, 'REST_VALIDATION', `the double only starts, not ${action}`); return }
      for (const n of flatten(path !== undefined ? flatten(tree).filter(n => n.path === path) : tree)) start(app, n)
      send(res, 202)
    } else {
      fail(res, 404, 'REST_NOT_FOUND', `${req.method} ${url.pathname} is not part of the double`)
    }
  }

  const server: Server = createServer((req, res) => { handle(req, res).catch(err => { fail(res, 500, 'REST_INTERNAL', String(err)) }) })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://double')
    if (url.pathname !== '/api/events' || req.headers.authorization !== `Bearer ${token}`) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, ws => {
      const entry = { socket: ws, application: url.searchParams.get('application') ?? undefined }
      sockets.add(entry)
      ws.on('close', () => sockets.delete(entry))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    failing,
    close: async () => {
      for (const s of sockets) s.socket.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

export function instance (path: string, component: string, status: InstanceStatus = 'NOT_DEPLOYED', children: InstanceNode[] = []): InstanceNode {
  return { name: path.slice(path.lastIndexOf('/') + 1), path, component, status, data: {}, overriddenExports: {}, children }
}
