// `meshconf dm start`: runs the deployment manager (store, messaging, targets, REST API) until interrupted.
// With no --amqp, agents talk to the DM's own WebSocket endpoint: no broker to install.
import { mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { loadOrCreateToken } from '../auth.js'
import type { CommandRegistration } from '../cli.js'
import { configFilePath } from '../config.js'
import { DATABASE_FILE, DEFAULT_MACHINE_SILENCE_MS, DEFAULT_REST_HOST, DEFAULT_REST_PORT, MACHINES_FOLDER } from '../constants.js'
import { createDeploymentManager, type DeploymentManager, type DmLogger } from '../dm.js'
import { createDmMessaging, DEFAULT_EMBEDDED_PORT, type MessagingConfig } from '../messaging/index.js'
import { createRestServer } from '../rest/server.js'
import { createStore } from '../store.js'
import { createInProcessTarget } from '../targets/in-process.js'
import { createLocalTarget } from '../targets/local.js'
import { createNetnsTarget, DEFAULT_NETNS_SUBNET } from '../targets/netns.js'
import type { TargetHandler } from '../targets/types.js'

export interface DmServiceOptions {
  /** Folder of the database, token, signing key and local machines; default ~/.meshconf/dm. */
  dataDirectory?: string
  /** REST port; default 7400; 0 picks a free one. */
  port?: number
  /** REST listen address; default 127.0.0.1. */
  host?: string
  /** RabbitMQ URL; default none: the embedded WebSocket endpoint. */
  amqpUrl?: string
  /** RabbitMQ domain (first word of every name); default `meshconf`. */
  amqpDomain?: string
  /** Port of the embedded agents' endpoint; default 7401; 0 picks a free one (then agents cannot find a restarted DM). */
  agentsPort?: number
  /** Default target handler: `local` (default), `netns` or `in-process`. */
  target?: string
  /** Command starting an agent (local and netns targets); default `node dist/agent/main.bundle.js` (defaultAgentCommand). */
  agentCommand?: string[]
  /** Silence before a machine goes to PROBLEM, in milliseconds; default 30 000. */
  machineSilenceMs?: number
  /** Private /24 of the netns target's machines, as its first three numbers; default 10.213.77. */
  netnsSubnet?: string
  log?: DmLogger
}

export interface DmService {
  dm: DeploymentManager
  /** Base URL of the REST API. */
  url: string
  token: string
  /** True when this start made the token (first start). */
  tokenCreated: boolean
  dataDirectory: string
  stop (): Promise<void>
}

export function defaultDataDirectory (): string {
  return join(homedir(), '.meshconf', 'dm')
}

/** Starts a DM with its REST API; the same assembly serves `meshconf dm start`, tests and benchmarks. */
export async function startDmService (options: DmServiceOptions = {}): Promise<DmService> {
  const dataDirectory = resolve(options.dataDirectory ?? defaultDataDirectory())
  mkdirSync(dataDirectory, { recursive: true, mode: 0o700 })
  const { token, created } = loadOrCreateToken(dataDirectory)
  const defaultTarget = options.target ?? 'local'
  const machinesDirectory = join(dataDirectory, MACHINES_FOLDER)
  const netnsSubnet = options.netnsSubnet ?? DEFAULT_NETNS_SUBNET
  const messagingConfig: MessagingConfig = options.amqpUrl !== undefined
    ? { kind: 'amqp', url: options.amqpUrl, domain: options.amqpDomain }
    // machines in network namespaces reach the endpoint through the host's side of their bridge
    : defaultTarget === 'netns'
      ? { kind: 'embedded', dmToken: token, port: options.agentsPort ?? DEFAULT_EMBEDDED_PORT, host: '0.0.0.0' }
      : { kind: 'embedded', dmToken: token, port: options.agentsPort ?? DEFAULT_EMBEDDED_PORT, host: '127.0.0.1' }
  const messaging = createDmMessaging(messagingConfig, { logger: options.log })
  const targets: TargetHandler[] = [
    createLocalTarget({ machinesDirectory: join(machinesDirectory, 'local'), agentCommand: options.agentCommand }),
    createNetnsTarget({ machinesDirectory: join(machinesDirectory, 'netns'), agentCommand: options.agentCommand, subnet: netnsSubnet }),
    createInProcessTarget({ machinesDirectory: join(machinesDirectory, 'in-process') })
  ]
  if (!targets.some(t => t.id === defaultTarget)) {
    throw new InvalidArgumentError(`unknown target ${JSON.stringify(defaultTarget)}: use local, netns or in-process`)
  }
  const store = createStore({ file: join(dataDirectory, DATABASE_FILE) })
  const dm = createDeploymentManager({ store, messaging, targets, log: options.log },
    { dataDirectory, defaultTargetHandler: defaultTarget, machineSilenceMs: options.machineSilenceMs })
  try {
    await dm.start()
  } catch (err) {
    store.close()
    throw err
  }
  const rest = createRestServer({ dm, token }, { port: options.port ?? DEFAULT_REST_PORT, host: options.host ?? DEFAULT_REST_HOST })
  let url: string
  try {
    url = await rest.start()
  } catch (err) {
    await dm.stop()
    store.close()
    throw err
  }
  return {
    dm, url, token, tokenCreated: created, dataDirectory,
    async stop () {
      await rest.stop()
      await dm.stop()
      // local and netns machines keep running: a restarted DM finds them; in-process ones live in this process
      await Promise.all(targets.map(async t => await t.close?.()))
      store.close()
    }
  }
}

function port (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a TCP port number (0-65535)')
  return n
}

function seconds (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds')
  return n
}

export const registerDmCommands: CommandRegistration = (program: Command) => {
  const dmCommand = program.command('dm').description('the deployment manager')
  dmCommand.command('start')
    .description('run the deployment manager (REST API, agents\' endpoint, machines) until interrupted')
    .option('--port <port>', `REST API port (default ${DEFAULT_REST_PORT})`, port)
    .option('--host <address>', `REST API listen address (default ${DEFAULT_REST_HOST})`)
    .option('--data-dir <folder>', 'database, token, signing key and local machines (default ~/.meshconf/dm)')
    .option('--amqp <url>', 'talk to agents through RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672 (default: the embedded endpoint)')
    .option('--agents-port <port>', `port of the embedded agents' endpoint (default ${DEFAULT_EMBEDDED_PORT})`, port)
    .addOption(new Option('--target <handler>', 'default target: local (agent processes), netns (network namespaces, needs root) or in-process')
      .choices(['local', 'netns', 'in-process']).default('local'))
    .option('--machine-silence <seconds>', `silence before a machine goes to PROBLEM (default ${DEFAULT_MACHINE_SILENCE_MS / 1000})`, seconds)
    .action(async (opts: { port?: number, host?: string, dataDir?: string, amqp?: string, agentsPort?: number, target: string, machineSilence?: number }) => {
      const service = await startDmService({
        dataDirectory: opts.dataDir, port: opts.port, host: opts.host, amqpUrl: opts.amqp, agentsPort: opts.agentsPort,
        target: opts.target, machineSilenceMs: opts.machineSilence !== undefined ? opts.machineSilence * 1000 : undefined
      })
      const config = configFilePath()
      try {
        mkdirSync(join(homedir(), '.meshconf'), { recursive: true, mode: 0o700 })
        writeFileSync(config, JSON.stringify({ dm: service.url, token: service.token }, null, 2) + '\n', { mode: 0o600 })
      } catch (err) {
        console.error(`meshconf: could not write ${config} (${(err as Error).message}); pass --dm and --token to the other commands`)
      }
      console.log(`meshconf DM listening on ${service.url} (data in ${service.dataDirectory}, agents via ${opts.amqp !== undefined ? 'RabbitMQ' : 'the embedded endpoint'}, default target ${opts.target})`)
      if (service.tokenCreated) {
        console.log(`token (shown once; also in ${join(service.dataDirectory, 'token')} and ${config}): ${service.token}`)
      }
      await new Promise<void>(resolve => {
        const stop = (): void => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      console.log('stopping the DM (machines keep running)')
      await service.stop()
    })
}
