// The `netns` target: each machine is an agent in its own network namespace, with its own address in a private /24
// (a realistic multi-host run on one box; needs root). The namespaces hang on one bridge whose host side (<subnet>.1)
// is how agents reach the DM's endpoint or RabbitMQ; the bridge goes when the last machine is terminated.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import { allowForwardingWithin } from './forwarding.js'
import { machineFolder } from './local.js'
import { defaultAgentCommand, findAgent, machineFiles, spawnAgent, stopAgent, writeAgentParams } from './process.js'
import type { AgentParams } from '../../protocol/agent-params.js'
import type { MachineParameters, TargetHandler } from './types.js'
import { errorMessage } from '../../protocol/errors.js'

const run = promisify(execFile)

/** First three numbers of the machines' private /24 when none is configured. */
export const DEFAULT_NETNS_SUBNET = '10.213.77'
/** Host numbers given to machines: <subnet>.2 to <subnet>.254 (.1 is the host's side of the bridge). */
const FIRST_HOST = 2
const LAST_HOST = 254

export interface NetnsTargetOptions {
  /** Folder holding one sub-folder per machine. */
  machinesDirectory: string
  /** Private /24 as its first three numbers, e.g. `10.213.77`; default DEFAULT_NETNS_SUBNET. */
  subnet?: string
  /** Command starting an agent (run through `ip netns exec`); default `node dist/agent/main.bundle.cached.js` (defaultAgentCommand). */
  agentCommand?: string[]
  /** Extra environment of the agents. */
  env?: Record<string, string>
  /** Working directory of the agents; default the DM's. */
  cwd?: string
  /** Heartbeat period of the agents, in milliseconds; default the agent's (5 000). */
  heartbeatPeriodMs?: number
}

export class NetnsUnavailableError extends Error {
  constructor (reason: string) {
    super(`the netns target cannot create machines: ${reason} (run the DM as root with iproute2 installed, or use the local target)`)
    this.name = 'NetnsUnavailableError'
  }
}

export class NetnsAddressesExhaustedError extends Error {
  constructor (subnet: string) {
    super(`no address left in ${subnet}.0/24 for a new machine: terminate machines, or give the netns target another subnet`)
    this.name = 'NetnsAddressesExhaustedError'
  }
}

/** The namespace and veth names of a machine (short: interface names are limited to 15 characters). */
export function netnsNames (machineId: string): { namespace: string, hostSide: string, machineSide: string } {
  const hash = createHash('sha256').update(machineId).digest('hex').slice(0, 10)
  return { namespace: `meshconf-${hash}`, hostSide: `mch${hash}`, machineSide: `mcm${hash}` }
}

/** The endpoint as seen from inside a namespace: the host's loopback becomes the bridge's host side. */
export function endpointFromNamespace (endpoint: AgentEndpoint, gateway: string): AgentEndpoint {
  const rewrite = (url: string): string => {
    const parsed = new URL(url)
    if (['127.0.0.1', 'localhost', '[::1]', '0.0.0.0'].includes(parsed.hostname)) parsed.hostname = gateway
    return parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : '')
  }
  switch (endpoint.kind) {
    case 'amqp': return { ...endpoint, url: rewrite(endpoint.url) }
    case 'embedded': return { ...endpoint, url: rewrite(endpoint.url) }
    case 'memory': return endpoint
  }
}

/** What the netns target's functions share. */
interface NetnsContext {
  /** The machines' /24, as three numbers (`10.213.77`). */
  subnet: string
  /** The bridge's address, the host side of every machine's link. */
  gateway: string
  /** The bridge's interface name. */
  bridge: string
  /** The agent's command line. */
  command: string[]
  options: NetnsTargetOptions
  /** Runs a machine's set-up once those before it are done. */
  oneAtATime: <T>(work: () => Promise<T>) => Promise<T>
}

export function createNetnsTarget (options: NetnsTargetOptions): TargetHandler {
  const subnet = options.subnet ?? DEFAULT_NETNS_SUBNET
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(subnet)) throw new NetnsUnavailableError(`subnet ${subnet} is not three numbers like 10.213.77`)
  const gateway = `${subnet}.1`
  const bridge = `mcbr${createHash('sha256').update(subnet).digest('hex').slice(0, 8)}`
  const command = options.agentCommand ?? defaultAgentCommand()
  // addresses and the bridge are shared: machines are set up one at a time (agents then start in parallel)
  let creations = Promise.resolve()
  const oneAtATime = async <T>(work: () => Promise<T>): Promise<T> => {
    const done = creations.then(work)
    creations = done.then(() => {}, () => {})
    return await done
  }
  const context: NetnsContext = { subnet, gateway, bridge, command, options, oneAtATime }

  return {
    id: 'netns',

    create: async params => await createMachine(context, params),

    async isRunning (machineId: string): Promise<boolean> {
      const folder = machineFolder(options.machinesDirectory, machineId)
      return findAgent(machineFiles(folder)) !== undefined && existsSync(`/run/netns/${netnsNames(machineId).namespace}`)
    },

    async terminate (machineId: string): Promise<void> {
      const folder = machineFolder(options.machinesDirectory, machineId)
      const record = findAgent(machineFiles(folder))
      if (record !== undefined) await stopAgent(record)
      await tearDown(machineId, folder)
      await removeBridgeIfUnused(context)
    },

    async address (machineId: string): Promise<string | undefined> {
      try {
        return readFileSync(join(machineFolder(options.machinesDirectory, machineId), 'address'), 'utf8').trim()
      } catch {
        return undefined
      }
    }
  }
}

async function ip (...args: string[]): Promise<void> {
  await run('ip', args)
}

async function ensureBridge ({ subnet, gateway, bridge }: NetnsContext): Promise<void> {
  await allowForwardingWithin(`${subnet}.0/24`) // dockerd's FORWARD DROP would cut the namespaces off each other
  if (existsSync(`/sys/class/net/${bridge}`)) return
  await ip('link', 'add', bridge, 'type', 'bridge')
  await ip('addr', 'add', `${gateway}/24`, 'dev', bridge)
  await ip('link', 'set', bridge, 'up')
}

function usedHosts ({ options }: NetnsContext): Set<number> {
  const used = new Set<number>()
  if (!existsSync(options.machinesDirectory)) return used
  for (const entry of readdirSync(options.machinesDirectory)) {
    try {
      used.add(Number(readFileSync(join(options.machinesDirectory, entry, 'address'), 'utf8').trim().split('.')[3]))
    } catch { /* a folder without an address yet */ }
  }
  return used
}

async function removeBridgeIfUnused (context: NetnsContext): Promise<void> {
  const { bridge } = context
  if (usedHosts(context).size > 0 || !existsSync(`/sys/class/net/${bridge}`)) return
  await ip('link', 'del', bridge).catch(() => {})
}

async function setUp (context: NetnsContext, machineId: string, folder: string): Promise<string> {
  const { subnet, bridge } = context
  if (process.getuid?.() !== 0) throw new NetnsUnavailableError('the DM does not run as root')
  await ensureBridge(context)
  const used = usedHosts(context)
  let host = FIRST_HOST
  while (used.has(host)) host++
  if (host > LAST_HOST) throw new NetnsAddressesExhaustedError(subnet)
  const address = `${subnet}.${host}`
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, 'address'), address)
  const { namespace, hostSide, machineSide } = netnsNames(machineId)
  await ip('netns', 'add', namespace)
  await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', machineSide)
  await ip('link', 'set', machineSide, 'netns', namespace)
  await ip('link', 'set', hostSide, 'master', bridge)
  await ip('link', 'set', hostSide, 'up')
  await ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', machineSide)
  await ip('-n', namespace, 'link', 'set', machineSide, 'up')
  await ip('-n', namespace, 'link', 'set', 'lo', 'up')
  return address
}

async function tearDown (machineId: string, folder: string): Promise<void> {
  const { namespace, hostSide } = netnsNames(machineId)
  if (existsSync(`/run/netns/${namespace}`)) await ip('netns', 'del', namespace).catch(() => {})
  // deleting the namespace deletes the veth pair; a half-made pair may remain on the host side
  if (existsSync(`/sys/class/net/${hostSide}`)) await ip('link', 'del', hostSide).catch(() => {})
  rmSync(folder, { recursive: true, force: true })
}

/** Sets a machine's namespace up, writes its agent's params and starts the agent inside. */
async function createMachine (context: NetnsContext, params: MachineParameters): Promise<string> {
  const { options, command, oneAtATime } = context
  const machineId = params.machineName
  const folder = machineFolder(options.machinesDirectory, machineId)
  let address: string
  try {
    address = await oneAtATime(async () => await setUp(context, machineId, folder))
  } catch (err) {
    await tearDown(machineId, folder)
    await removeBridgeIfUnused(context)
    if (err instanceof NetnsUnavailableError || err instanceof NetnsAddressesExhaustedError) throw err
    throw new NetnsUnavailableError(errorMessage(err))
  }
  const files = machineFiles(folder)
  const agentParams: Partial<AgentParams> = {
    ...params.agent, messaging: endpointFromNamespace(params.agent.messaging, context.gateway), stateDir: files.state,
    ipAddress: address, heartbeatPeriodMs: options.heartbeatPeriodMs
  }
  await writeAgentParams(files, agentParams)
  await spawnAgent(['ip', 'netns', 'exec', netnsNames(machineId).namespace, ...command], files.params, files, { env: options.env, cwd: options.cwd })
  return machineId
}
