// The benchmarks' agent processes: each hosts one or more real Agent services (engine, local state, plug-ins) over
// the libp2p mesh or the amqp hub, driven by the benchmark over IPC instead of a DM. Its `logger` plug-in reports the
// moment the engine invokes `update` (and every state change), so that latencies are measured where the engine acts.
// The scale mode packs many agents in one process (each its own libp2p node on loopback, its own state folder).
// Usage: node dist/simulations/bench/agent-process.js <stateDir> [<stateDir>...]   (forked, with an IPC channel)
// With `observability` in its model message, an agent logs and serves metrics as a real agent does (the bench's
// --observability compares both).
// MESHCONF_BENCH_LOG_DIR=<dir>: each process also writes every log line, debug included, to <dir>/<its pid>.log (to
// find out why a run failed; the benchmark deletes the agents' state folders).
import '../../agent/polyfill.js'
import { appendFileSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { createAgent } from '../../agent/agent.js'
import type { Agent } from '../../agent/agent.js'
import { lineLogger, type Logger } from '../../common/log.js'
import { createAgentProcessLogger } from '../../agent/main.js'
import { LogRing, ringLogger } from '../../agent/log-ring.js'
import type { AgentMetrics } from '../../agent/metrics.js'
import type { MeshServiceHandle } from '../../agent/mesh/service.js'
import type { ImportListener } from '../../agent/ports.js'
import { startLibp2pMesh } from '../../agent/mesh/libp2p.js'
import { withDomainExchange } from '../../agent/mesh/domain.js'
import { loadOrCreatePeerIdentity } from '../../agent/mesh/identity.js'
import { createStepOutbox } from '../../agent/outbox.js'
import { createLoggerPlugin } from '../../agent/plugins/logger.js'
import type { Plugin } from '../../agent/plugins/types.js'
import type { MeshFactory } from '../../agent/ports.js'
import { toAgent } from '../../protocol/messages.js'
import { amqpHubMeshFactory, type AmqpHubHandle } from './amqp-hub.js'
import type { AgentToParent, FromHost, ToHost } from './agent-protocol.js'

const stateDirs = process.argv.slice(2)
if (stateDirs.length === 0 || process.send === undefined) {
  console.error('usage: node agent-process.js <stateDir> [<stateDir>...], forked with an IPC channel (the benchmark starts it)')
  process.exit(2)
}

const now = (): string => process.hrtime.bigint().toString()
/**
 * Messages to the benchmark leave after the step that made them (their times are taken when they are made), as a
 * real agent's reports to the DM do (agent/main.ts): the IPC write must not delay the update or the announce that
 * follows in the same step.
 */
const outbox = createStepOutbox<FromHost>(message => { process.send?.(message) })

const logDir = process.env.MESHCONF_BENCH_LOG_DIR
/** Every line to the log file when asked (synchronously: a killed agent keeps its last lines). */
const trace = logDir === undefined || logDir === ''
  ? () => {}
  : (level: string, message: string): void => {
      appendFileSync(join(logDir, `${process.pid}.log`), `${new Date().toISOString()} ${level} ${message}\n`)
    }
/** One hosted agent: its state folder, and its reports tagged with its index. */
class HostedAgent {
  private agent: Agent | undefined
  private hub: AmqpHubHandle | undefined
  stopped = false
  /** Only warnings and errors on stderr: logging every step to a pipe would be measured too. */
  private readonly log: Logger

  constructor (private readonly index: number, private readonly stateDir: string) {
    const tag = stateDirs.length === 1 ? '' : `[${index}] `
    this.log = {
      debug: () => {},
      info: message => { trace('INFO', tag + message) },
      warn: message => { trace('WARN', tag + message); process.stderr.write(`WARN ${tag}${message}\n`) },
      error: message => { trace('ERROR', tag + message); process.stderr.write(`ERROR ${tag}${message}\n`) }
    }
  }

  tell (message: AgentToParent): void {
    outbox.later({ ...message, agent: this.index })
  }

  /** The logger plug-in, reporting when the engine invokes its `update`. */
  private recordingLoggerPlugin (): Plugin {
    const logger = createLoggerPlugin()
    return {
      ...logger,
      update: async (context, change) => {
        this.tell({ kind: 'update', instancePath: context.instance.path, exporterPath: change.importChanged.instancePath,
          added: change.statusChanged === 'DEPLOYED_STARTED', atNs: now() })
        await logger.update(context, change)
      }
    }
  }

  async hello (): Promise<void> {
    const identity = await loadOrCreatePeerIdentity(this.stateDir)
    trace('INFO', `agent process of ${this.stateDir}, peer ${identity.peerId}`)
    this.tell({ kind: 'hello', peerId: identity.peerId })
  }

  async onMessage (message: ToHost): Promise<void> {
    const { log, stateDir } = this
    const tell = (m: AgentToParent): void => { this.tell(m) }
    switch (message.kind) {
      case 'model': {
        // with observability: the real agent's logger (agent/main.ts) and metrics (agent/metrics.ts)
        let agentLog: Logger = log
        let metrics: AgentMetrics | undefined
        let mesh: MeshServiceHandle | undefined
        const machine = message.model.scopedInstancePath
        if (message.observability === true) {
          const fd = openSync(join(stateDir, 'agent.log'), 'a')
          const processLog = createAgentProcessLogger({ application: message.model.application, scopedInstancePath: machine },
            { readable: false, fd })
          agentLog = ringLogger(new LogRing(), lineLogger((level, line, fields) => {
            processLog[level](line, fields)
            if (level === 'warn' || level === 'error') log[level](line)
          }), machine)
          const { createAgentMetrics } = await import('../../agent/metrics.js')
          metrics = createAgentMetrics({ application: message.model.application, machine, meshView: () => mesh?.view() })
        }
        const counted = (listener: ImportListener): ImportListener => metrics === undefined
          ? listener
          : {
              importAdded: (prefix, exported) => { listener.importAdded(prefix, exported); metrics?.importChange('added') },
              importRemoved: (prefix, exporter) => { listener.importRemoved(prefix, exporter); metrics?.importChange('removed') }
            }
        let meshFactory: MeshFactory
        if (message.transport === 'amqp') {
          if (message.amqp === undefined) throw new Error('the amqp transport needs { url, domain }')
          const factory = amqpHubMeshFactory({ url: message.amqp.url, domain: message.amqp.domain, noDelay: message.amqp.noDelay, log: line => { agentLog.warn(line) } })
          meshFactory = async (model, parameters, listener) => (this.hub = await factory(model, parameters, counted(listener)))
        } else {
          const meshLog = message.observability === true
            ? lineLogger((level, line) => { agentLog[level](`[mesh] ${line}`) })
            : lineLogger((level, line) => { if (level === 'warn' || level === 'error') log.warn(line); else trace(level.toUpperCase(), line) })
          // One process may host many meshes: no view signal handler each.
        const options = { stateDir, listen: message.listen, allow: message.allow, log: meshLog, ...(stateDirs.length === 1 ? {} : { viewSignal: null }) }
          meshFactory = async (model, parameters, listener) => {
            mesh = await startLibp2pMesh(model, parameters, counted(listener), options)
            // the inter-application benchmark (inter-app.ts): the domain exchange too, as a real agent's (agent/main.ts)
            const domain = parameters.domain
            if (domain !== undefined) {
              const { privateKey } = await loadOrCreatePeerIdentity(stateDir)
              mesh = await withDomainExchange(mesh, model, { ...parameters, domain }, counted(listener), { ...options, privateKey })
            }
            return mesh
          }
        }
        const agent = this.agent = createAgent({
          stateDir,
          meshFactory,
          plugins: [this.recordingLoggerPlugin()],
          log: agentLog,
          ...(metrics === undefined ? {} : { observer: metrics.observer }),
          notifier: {
            instanceChanged: (instancePath, status, imports) => {
              const held = Object.fromEntries(Object.entries(imports).map(([prefix, list]) => [prefix, list.map(i => i.instancePath)]))
              tell({ kind: 'status', instancePath, status, imports: held, atNs: now() })
            },
            instanceRemoved: () => {}
          }
        })
        await agent.handle(toAgent({ kind: 'setScopedInstance', model: message.model, mesh: message.parameters, recipes: {} }))
        const metricsPort = await metrics?.listen('127.0.0.1', 0)
        tell({
          kind: 'ready', addresses: agent.meshAddresses(), ...(metricsPort === undefined ? {} : { metricsPort }),
          ...(agent.domainAddresses().length === 0 ? {} : { domainAddresses: agent.domainAddresses() })
        })
        return
      }
      case 'changeState':
        await this.agent?.handle(toAgent({ kind: 'changeState', instancePath: message.instancePath, newState: message.state }))
        return
      case 'traffic': {
        const traffic = this.hub?.traffic()
        tell({ kind: 'traffic', messagesSent: traffic?.messagesSent ?? 0, bytesSent: traffic?.bytesSent ?? 0 })
        return
      }
      case 'stop':
        if (this.stopped) return
        this.stopped = true
        await this.agent?.stop()
        // The process goes once its last agent has stopped.
        if (hosted.every(h => h.stopped)) {
          outbox.flush()
          process.exit(0)
        }
    }
  }
}

const hosted = stateDirs.map((dir, index) => new HostedAgent(index, dir))

process.on('message', (message: ToHost) => {
  const agent = hosted[message.agent]
  if (agent === undefined) {
    process.stderr.write(`ERROR message for agent ${String(message.agent)}: this process hosts ${hosted.length}\n`)
    return
  }
  agent.onMessage(message).catch((err: unknown) => { agent.tell({ kind: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) }) })
})
// The benchmark died: do not linger.
process.on('disconnect', () => { process.exit(0) })

// At once: each creates its key and writes it with an fsync, which one after the other took seconds on a busy host.
// (No top-level await: the bundle's script form, for V8's code cache, is a classic script.)
Promise.all(hosted.map(async agent => { await agent.hello() })).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
