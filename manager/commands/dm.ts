// `meshconf dm start`: runs the deployment manager (store, messaging, targets, REST API) until interrupted.
// With no --amqp, agents talk to the DM's own WebSocket endpoint: no broker to install.
import { mkdirSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { loadOrCreateToken } from '../auth.js'
import type { CommandRegistration } from '../cli.js'
import { configFilePath, contextNameForDataDir, readConfig, saveContext } from '../config.js'
import { DATABASE_FILE, DEFAULT_MACHINE_SILENCE_MS, DEFAULT_REST_HOST, DEFAULT_REST_PORT, MACHINES_FOLDER, TOKEN_FILE } from '../constants.js'
import type { EventLogOptions } from '../events.js'
import { createDmLog } from '../log.js'
import { LOG_LEVELS, type Logger, type LogLevel } from '../../common/log.js'
import { createDmMetrics, serveMetrics, type MetricsServer } from '../metrics.js'
import type { Logger as PinoLogger } from 'pino'
import { createDeploymentManager, type DeploymentManager } from '../dm.js'
import { createDmMessaging, DEFAULT_EMBEDDED_PORT, type MessagingConfig } from '../messaging/index.js'
import { createRestServer } from '../rest/server.js'
import { createStore } from '../store.js'
import { parseAmqpUrl, usageError } from './output.js'
import { createInProcessTarget } from '../targets/in-process.js'
import { createExistingTarget } from '../targets/existing.js'
import { createLocalTarget } from '../targets/local.js'
import { createNetnsTarget, DEFAULT_NETNS_SUBNET } from '../targets/netns.js'
import { describeTightened, ensurePrivateFolderSync } from '../../common/private-files.js'
import { createDockerTarget, dockerDmId } from '../targets/docker.js'
import type { TargetHandler } from '../targets/types.js'
import { errorMessage } from '../../protocol/errors.js'
import type { AutonomyOptions } from '../autonomy/index.js'
import { loadSigningKey } from '../dm/core.js'
import { loadOrCreateEndpointTls } from '../messaging/tls.js'
import { DEFAULT_OWNERSHIP_LIFETIME_MS } from '../../protocol/mesh.js'

export interface DmServiceOptions {
  /** Folder of the database, token, signing key and local machines; default ~/.meshconf/dm. */
  dataDirectory?: string
  /** REST port; default 7400; 0 picks a free one. */
  port?: number
  /** REST listen address; default 127.0.0.1. */
  host?: string
  /** RabbitMQ URL; default none: the embedded WebSocket endpoint. */
  amqpUrl?: string
  /** Template loads from a path stay inside this folder; default: none (see DeploymentManagerOptions.templatesRoot). */
  templatesRoot?: string
  /**
   * Plaintext between the DM and its agents: the embedded endpoint speaks `ws://` instead of `wss://` with the DM's own
   * certificate authority (`<data dir>/tls/`); default false. Anyone on the path reads credentials and models.
   */
  insecure?: boolean
  /** Lifetime of the mesh ownerships the DM signs, in ms; default 6 h (DeploymentManagerOptions.ownershipLifetimeMs). */
  ownershipLifetimeMs?: number
  /** RabbitMQ domain (first word of every name); default `meshconf`. */
  amqpDomain?: string
  /**
   * With an `amqps://` amqpUrl: the authority (PEM text) the broker's certificate must chain to, pinned by the DM and
   * handed to agents in their params; default none: the system's authorities.
   */
  amqpCa?: string
  /**
   * With amqpUrl: one broker user per machine through RabbitMQ's management API when it answers (default true);
   * false: machines share the agents' URL's user (the benchmark's comparison).
   */
  brokerUsers?: boolean
  /** Port of the embedded agents' endpoint; default 7401; 0 picks a free one (then agents cannot find a restarted DM). */
  agentsPort?: number
  /**
   * Listen address of the embedded agents' endpoint; default 127.0.0.1, or 0.0.0.0 with the netns target (its
   * machines come through their bridge). Agents on other machines need an address they can reach, or 0.0.0.0.
   */
  agentsHost?: string
  /**
   * URL agents are given to reach the DM's messaging: the embedded endpoint's base URL (`wss://dm.example:7401`,
   * without /agents; `ws://` when insecure), or with amqpUrl the broker's URL as agents see it; default `wss://<agentsHost>:<agentsPort>`
   * (loopback for a wildcard host), or amqpUrl.
   */
  agentsUrl?: string
  /** Default target handler: `local` (default), `netns`, `docker`, `existing` or `in-process`. */
  target?: string
  /** Command starting an agent (local and netns targets); default `node dist/agent/main.bundle.cached.js` (defaultAgentCommand). */
  agentCommand?: string[]
  /** Silence before a machine goes to PROBLEM, in milliseconds; default 30 000. */
  machineSilenceMs?: number
  /** Where fastify logs each request (manager/log.ts); default none. */
  requestLog?: PinoLogger
  /** Retention of the event history; default 100 000 events or 30 days. */
  events?: EventLogOptions
  /** Scaling, commands, rules, probes and schedules (SMTP relay, VM limit, probe period...); see AutonomyOptions. */
  autonomy?: AutonomyOptions
  /**
   * Port of a second HTTP server serving /metrics without the token (for a Prometheus that cannot send it); default
   * none: /metrics is on the REST port, behind the token. 0 picks a free one.
   */
  metricsPort?: number
  /** `metricsPort` in the agents' params (0: any free port, which they report); default none: agents serve no metrics. */
  agentMetricsPort?: number
  /** Private /24 of the netns target's machines, as its first three numbers; default 10.213.77. */
  netnsSubnet?: string
  /** The docker target's Engine socket; default /var/run/docker.sock. */
  dockerSocket?: string
  /** The docker target's image when a target definition names none (a tag or an id); default meshconf-agent:<version>. */
  dockerImage?: string
  /** The docker target's network and its subnet when a target definition names none; default meshconf, 10.189.0.0/24. */
  dockerNetwork?: string
  dockerSubnet?: string
  log?: Logger
}

export interface DmService {
  dm: DeploymentManager
  /** Base URL of the REST API. */
  url: string
  token: string
  /** True when this start made the token (first start). */
  tokenCreated: boolean
  dataDirectory: string
  /** Where agents reach the embedded endpoint (`wss://…/agents`, `ws://` when insecure); undefined with RabbitMQ. */
  agentsEndpointUrl?: string
  /** Base URL of the token-less metrics server (`metricsPort`), when there is one. */
  metricsUrl?: string
  /** The machines' target handlers (`local`, `netns`, `docker`, `existing`, `in-process`). */
  targets: TargetHandler[]
  stop (): Promise<void>
}

export function defaultDataDirectory (): string {
  return join(homedir(), '.meshconf', 'dm')
}

/** Starts a DM with its REST API; the same assembly serves `meshconf dm start`, tests and benchmarks. */
export async function startDmService (options: DmServiceOptions = {}): Promise<DmService> {
  const dataDirectory = resolve(options.dataDirectory ?? defaultDataDirectory())
  const tightened = describeTightened(dataDirectory, ensurePrivateFolderSync(dataDirectory))
  if (tightened !== undefined) console.error(`meshconf: ${tightened}`)
  const { token, created } = loadOrCreateToken(dataDirectory)
  const defaultTarget = options.target ?? 'local'
  const machinesDirectory = join(dataDirectory, MACHINES_FOLDER)
  const netnsSubnet = options.netnsSubnet ?? DEFAULT_NETNS_SUBNET
  // machines in network namespaces or containers reach the endpoint through the host's side of their bridge
  const agentsHost = options.agentsHost ?? (defaultTarget === 'netns' || defaultTarget === 'docker' ? '0.0.0.0' : '127.0.0.1')
  if (options.amqpUrl === undefined && options.agentsUrl !== undefined) {
    const scheme = new URL(options.agentsUrl).protocol
    if (options.insecure !== true && scheme === 'ws:') throw new InvalidArgumentError(`--agents-url ${options.agentsUrl}: the agents' endpoint speaks TLS; give wss://…, or add --insecure for plaintext`)
    if (options.insecure === true && scheme === 'wss:') throw new InvalidArgumentError(`--agents-url ${options.agentsUrl}: with --insecure the agents' endpoint speaks plaintext; give ws://…`)
  }
  const messagingConfig: MessagingConfig = options.amqpUrl !== undefined
    ? { kind: 'amqp', url: options.amqpUrl, agentUrl: options.agentsUrl, domain: options.amqpDomain, ...(options.brokerUsers === false ? { managementApi: false } : {}), ...(options.amqpCa !== undefined ? { ca: options.amqpCa } : {}) }
    : {
        kind: 'embedded', dmToken: token, port: options.agentsPort ?? DEFAULT_EMBEDDED_PORT, publicUrl: options.agentsUrl, host: agentsHost,
        ...(options.insecure === true
          ? {}
          : { tls: loadOrCreateEndpointTls(dataDirectory, [agentsHost, ...(options.agentsUrl !== undefined ? [new URL(options.agentsUrl).hostname] : [])]) })
      }
  const store = createStore({ file: join(dataDirectory, DATABASE_FILE) })
  let dm: DeploymentManager | undefined
  const metrics = createDmMetrics({ dm: () => dm, store })
  // The key the DM core signs ownerships with (loaded or made here first): the embedded endpoint signs commands too.
  const messaging = metrics.countMessages(createDmMessaging(messagingConfig, { logger: options.log, credentials: store, signingKey: loadSigningKey(dataDirectory) }))
  const targets: TargetHandler[] = [
    createLocalTarget({ machinesDirectory: join(machinesDirectory, 'local'), agentCommand: options.agentCommand }),
    createNetnsTarget({ machinesDirectory: join(machinesDirectory, 'netns'), agentCommand: options.agentCommand, subnet: netnsSubnet }),
    createDockerTarget({ dmId: dockerDmId(dataDirectory), socketPath: options.dockerSocket, image: options.dockerImage, network: options.dockerNetwork, subnet: options.dockerSubnet }),
    createExistingTarget({ machinesDirectory: join(machinesDirectory, 'existing'), agents: store, heartbeatWindowMs: options.machineSilenceMs, log: options.log }),
    createInProcessTarget({ machinesDirectory: join(machinesDirectory, 'in-process') })
  ]
  if (!targets.some(t => t.id === defaultTarget)) {
    store.close()
    throw new InvalidArgumentError(`unknown target ${JSON.stringify(defaultTarget)}: use local, netns, docker, existing or in-process`)
  }
  const manager = dm = createDeploymentManager({ store, messaging, targets, log: options.log }, {
    dataDirectory, defaultTargetHandler: defaultTarget, machineSilenceMs: options.machineSilenceMs, events: options.events, autonomy: options.autonomy,
    ...(options.templatesRoot !== undefined ? { templatesRoot: resolve(options.templatesRoot) } : {}),
    ...(options.agentMetricsPort === undefined ? {} : { agentMetricsPort: options.agentMetricsPort }),
    ...(options.ownershipLifetimeMs === undefined ? {} : { ownershipLifetimeMs: options.ownershipLifetimeMs })
  })
  const unfollow = metrics.follow(manager)
  let started = false
  try {
    await manager.start()
    started = true
  } catch (err) {
    store.close()
    throw err
  }
  const notReady = (): string[] => {
    const reasons = started ? [] : ['the DM is not started']
    if (messaging.connected?.() === false) reasons.push('agents cannot reach the DM: its messaging is not connected')
    try {
      manager.eventCount()
    } catch {
      reasons.push('the store cannot be read')
    }
    return reasons
  }
  const rest = createRestServer({ dm: manager, token, targets, store, metrics, notReady }, { port: options.port ?? DEFAULT_REST_PORT, host: options.host ?? DEFAULT_REST_HOST, ...(options.requestLog === undefined ? {} : { requestLog: options.requestLog }) })
  let url: string
  let metricsServer: MetricsServer | undefined
  try {
    url = await rest.start()
    if (options.metricsPort !== undefined) metricsServer = await serveMetrics(metrics, options.host ?? DEFAULT_REST_HOST, options.metricsPort)
  } catch (err) {
    await rest.stop()
    await manager.stop()
    store.close()
    throw err
  }
  const endpoint = messaging.agentEndpoint()
  options.log?.debug(`REST API on ${url}${metricsServer === undefined ? ', /metrics behind the token' : `, /metrics without the token on ${metricsServer.url}`}, ` +
    `agents via ${endpoint.kind === 'embedded' ? endpoint.url : 'RabbitMQ'}, default target ${defaultTarget}, data in ${dataDirectory}`)
  return {
    dm: manager, url, token, tokenCreated: created, dataDirectory, targets,
    agentsEndpointUrl: endpoint.kind === 'embedded' ? endpoint.url : undefined,
    ...(metricsServer === undefined ? {} : { metricsUrl: metricsServer.url }),
    async stop () {
      started = false
      unfollow()
      await metricsServer?.close()
      await rest.stop()
      await manager.stop()
      // local and netns machines keep running: a restarted DM finds them; in-process ones live in this process
      await Promise.all(targets.map(async t => await t.close?.()))
      store.close()
    }
  }
}

/**
 * Adds or updates the context named after the DM's data folder (its URL and a reference to its token file); it
 * becomes current when there was none, or when asked. Returns the line saying so.
 */
export async function rememberContext (service: Pick<DmService, 'url' | 'dataDirectory'>, makeCurrent: boolean, file = configFilePath()): Promise<{ name?: string, message: string }> {
  try {
    const config = readConfig(file)
    const before = config.current
    const name = contextNameForDataDir(config, service.dataDirectory)
    const saved = await saveContext(file, name, { dm: service.url, tokenFile: join(service.dataDirectory, TOKEN_FILE), dataDir: service.dataDirectory }, makeCurrent ? 'always' : 'if-none')
    const what = `${saved.created ? 'added' : 'updated'} context ${name} in ${file}`
    return {
      name,
      message: saved.current
        ? `${what}; it is the current context${before !== undefined && before !== name ? ` (was ${before})` : ''}`
        : `${what}; the current context stays ${String(before)}: use this DM with --context ${name}, or \`meshconf context use ${name}\``
    }
  } catch (err) {
    return { message: `meshconf: could not save a context in ${file} (${errorMessage(err)}); pass --dm and --token to the other commands` }
  }
}

/** The environment variable holding the broker URL of `dm start` (with its password: kept off the command line). */
export const ENV_AMQP_URL = 'MESHCONF_AMQP_URL'

/** A file of PEM certificates, read now (its text is the option's value). */
function pemFile (path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${path}: ${errorMessage(err)}`)
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new InvalidArgumentError(`${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return text
}

function amqpUrlFromEnvironment (command: Command): string | undefined {
  const value = process.env[ENV_AMQP_URL]
  if (value === undefined || value === '') return undefined
  try {
    return parseAmqpUrl(value)
  } catch (err) {
    usageError(command, `$${ENV_AMQP_URL}: ${errorMessage(err)}`)
  }
}

function port (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a TCP port number (0-65535)')
  return n
}

function ipAddress (value: string): string {
  if (isIP(value) === 0) throw new InvalidArgumentError('expected an IP address, e.g. 0.0.0.0 (every interface) or 10.0.0.2')
  return value
}

function agentsUrl (value: string): string {
  let url: URL | undefined
  try { url = new URL(value) } catch { /* reported below */ }
  if (url === undefined || !['ws:', 'wss:', 'amqp:', 'amqps:'].includes(url.protocol) || url.hostname === '') {
    throw new InvalidArgumentError('expected wss://host:port (the embedded endpoint; ws:// with --insecure) or, with --amqp, amqp(s)://user:password@host:port')
  }
  return value
}

function seconds (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds')
  return n
}

function days (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of days, e.g. 7 or 0.5')
  return n
}

function positiveInteger (value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1')
  return n
}

/** `host:port` of an SMTP relay. */
function smtpRelay (value: string): { host: string, port: number } {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(value.trim())
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError(`"${value}" is not host:port (e.g. --smtp 127.0.0.1:25)`)
  return { host: m[1], port: Number(m[2]) }
}

export const registerDmCommands: CommandRegistration = (program: Command) => {
  const dmCommand = program.command('dm').description('the deployment manager')
  dmCommand.command('start')
    .description('run the deployment manager (REST API, agents\' endpoint, machines) until interrupted')
    .option('--port <port>', `REST API port (default ${DEFAULT_REST_PORT})`, port)
    .option('--host <address>', `REST API listen address (default ${DEFAULT_REST_HOST})`)
    .option('--data-dir <folder>', 'database, token, signing key and local machines (default ~/.meshconf/dm)')
    .option('--amqp <url>', `talk to agents through RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672 (default: $${ENV_AMQP_URL}, else the embedded endpoint); a password on the command line is readable by other users of the host: prefer $${ENV_AMQP_URL}`, parseAmqpUrl)
    .option('--amqp-ca <file>', 'with an amqps:// broker URL: the certificate authority (PEM) the broker\'s certificate must chain to; the DM and its agents (in their params) pin it (default: the system\'s authorities)', pemFile)
    .option('--agents-port <port>', `port of the embedded agents' endpoint (default ${DEFAULT_EMBEDDED_PORT})`, port)
    .option('--agents-host <address>', 'listen address of the embedded agents\' endpoint; 0.0.0.0 for agents on other machines (default 127.0.0.1; 0.0.0.0 with --target netns or docker)', ipAddress)
    .option('--agents-url <url>', 'URL agents are given to reach the DM: wss://<address agents reach>:<agents port> for the embedded endpoint (ws:// with --insecure), or with --amqp the broker\'s amqp:// or amqps:// URL as agents see it (default wss://<agents host>:<agents port>, loopback for 0.0.0.0; with --amqp the --amqp URL)', agentsUrl)
    .addOption(new Option('--target <handler>', 'default target: local (agent processes), netns (network namespaces, needs root), docker (containers from the agent image: meshconf image build), existing (machines already there: the DM writes their agent params) or in-process')
      .choices(['local', 'netns', 'docker', 'existing', 'in-process']).default('local'))
    .option('--machine-silence <seconds>', `silence before a machine goes to PROBLEM (default ${DEFAULT_MACHINE_SILENCE_MS / 1000})`, seconds)
    .option('--docker-socket <path>', 'the Docker Engine\'s unix socket, for the docker target (default /var/run/docker.sock)')
    .option('--metrics-port <port>', 'also serve /metrics without the token on this port (default: /metrics on the REST port, behind the token)', port)
    .option('--agent-metrics-port <port>', 'agents serve their /metrics on this port (0: any free port, reported to the DM for GET /api/metrics/targets; default: no agent metrics)', port)
    .addOption(new Option('--log-level <level>', 'least level logged (JSON lines on stderr; readable lines on a terminal)').choices([...LOG_LEVELS]).default('info'))
    .option('--events-max <count>', 'events the history keeps, at most (default 100000)', positiveInteger)
    .option('--events-max-age <days>', 'days the history keeps an event (default 30)', days)
    .option('--templates-root <folder>', 'load templates given by path (app load of a folder, POST /api/templates {path}) only from inside this folder (default: any path the DM\'s user can read)')
    .option('--smtp <host:port>', 'SMTP relay for the commands\' email instruction (without one, templates that send e-mail are refused)', smtpRelay)
    .option('--smtp-from <address>', 'sender of those e-mails (default meshconf@<relay host>)')
    .option('--max-vms <count>', 'most machines an application may reach through its autonomic rules (autonomic.maximum.vm.number; default none)', positiveInteger)
    .option('--probe-period <seconds>', 'how often agents run their probes, for applications that set no period (app set --probe-period), in seconds (default 5, 1 to 3600)', seconds)
    .option('--insecure', 'plaintext between the DM and its agents (ws:// instead of wss://): credentials, models and recipes readable on the way; for tests and trusted networks only')
    .option('--ownership-lifetime <seconds>', `how long a mesh ownership the DM signs is believed; renewed while agents beat, once a quarter of it has passed (default ${DEFAULT_OWNERSHIP_LIFETIME_MS / 1000})`, seconds)
    .option('--scale-down-window <seconds>', 'how long an event must hold before a scale-down rule fires (default 60)', seconds)
    .option('--use-context', 'make this DM\'s context the current one (default: only when there is no current context)')
    .action(async (opts: { port?: number, host?: string, dataDir?: string, amqp?: string, agentsPort?: number, agentsHost?: string, agentsUrl?: string, target: string, machineSilence?: number, dockerSocket?: string, useContext?: boolean, templatesRoot?: string, eventsMax?: number, eventsMaxAge?: number, metricsPort?: number, agentMetricsPort?: number, logLevel: LogLevel, smtp?: { host: string, port: number }, smtpFrom?: string, maxVms?: number, probePeriod?: number, scaleDownWindow?: number, ownershipLifetime?: number, insecure?: boolean, amqpCa?: string }, command: Command) => {
      const amqp = opts.amqp ?? amqpUrlFromEnvironment(command)
      if (opts.amqpCa !== undefined && (amqp === undefined || new URL(opts.agentsUrl ?? amqp).protocol !== 'amqps:' || new URL(amqp).protocol !== 'amqps:')) {
        usageError(command, '--amqp-ca pins the broker\'s certificate: it needs an amqps:// broker URL (--amqp or $' + ENV_AMQP_URL + ', and --agents-url if given)')
      }
      const agentsScheme = opts.agentsUrl === undefined ? undefined : new URL(opts.agentsUrl).protocol.startsWith('amqp') ? 'amqp' : 'ws'
      if (agentsScheme !== undefined && agentsScheme !== (amqp !== undefined ? 'amqp' : 'ws')) {
        usageError(command, `--agents-url ${opts.agentsUrl} does not fit ${amqp !== undefined ? '--amqp: give the broker\'s amqp:// URL' : 'the embedded endpoint: give wss://host:port (or add --amqp)'}`)
      }
      if (opts.insecure === true) {
        console.error(amqp !== undefined
          ? 'meshconf: warning: --insecure has no effect with --amqp: the broker URL decides (amqps:// for TLS)'
          : 'meshconf: warning: --insecure: the agents\' endpoint speaks plaintext (ws://); anyone on the path reads the machines\' credentials, models and recipes')
      }
      if (amqp !== undefined && (opts.agentsHost !== undefined || opts.agentsPort !== undefined)) {
        usageError(command, '--agents-host and --agents-port configure the embedded endpoint; with --amqp agents go through the broker')
      }
      const dmLog = createDmLog({ level: opts.logLevel })
      const service = await startDmService({
        dataDirectory: opts.dataDir, port: opts.port, host: opts.host, amqpUrl: amqp, agentsPort: opts.agentsPort,
        ...(opts.amqpCa !== undefined ? { amqpCa: opts.amqpCa } : {}),
        agentsHost: opts.agentsHost, agentsUrl: opts.agentsUrl, templatesRoot: opts.templatesRoot,
        target: opts.target, machineSilenceMs: opts.machineSilence !== undefined ? opts.machineSilence * 1000 : undefined,
        dockerSocket: opts.dockerSocket,
        log: dmLog,
        requestLog: dmLog.pino,
        metricsPort: opts.metricsPort,
        agentMetricsPort: opts.agentMetricsPort,
        ...(opts.ownershipLifetime !== undefined ? { ownershipLifetimeMs: opts.ownershipLifetime * 1000 } : {}),
        ...(opts.insecure === true ? { insecure: true } : {}),
        events: {
          ...(opts.eventsMax !== undefined ? { maxEvents: opts.eventsMax } : {}),
          ...(opts.eventsMaxAge !== undefined ? { maxAgeMs: opts.eventsMaxAge * 86_400_000 } : {})
        },
        autonomy: {
          ...(opts.smtp !== undefined ? { smtp: { ...opts.smtp, ...(opts.smtpFrom !== undefined ? { from: opts.smtpFrom } : {}) } } : {}),
          ...(opts.maxVms !== undefined ? { maximumVmNumber: opts.maxVms } : {}),
          ...(opts.probePeriod !== undefined ? { probePeriodMs: opts.probePeriod * 1000 } : {}),
          ...(opts.scaleDownWindow !== undefined ? { scaleDownStabilizationMs: opts.scaleDownWindow * 1000 } : {})
        }
      })
      console.log(`meshconf DM listening on ${service.url} (data in ${service.dataDirectory}, agents via ${service.agentsEndpointUrl === undefined ? 'RabbitMQ' : `the embedded endpoint at ${service.agentsEndpointUrl}`}, default target ${opts.target})`)
      if (service.tokenCreated) {
        const file = join(service.dataDirectory, TOKEN_FILE)
        // Shown on a terminal only: piped, this output usually ends up in a log (the journal under systemd).
        if (process.stdout.isTTY === true) console.log(`token (shown once; also in ${file}): ${service.token}`)
        else console.log(`token created in ${file} (not printed: this output is not a terminal and may be kept in a log)`)
      }
      console.log((await rememberContext(service, opts.useContext === true)).message)
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
