// The `docker` target: each machine is a container booted from the agent image (`meshconf image build`), the closest
// local twin of a VM booted from an image. The DM hands the agent its params the way a cloud hands a VM its user
// data: a file, /etc/meshconf/agent.json, written into the container before it starts (cloud-init writes the same
// file on a VM). Containers sit on a Docker network of their own (one per target definition's docker.network);
// agents reach the DM's endpoint (or RabbitMQ) at the network's gateway, the host's side of its bridge, and each
// other at their container's address. Containers carry labels (DM, machine, application, instance path), by which a
// restarted DM finds them again. Talks to the Engine API on its unix socket (dockerode).
//
// Properties of a target definition with this handler (all optional):
//   docker.image             the agent image; default meshconf-agent:<meshconf version> (meshconf image build)
//   docker.network           the Docker network of the machines; default meshconf (made when missing)
//   docker.network.subnet    its IPv4 subnet when the target makes it; default 10.189.0.0/24 (private; the gateway is
//                            its first address)
//   docker.cpus              CPU limit, in CPUs (0.5: half a core); default none (the VM size's CPUs)
//   docker.memory            memory limit, in bytes or with a k, m, g suffix (512m); default none
//   docker.env.<NAME>        extra environment variable NAME of the container (and so of the agent and its recipes)
import { createHash, randomBytes, randomInt } from 'node:crypto'
import type Docker from 'dockerode'
import tar from 'tar-stream'
import type { AgentParams } from '../../protocol/agent-params.js'
import { CONTAINER_STOP_GRACE_S, DEFAULT_DOCKER_NETWORK, DEFAULT_DOCKER_SUBNET, IMAGE_AGENT_STATE_DIR, IMAGE_PARAMS_FILE, LABEL_APPLICATION, LABEL_DM, LABEL_MACHINE, LABEL_MANAGED_NETWORK, LABEL_NETWORK, LABEL_PATH } from '../docker/constants.js'
import { createDockerEngine, DockerRequestError, type DockerEngine } from '../docker/engine.js'
import { defaultAgentImageTag } from '../docker/image.js'
import { firstHost, formatCidr, parseCidr } from './cidr.js'
import { allowForwardingWithin } from './forwarding.js'
import { endpointFromNamespace } from './netns.js'
import type { MachineParameters, TargetHandler } from './types.js'

/** Target properties read by this handler. */
export const DOCKER_IMAGE_PROPERTY = 'docker.image'
export const DOCKER_NETWORK_PROPERTY = 'docker.network'
export const DOCKER_SUBNET_PROPERTY = 'docker.network.subnet'
export const DOCKER_CPUS_PROPERTY = 'docker.cpus'
export const DOCKER_MEMORY_PROPERTY = 'docker.memory'
export const DOCKER_ENV_PROPERTY_PREFIX = 'docker.env.'

export interface DockerTargetOptions {
  /**
   * Names this DM among the Engine's containers (label meshconf.dm, part of container names): a restarted DM with
   * the same id finds its containers again; startDmService uses a digest of the data folder.
   */
  dmId: string
  /** The Engine's unix socket; default /var/run/docker.sock. */
  socketPath?: string
  /** Heartbeat period of the agents, in milliseconds; default the agent's (5 000). */
  heartbeatPeriodMs?: number
  /** Image of targets whose definition names none (docker.image): a tag or an image id; default meshconf-agent:<version>. */
  image?: string
  /** Network of targets whose definition names none (docker.network); default `meshconf`. */
  network?: string
  /** Its subnet when the target makes it (docker.network.subnet); default 10.189.0.0/24. */
  subnet?: string
}

/** After a refused network creation: how often, and every how many milliseconds, to look for the same network made by another DM. */
const NETWORK_RACE_CHECKS = 10
const NETWORK_RACE_CHECK_MS = 200

/** A target property with a value the handler cannot use. */
export class DockerTargetPropertyError extends Error {
  constructor (target: string, property: string, value: string, expected: string) {
    super(`target ${target} (docker): property ${property} = ${JSON.stringify(value)} is not ${expected}; fix the target definition`)
    this.name = 'DockerTargetPropertyError'
  }
}

/** The image a target names is not in the Engine. */
export class DockerImageMissingError extends Error {
  constructor (image: string) {
    super(`the Docker Engine has no image ${image}: build it with \`meshconf image build --tag ${image}\` (after npm run build), or set docker.image to an image that exists`)
    this.name = 'DockerImageMissingError'
  }
}

/** One of this DM's containers, as its labels and the Engine describe it. */
export interface DockerMachine {
  machineId: string
  containerId: string
  application: string
  scopedInstancePath: string
  /** The Engine's state: running, exited, created … */
  state: string
  address?: string
}

/** What a target definition asks of its containers, checked. */
interface ContainerSpec {
  image: string
  network: string
  subnet: string
  nanoCpus?: number
  memoryBytes?: number
  env: string[]
}

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

function containerSpec (params: MachineParameters, defaults: { image?: string, network?: string, subnet?: string }): ContainerSpec {
  const { target } = params
  const props = target.properties
  const fail = (property: string, expected: string): never => { throw new DockerTargetPropertyError(target.id, property, props[property] ?? '', expected) }
  const network = props[DOCKER_NETWORK_PROPERTY] ?? defaults.network ?? DEFAULT_DOCKER_NETWORK
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(network)) fail(DOCKER_NETWORK_PROPERTY, 'a Docker network name (letters, digits, _ . -)')
  const subnet = parseCidr(props[DOCKER_SUBNET_PROPERTY] ?? defaults.subnet ?? DEFAULT_DOCKER_SUBNET)
  if (subnet === undefined || subnet.bits < 8 || subnet.bits > 29) fail(DOCKER_SUBNET_PROPERTY, 'an IPv4 subnet from /8 to /29, e.g. 10.189.0.0/24')
  const spec: ContainerSpec = {
    image: props[DOCKER_IMAGE_PROPERTY] ?? defaults.image ?? defaultAgentImageTag(), network, subnet: formatCidr(subnet as NonNullable<typeof subnet>), env: []
  }
  if (props[DOCKER_CPUS_PROPERTY] !== undefined) {
    const cpus = Number(props[DOCKER_CPUS_PROPERTY])
    if (!Number.isFinite(cpus) || cpus <= 0 || cpus > 1024) fail(DOCKER_CPUS_PROPERTY, 'a positive number of CPUs, e.g. 0.5')
    spec.nanoCpus = Math.round(cpus * 1e9)
  }
  if (props[DOCKER_MEMORY_PROPERTY] !== undefined) {
    const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)$/i.exec(props[DOCKER_MEMORY_PROPERTY].trim())
    const bytes = match === null ? NaN : Math.round(Number(match[1]) * MEMORY_UNITS[match[2].toLowerCase()])
    // below 6 MB the Engine refuses the container
    if (!Number.isFinite(bytes) || bytes < 6 * 1024 ** 2) fail(DOCKER_MEMORY_PROPERTY, 'a memory size of at least 6m, in bytes or with k, m, g (512m)')
    spec.memoryBytes = bytes
  }
  for (const [key, value] of Object.entries(props).sort(([a], [b]) => a < b ? -1 : 1)) {
    if (!key.startsWith(DOCKER_ENV_PROPERTY_PREFIX)) continue
    const name = key.slice(DOCKER_ENV_PROPERTY_PREFIX.length)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(key, 'docker.env.<NAME> with NAME made of letters, digits and _')
    spec.env.push(`${name}=${value}`)
  }
  return spec
}

/** The container of a machine: the DM's id keeps two DMs' machines apart on one Engine. */
export function containerName (dmId: string, machineId: string): string {
  return `meshconf-${dmId}-${machineId}`.replace(/[^a-zA-Z0-9_.-]/g, '_')
}

/** A DM id from something unique to the DM (its data folder): short, stable across restarts. */
export function dockerDmId (seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 12)
}

/** Where privateDockerNetwork draws its subnets: /24s of 10.188.0.0/16, outside every default of ours and Docker's. */
const PRIVATE_SUBNETS_PREFIX = '10.188'

/**
 * A network name and a /24 no network of the Engine uses, for a run of its own beside others (tests, simulations,
 * benchmarks): `meshconf-<purpose>-<random>` in 10.188.x.0/24.
 */
export async function privateDockerNetwork (purpose: string, socketPath?: string): Promise<{ network: string, subnet: string }> {
  const engine = createDockerEngine(socketPath)
  const networks = await engine.request('listing networks', async d => await d.listNetworks())
  const used = new Set(networks.flatMap(n => (n.IPAM?.Config ?? []).map(c => c.Subnet)))
  const free = Array.from({ length: 256 }, (_, i) => `${PRIVATE_SUBNETS_PREFIX}.${i}.0/24`).filter(s => !used.has(s))
  if (free.length === 0) throw new DockerRequestError('choosing a subnet', `every /24 of ${PRIVATE_SUBNETS_PREFIX}.0.0/16 is taken by a network: remove unused networks (docker network prune)`)
  return { network: `meshconf-${purpose}-${randomBytes(3).toString('hex')}`, subnet: free[randomInt(free.length)] }
}

/** A tar holding the params file (mode 0600: it carries the application's agent token). */
async function paramsArchive (params: Partial<AgentParams>): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer) })
  const ended = new Promise<void>((resolve, reject) => { pack.once('end', resolve); pack.once('error', reject) })
  const content = Buffer.from(JSON.stringify(params, null, 2) + '\n')
  const dir = IMAGE_PARAMS_FILE.slice(1, IMAGE_PARAMS_FILE.lastIndexOf('/'))
  pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o700 })
  pack.entry({ name: IMAGE_PARAMS_FILE.slice(1), type: 'file', mode: 0o600, size: content.length }, content)
  pack.finalize()
  await ended
  return Buffer.concat(chunks)
}

export interface DockerTargetHandler extends TargetHandler {
  /** This DM's containers, found by their labels (what a restarted DM sees). */
  machines (): Promise<DockerMachine[]>
}

/** What the Docker target's functions share. */
interface DockerContext {
  engine: DockerEngine
  dmId: string
  options: DockerTargetOptions
  /** Runs network work (creation, removal, a container joining) one at a time in this DM. */
  serially: <T>(work: () => Promise<T>) => Promise<T>
}

export function createDockerTarget (options: DockerTargetOptions): DockerTargetHandler {
  const engine: DockerEngine = createDockerEngine(options.socketPath)
  const { dmId } = options
  // network creation and removal, and the containers joining them, one at a time in this DM
  let networkWork: Promise<unknown> = Promise.resolve()
  const serially = async <T>(work: () => Promise<T>): Promise<T> => {
    const result = networkWork.then(work)
    networkWork = result.catch(() => {})
    return await result
  }
  const context: DockerContext = { engine, dmId, options, serially }

  return {
    id: 'docker',

    create: async params => await createContainer(context, params),

    async isRunning (machineId: string): Promise<boolean> {
      return (await find(context, machineId))?.State === 'running'
    },

    async terminate (machineId: string): Promise<void> {
      const info = await find(context, machineId)
      if (info === undefined) return
      const container = engine.docker.getContainer(info.Id)
      // SIGTERM first: the agent says machineDown and stops its recipes' services, as on a VM shut down
      if (info.State === 'running') await engine.requestOrMissing(`stopping container ${info.Id}`, async () => await container.stop({ t: CONTAINER_STOP_GRACE_S })).catch(() => {})
      await engine.requestOrMissing(`removing container ${info.Id}`, async () => await container.remove({ force: true, v: true }))
      const network = info.Labels[LABEL_NETWORK]
      if (network !== undefined) await serially(async () => { await removeNetworkIfUnused(context, network) })
    },

    async address (machineId: string): Promise<string | undefined> {
      const info = await find(context, machineId)
      if (info === undefined) return undefined
      const inspected = await engine.requestOrMissing(`inspecting container ${info.Id}`, async () => await engine.docker.getContainer(info.Id).inspect())
      return inspected === undefined ? undefined : addressOf(inspected)
    },

    async machines (): Promise<DockerMachine[]> {
      const found = await engine.request('listing the DM\'s containers', async d =>
        await d.listContainers({ all: true, filters: { label: [`${LABEL_DM}=${dmId}`] } }))
      return found.map(info => ({
        machineId: info.Labels[LABEL_MACHINE], containerId: info.Id, application: info.Labels[LABEL_APPLICATION],
        scopedInstancePath: info.Labels[LABEL_PATH], state: info.State, address: addressOf(info)
      }))
    }
  }
}

/** The container of a machine, found by its labels. */
async function find ({ engine, dmId }: DockerContext, machineId: string): Promise<Docker.ContainerInfo | undefined> {
  const found = await engine.request(`listing the containers of machine ${machineId}`, async d =>
    await d.listContainers({ all: true, filters: { label: [`${LABEL_DM}=${dmId}`, `${LABEL_MACHINE}=${machineId}`] } }))
  return found[0]
}

/** The network's gateway: made with the target's subnet when missing (labelled, so that it is removed with its last machine). */
async function ensureNetwork ({ engine }: DockerContext, spec: ContainerSpec, targetId: string): Promise<string> {
  const gatewayOf = async (): Promise<string | undefined> => {
    const info = await engine.requestOrMissing(`inspecting network ${spec.network}`, async d => await d.getNetwork(spec.network).inspect()) as Docker.NetworkInspectInfo | undefined
    if (info === undefined) return undefined
    const config = info.IPAM?.Config?.find(c => c.Gateway !== undefined || c.Subnet !== undefined)
    if (config?.Gateway !== undefined && config.Gateway !== '') return config.Gateway
    const subnet = config?.Subnet === undefined ? undefined : parseCidr(config.Subnet)
    if (subnet === undefined) throw new DockerTargetPropertyError(targetId, DOCKER_NETWORK_PROPERTY, spec.network, 'a network with an IPv4 subnet (docker network inspect shows none)')
    return firstHost(subnet)
  }
  const existing = await gatewayOf()
  if (existing !== undefined) return existing
  const subnet = parseCidr(spec.subnet) as NonNullable<ReturnType<typeof parseCidr>>
  try {
    await engine.request(`creating network ${spec.network} (${spec.subnet})`, async d => await d.createNetwork({
      Name: spec.network, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL_MANAGED_NETWORK]: 'true' },
      IPAM: { Driver: 'default', Config: [{ Subnet: spec.subnet, Gateway: firstHost(subnet) }] }
    }))
  } catch (err) {
    // another DM may be making it at the same time (the Engine then refuses ours, the name or the subnet taken,
    // a moment before it lists theirs): then it is ours to share
    for (let attempt = 0; attempt < NETWORK_RACE_CHECKS; attempt++) {
      const made = await gatewayOf()
      if (made !== undefined) return made
      await new Promise(resolve => setTimeout(resolve, NETWORK_RACE_CHECK_MS))
    }
    throw err
  }
  // dockerd may just have set FORWARD to DROP: keep the netns target's namespaces talking
  await allowForwardingWithin()
  return firstHost(subnet)
}

/** Removes a network the target made once no container is attached to it (another DM's may still be). */
async function removeNetworkIfUnused ({ engine }: DockerContext, network: string): Promise<void> {
  const info = await engine.requestOrMissing(`inspecting network ${network}`, async d => await d.getNetwork(network).inspect()) as Docker.NetworkInspectInfo | undefined
  if (info === undefined || info.Labels?.[LABEL_MANAGED_NETWORK] !== 'true') return
  // created, exited and running containers alike (the network's own list has only the running ones): a container
  // created but not started yet would fail to start on a removed network
  const attached = await engine.request(`listing the containers of network ${network}`, async d =>
    await d.listContainers({ all: true, filters: { network: [network] } }))
  if (attached.length > 0) return
  // a container of another DM may join between the inspect and the removal: the Engine then refuses, which is fine
  await engine.requestOrMissing(`removing network ${network}`, async d => await d.getNetwork(network).remove()).catch(() => {})
}

function addressOf (container: Docker.ContainerInspectInfo | Docker.ContainerInfo): string | undefined {
  const networks = container.NetworkSettings?.Networks ?? {}
  const labels = 'Config' in container ? container.Config.Labels : container.Labels
  const network = labels?.[LABEL_NETWORK]
  const chosen = (network !== undefined ? networks[network] : undefined) ?? Object.values(networks)[0]
  return chosen?.IPAddress === undefined || chosen.IPAddress === '' ? undefined : chosen.IPAddress
}

/** Creates and starts a machine's container, on its network (made when missing), with the agent's params inside. */
async function createContainer (context: DockerContext, params: MachineParameters): Promise<string> {
  const { engine, dmId, options, serially } = context
    const spec = containerSpec(params, options)
    const machineId = params.machineName
    const image = await engine.requestOrMissing(`inspecting image ${spec.image}`, async d => await d.getImage(spec.image).inspect())
    if (image === undefined) throw new DockerImageMissingError(spec.image)
    const name = containerName(dmId, machineId)
    const container = await serially(async () => {
      const gateway = await ensureNetwork(context, spec, params.target.id)
      const agentParams: Partial<AgentParams> = {
        ...params.agent,
        // the host's loopback, seen from the container, is the network's gateway
        messaging: endpointFromNamespace(params.agent.messaging, gateway),
        stateDir: IMAGE_AGENT_STATE_DIR,
        heartbeatPeriodMs: options.heartbeatPeriodMs
      }
      const created = await engine.request(`creating container ${name}`, async d => await d.createContainer({
        name,
        Image: spec.image,
        Env: spec.env,
        Labels: {
          [LABEL_DM]: dmId, [LABEL_MACHINE]: machineId, [LABEL_NETWORK]: spec.network,
          [LABEL_APPLICATION]: params.agent.application, [LABEL_PATH]: params.agent.scopedInstancePath
        },
        HostConfig: {
          NetworkMode: spec.network,
          // an init reaps the recipes' orphaned processes, as a VM's init does
          Init: true,
          RestartPolicy: { Name: 'no' },
          ...(spec.nanoCpus !== undefined ? { NanoCpus: spec.nanoCpus } : {}),
          ...(spec.memoryBytes !== undefined ? { Memory: spec.memoryBytes } : {})
        }
      }))
      try {
        // the user data: written before the agent starts, as cloud-init writes it before the agent's unit
        await engine.request(`writing the agent params into ${name}`, async () => await created.putArchive(await paramsArchive(agentParams), { path: '/' }))
      } catch (err) {
        await created.remove({ force: true }).catch(() => {})
        throw err
      }
      return created
    })
    try {
      await engine.request(`starting container ${name}`, async () => await container.start())
    } catch (err) {
      await container.remove({ force: true }).catch(() => {})
      throw err
    }
    return machineId
}
