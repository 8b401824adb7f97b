// What the benchmark parent and its agent processes (agent-process.ts) say to each other over the IPC channel. A
// process hosts one agent or several (the scale mode packs 50 in each): every message names its agent, the index of
// that agent's state folder on the process's command line.
// Times are `process.hrtime.bigint()` in ns, as decimal strings: CLOCK_MONOTONIC is one clock for every process
// of the host, so times taken in different processes subtract.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'

/** Which transport carries the exports: the libp2p mesh, or the Roboconf-style RabbitMQ hub. */
export type ExportTransport = 'mesh' | 'amqp'

export type ParentToAgent =
  | { kind: 'model', model: ScopedModel, parameters: MeshParameters, transport: ExportTransport,
    /** amqp hub: broker URL, the run's domain (exchange prefix), Nagle off (default true, see AmqpHubComponents). */
    amqp?: { url: string, domain: string, noDelay?: boolean },
    /** mesh: multiaddrs to listen on; default loopback, any port. */
    listen?: string[],
    /** mesh: CIDR multiaddrs exempt from libp2p's inbound rate limit; default loopback. */
    allow?: string[],
    /**
     * As a real agent with `metricsPort` in its params: its metrics served on a free loopback port, its log through
     * pino at info (JSON lines to <stateDir>/agent.log, written as to an agent's redirected stderr) and
     * kept in its in-memory ring; default false (no metrics, only warnings and errors, on stderr).
     */
    observability?: boolean }
  | { kind: 'changeState', instancePath: string, state: InstanceStatus }
  | { kind: 'traffic' }
  | { kind: 'stop' }

export type AgentToParent =
  | { kind: 'hello', peerId: string }
  /** metricsPort: where its /metrics is served (with observability). */
  | { kind: 'ready', addresses: string[], metricsPort?: number, domainAddresses?: string[] }
  /** The engine reported a state or import change: the status, and the exporter paths it holds per prefix. */
  | { kind: 'status', instancePath: string, status: InstanceStatus, imports: Record<string, string[]>, atNs: string }
  /** The engine invoked the plug-in's `update` of `instancePath` because `exporterPath` came (added) or went. */
  | { kind: 'update', instancePath: string, exporterPath: string, added: boolean, atNs: string }
  | { kind: 'traffic', messagesSent: number, bytesSent: number }
  | { kind: 'failed', error: string }

/** A message on the IPC channel, naming the hosted agent it is for or from. */
export type ToHost = ParentToAgent & { agent: number }
export type FromHost = AgentToParent & { agent: number }
