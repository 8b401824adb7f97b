// One agent process of the benchmarks: the real Agent service (engine, local state, plug-ins) over the libp2p mesh
// or the amqp hub, driven by the benchmark over IPC instead of a DM. Its `logger` plug-in reports the moment the
// engine invokes `update` (and every state change), so that latencies are measured where the engine acts.
// Usage: node dist/simulations/bench/agent-process.js <stateDir>   (forked, with an IPC channel)
// With `observability` in its model message, it logs and serves metrics as a real agent does (the bench's
// --observability compares both).
// MESHCONF_BENCH_LOG_DIR=<dir>: each agent also writes every log line, debug included, to <dir>/<its pid>.log (to
// find out why a run failed; the benchmark deletes the agents' state folders).
import '../../agent/polyfill.js'
import { appendFileSync, openSync, writeSync } from 'node:fs'
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
import type { AgentToParent, ParentToAgent } from './agent-protocol.js'

const stateDir = process.argv[2]
if (stateDir === undefined || process.send === undefined) {
  console.error('usage: node agent-process.js <stateDir>, forked with an IPC channel (the benchmark starts it)')
  process.exit(2)
}

const now = (): string => process.hrtime.bigint().toString()
/**
 * Messages to the benchmark leave after the step that made them (their times are taken when they are made), as a
 * real agent's reports to the DM do (agent/main.ts): the IPC write must not delay the update or the announce that
 * follows in the same step.
 */
const outbox = createStepOutbox<AgentToParent>(message => { process.send?.(message) })
const tell = (message: AgentToParent): void => { outbox.later(message) }

const logDir = process.env.MESHCONF_BENCH_LOG_DIR
/** Every line to the log file when asked (synchronously: a killed agent keeps its last lines). */
const trace = logDir === undefined || logDir === ''
  ? () => {}
  : (level: string, message: string): void => {
      appendFileSync(join(logDir, `${process.pid}.log`), `${new Date().toISOString()} ${level} ${message}\n`)
    }
/** Only warnings and errors on stderr: logging every step to a pipe would be measured too. */
const log: Logger = {
  debug: () => {}, info: message => { trace('INFO', message) },
  warn: message => { trace('WARN', message); process.stderr.write(`WARN ${message}\n`) },
  error: message => { trace('ERROR', message); process.stderr.write(`ERROR ${message}\n`) }
}

/** The logger plug-in, reporting when the engine invokes its `update`. */
function recordingLoggerPlugin (): Plugin {
  const logger = createLoggerPlugin()
  return {
    ...logger,
    async update (context, change) {
      tell({ kind: 'update', instancePath: context.instance.path, exporterPath: change.importChanged.instancePath,
        added: change.statusChanged === 'DEPLOYED_STARTED', atNs: now() })
      await logger.update(context, change)
    }
  }
}

let agent: Agent | undefined
let hub: AmqpHubHandle | undefined

async function onMessage (message: ParentToAgent): Promise<void> {
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
          { readable: false, write: line => { writeSync(fd, line) } })
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
            importAdded: (prefix, exported) => { metrics?.importChange('added'); listener.importAdded(prefix, exported) },
            importRemoved: (prefix, exporter) => { metrics?.importChange('removed'); listener.importRemoved(prefix, exporter) }
          }
      let meshFactory: MeshFactory
      if (message.transport === 'amqp') {
        if (message.amqp === undefined) throw new Error('the amqp transport needs { url, domain }')
        const factory = amqpHubMeshFactory({ url: message.amqp.url, domain: message.amqp.domain, noDelay: message.amqp.noDelay, log: line => { agentLog.warn(line) } })
        meshFactory = async (model, parameters, listener) => (hub = await factory(model, parameters, counted(listener)))
      } else {
        const meshLog = message.observability === true
          ? lineLogger((level, line) => { agentLog[level](`[mesh] ${line}`) })
          : lineLogger((level, line) => { if (level === 'warn' || level === 'error') log.warn(line); else trace(level.toUpperCase(), line) })
        const options = { stateDir, listen: message.listen, allow: message.allow, log: meshLog }
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
      agent = createAgent({
        stateDir,
        meshFactory,
        plugins: [recordingLoggerPlugin()],
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
      await agent?.handle(toAgent({ kind: 'changeState', instancePath: message.instancePath, newState: message.state }))
      return
    case 'traffic': {
      const traffic = hub?.traffic()
      tell({ kind: 'traffic', messagesSent: traffic?.messagesSent ?? 0, bytesSent: traffic?.bytesSent ?? 0 })
      return
    }
    case 'stop':
      await agent?.stop()
      outbox.flush()
      process.exit(0)
  }
}

process.on('message', (message: ParentToAgent) => {
  onMessage(message).catch((err: unknown) => { tell({ kind: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) }) })
})
// The benchmark died: do not linger.
process.on('disconnect', () => { process.exit(0) })

const identity = await loadOrCreatePeerIdentity(stateDir)
trace('INFO', `agent process of ${stateDir}, peer ${identity.peerId}`)
tell({ kind: 'hello', peerId: identity.peerId })
