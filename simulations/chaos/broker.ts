// A private RabbitMQ node for the chaos runs, so that "restart the broker" restarts a broker of our own and never
// the shared one on 5672 that other tests and benchmarks use. It listens on loopback (by default), on free ports,
// with its data in a temporary folder, no plug-ins, and runs as the `rabbitmq` user like the packaged one.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { chown, mkdir, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { BROKER_POLL_INTERVAL_MS, BROKER_START_TIMEOUT_MS, BROKER_STOP_TIMEOUT_MS } from './constants.js'
import { freePort } from '../../common/net.js'

const run = promisify(execFile)

/** The private broker did not accept connections in time (or rabbitmq-server is not installed). */
export class BrokerStartError extends Error {
  constructor (detail: string) {
    super(`the private RabbitMQ node did not start: ${detail} (needs rabbitmq-server installed and root to run it as the rabbitmq user)`)
    this.name = 'BrokerStartError'
  }
}

export interface PrivateBrokerComponents {
  /** Folder for the node's data and logs (the rabbitmq user must be able to enter its parents); made if missing,
   * not deleted (the caller owns it). */
  directory: string
  /** Node name prefix; a unique suffix is added. Default `meshconf-chaos`. */
  name?: string
  /**
   * Address to listen on. Default 127.0.0.1. `0.0.0.0` lets agents in network namespaces reach it through their
   * bridge (they connect to the bridge's host side; nothing outside the host connects).
   */
  listenAddress?: string
}

export interface PrivateBroker {
  /** `amqp://<user>:<password>@127.0.0.1:<port>`: a user of its own with a random password (guest may only use
   * loopback, and agents in namespaces connect through their bridge). */
  readonly url: string
  readonly port: number
  /** The node's name (`<name>-<port>@localhost`), for `rabbitmqctl -n`. */
  readonly nodeName: string
  start (): Promise<void>
  /** Stops the node (every client connection drops), then starts it again on the same port. */
  restart (): Promise<void>
  /** Runs `rabbitmqctl -n <this node> <command>`: `stop_app` / `start_app` stop and start the broker, not the node. */
  control (command: string): Promise<void>
  stop (): Promise<void>
}

/** Every process under `pid`, deepest last, from /proc/<pid>/task/<tid>/children. */
function descendants (pid: number): number[] {
  const found: number[] = []
  let tasks: string[] = []
  try { tasks = readdirSync(`/proc/${pid}/task`) } catch { return found }
  for (const task of tasks) {
    let children: number[] = []
    try { children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(c => c !== '').map(Number) } catch {}
    for (const child of children) found.push(child, ...descendants(child))
  }
  return found
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

export async function createPrivateBroker (components: PrivateBrokerComponents): Promise<PrivateBroker> {
  const port = await freePort()
  const distributionPort = await freePort()
  const nodeName = `${components.name ?? 'meshconf-chaos'}-${port}@localhost`
  const directory = components.directory
  await mkdir(directory, { recursive: true })
  await writeFile(join(directory, 'enabled_plugins'), '[].\n')
  await run('chown', ['-R', 'rabbitmq', directory]).catch(async () => { await chown(directory, 0, 0) })
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: components.listenAddress ?? '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distributionPort),
    RABBITMQ_MNESIA_BASE: join(directory, 'mnesia'),
    RABBITMQ_LOG_BASE: join(directory, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(directory, 'enabled_plugins'),
    RABBITMQ_FEATURE_FLAGS_FILE: join(directory, 'feature_flags'),
    RABBITMQ_CONFIG_FILE: join(directory, 'no-config')
  }
  let server: ChildProcess | undefined
  let output = ''
  const user = 'meshconf-chaos'
  const password = randomBytes(12).toString('hex')
  let userMade = false

  const broker: PrivateBroker = {
    url: `amqp://${user}:${password}@127.0.0.1:${port}`,
    port,
    nodeName,
    async start () {
      output = ''
      server = spawn('rabbitmq-server', [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      server.stdout?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
      server.stderr?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
      const exited = new Promise<void>(resolve => server?.once('exit', () => { resolve() }))
      let gone = false
      void exited.then(() => { gone = true })
      server.once('error', err => { output += err.message; gone = true })
      const deadline = Date.now() + BROKER_START_TIMEOUT_MS
      while (!(await accepts(port))) {
        if (gone) throw new BrokerStartError(`rabbitmq-server exited: ${output.trim().split('\n').slice(-3).join(' | ')}`)
        if (Date.now() > deadline) throw new BrokerStartError(`port ${port} still closed after ${BROKER_START_TIMEOUT_MS} ms`)
        await new Promise(resolve => setTimeout(resolve, BROKER_POLL_INTERVAL_MS))
      }
      if (!userMade) {
        // Kept in the node's data folder: a restart finds the user again.
        await run('rabbitmqctl', ['-n', nodeName, 'add_user', user, password], { env })
        await run('rabbitmqctl', ['-n', nodeName, 'set_permissions', '-p', '/', user, '.*', '.*', '.*'], { env })
        userMade = true
      }
    },
    async restart () {
      await broker.stop()
      await broker.start()
    },
    async control (command: string) {
      await run('rabbitmqctl', ['-n', nodeName, command], { env, timeout: BROKER_STOP_TIMEOUT_MS })
    },
    async stop () {
      if (server === undefined) return
      const exited = server.exitCode !== null
        ? Promise.resolve()
        : new Promise<void>(resolve => server?.once('exit', () => { resolve() }))
      await run('rabbitmqctl', ['-n', nodeName, 'stop'], { env, timeout: BROKER_STOP_TIMEOUT_MS }).catch(() => {
        // The node did not answer (still booting): kill the script and everything under it (`su` puts the Erlang VM
        // in a session of its own, so the process group is not enough), by pid.
        if (server?.pid !== undefined) for (const pid of [...descendants(server.pid), server.pid]) try { process.kill(pid, 'SIGKILL') } catch {}
      })
      await exited
      server = undefined
    }
  }
  return broker
}
