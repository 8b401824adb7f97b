// The mesh over libp2p: one node per agent (TCP, Noise, yamux, identify, ping, gossipsub), admitted by the
// application's pnet key, finding peers from the DM's bootstrap list and the peers remembered from the last run,
// redialled with backoff; the owners this agent imports from are pinged: one that does not answer in time counts as
// lost until it does, and a long-silent one's connection is aborted. The mesh logic itself is MeshService (service.ts);
// the node is node.ts, the transport over it transport.ts.
// libp2p 3 calls Promise.withResolvers (Node 22): the polyfill must be evaluated before libp2p's modules.
import '../polyfill.js'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import type { ImportListener, MeshFactory } from '../ports.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import { controlTopic, pnetKeyBytes } from '../../protocol/mesh.js'
import { MeshService, type MeshServiceHandle, type MeshServiceOptions, type MeshTransport, type MeshTransportEvents } from './service.js'
import { createMeshNode, type MeshNode } from './node.js'
import { Libp2pTransport } from './transport.js'
import { loadOrCreatePeerIdentity } from './identity.js'
import { nextMeshEpoch } from './epoch.js'
import { writeAtomically } from '../../common/fs.js'
import { DEFAULT_LISTEN_ADDRESS, LISTEN_PORTS_FILE } from './constants.js'
import { errorMessage } from '../../protocol/errors.js'
import type { Logger } from '../../common/log.js'

export interface Libp2pMeshOptions extends MeshServiceOptions {
  /** The agent's state folder: holds `peer-key` (unless `privateKey` is given) and `mesh-peers.json`. Required. */
  stateDir: string
  /** The agent's libp2p key; default: loaded from (or created in) `<stateDir>/peer-key`. */
  privateKey?: PrivateKey
  /**
   * Multiaddrs to listen on; default [`/ip4/127.0.0.1/tcp/0`] (loopback, any free port). A tcp/0 address gets the
   * port of the last run again (kept in `<stateDir>/mesh-listen.json`) while it is free.
   */
  listen?: string[]
  /** Discover peers with mDNS on the LAN; default false (the bootstrap list and remembered peers suffice). */
  mdns?: boolean
  /**
   * CIDR multiaddrs exempt from libp2p's inbound rate limit (5 connections/s per host), for hosts running many
   * agents; default [`/ip4/127.0.0.0/ipcidr/8`].
   */
  allow?: string[]
  log?: Logger
  /**
   * On this signal the mesh prints its view (what it holds, from which peer, how old) as one JSON line on stdout;
   * default 'SIGUSR2' (`kill -USR2 <agent pid>`); null: no signal handler.
   */
  viewSignal?: NodeJS.Signals | null
  /**
   * A connection whose peer has not shown up subscribed to the control topic after this long, in ms, is aborted and
   * redialled (a gossip stream that failed to open); default GOSSIP_STREAM_GRACE_MS (30 000).
   */
  gossipStreamGraceMs?: number
}

/** The engine's MeshFactory over libp2p, with these node options. */
export function libp2pMeshFactory (options: Libp2pMeshOptions): MeshFactory {
  return async (model, parameters, listener) => await startLibp2pMesh(model, parameters, listener, options)
}

/** Starts a libp2p mesh node for a scoped model. Throws InvalidPnetKeyError for a malformed pnet key. */
export async function startLibp2pMesh (model: ScopedModel, parameters: MeshParameters, listener: ImportListener,
  options: Libp2pMeshOptions): Promise<MeshServiceHandle> {
  const psk = pnetKeyBytes(parameters.pnetKey)
  const privateKey = options.privateKey ?? (await loadOrCreatePeerIdentity(options.stateDir)).privateKey
  const epoch = options.epoch ?? await nextMeshEpoch(options.stateDir, options.log)
  const service = new MeshService({ model, parameters, listener, log: options.log }, { ...options, epoch })
  const node = await startOnRememberedPorts(options, privateKey, psk)
  const transport = new Libp2pTransport(node, controlTopic(model.application), service.transportEvents, options)
  service.start(transport)
  await transport.start([...parameters.bootstrapPeers])
  const signal = options.viewSignal === undefined ? 'SIGUSR2' : options.viewSignal
  if (signal === null) return service
  const unwatch = printViewOn(signal, service)
  const stop = service.stop.bind(service)
  service.stop = async () => {
    unwatch()
    await stop()
  }
  return service
}

/**
 * A libp2p transport for another exchange than the application's mesh (the domain exchange, agent/mesh/domain.ts):
 * the same node settings, its own pnet key, control topic and state folder (ports and remembered peers). Call
 * `begin` once the service is wired to the events: it dials the bootstrap peers.
 */
export async function createLibp2pTransport (psk: Uint8Array, control: string, events: MeshTransportEvents,
  options: Libp2pMeshOptions & { privateKey: PrivateKey }): Promise<{ transport: MeshTransport, begin: (bootstrapPeers: string[]) => Promise<void> }> {
  const node = await startOnRememberedPorts(options, options.privateKey, psk)
  const transport = new Libp2pTransport(node, control, events, options)
  return { transport, begin: async peers => { await transport.start(peers) } }
}

/**
 * Starts the node; an address asking for any free port (tcp/0) gets the port it had in the last run, so that the
 * addresses the other agents remember for this peer stay right after a restart (with the DM down, they are how the
 * mesh finds it again). When that port is taken now, any free port.
 */
async function startOnRememberedPorts (options: Libp2pMeshOptions, privateKey: PrivateKey, psk: Uint8Array): Promise<MeshNode> {
  const requested = options.listen ?? [DEFAULT_LISTEN_ADDRESS]
  const file = join(options.stateDir, LISTEN_PORTS_FILE)
  let remembered: Record<string, number> = {}
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
    if (typeof parsed === 'object' && parsed !== null) remembered = parsed as Record<string, number>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') options.log?.warn(`ignoring ${file}: ${errorMessage(err)}`)
  }
  const anyPort = (address: string): boolean => /\/tcp\/0$/.test(address)
  const reused = requested.map(a => anyPort(a) && Number.isInteger(remembered[a]) && remembered[a] > 0 ? a.replace(/\/tcp\/0$/, `/tcp/${remembered[a]}`) : a)
  let node: MeshNode
  try {
    node = await createMeshNode({ ...options, listen: reused, privateKey, psk })
  } catch (err) {
    if (reused.every((a, i) => a === requested[i])) throw err
    options.log?.info(`could not listen on the ports of the last run (${errorMessage(err)}): taking free ones`)
    node = await createMeshNode({ ...options, listen: requested, privateKey, psk })
  }
  const ports: Record<string, number> = {}
  for (const address of requested.filter(anyPort)) {
    const host = address.replace(/\/tcp\/0$/, '')
    const bound = node.getMultiaddrs().map(m => m.toString()).find(m => m.startsWith(`${host}/tcp/`)) ??
      node.getMultiaddrs().map(m => m.toString()).find(m => m.includes('/tcp/'))
    const port = Number(bound?.match(/\/tcp\/(\d+)/)?.[1])
    if (Number.isInteger(port) && port > 0) ports[address] = port
  }
  try {
    await writeAtomically(file, JSON.stringify(ports))
  } catch (err) {
    options.log?.warn(`could not remember the mesh's ports in ${file}: ${errorMessage(err)}`)
  }
  return node
}

/** Meshes printing their view on each signal: one process listener per signal, however many meshes a process runs. */
const viewPrinters = new Map<NodeJS.Signals, { services: Set<MeshServiceHandle>, print: () => void }>()

function printViewOn (signal: NodeJS.Signals, service: MeshServiceHandle): () => void {
  let printer = viewPrinters.get(signal)
  if (printer === undefined) {
    const services = new Set<MeshServiceHandle>()
    printer = { services, print: () => { for (const s of services) process.stdout.write(JSON.stringify(s.view()) + '\n') } }
    viewPrinters.set(signal, printer)
    process.on(signal, printer.print)
  }
  const { services, print } = printer
  services.add(service)
  return () => {
    services.delete(service)
    if (services.size > 0) return
    process.off(signal, print)
    viewPrinters.delete(signal)
  }
}
