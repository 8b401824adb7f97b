// The agent process, what a VM image runs at boot: `meshconf agent --params FILE` (or `node dist/agent/main.js
// --params FILE`). It wires the link to the DM (agent/link), the life-cycle engine (agent/agent.ts) and the libp2p
// mesh (agent/mesh); it sends a heartbeat at once (asking for the model while it has none, with its peer id and
// mesh addresses) and then periodically, and says machineDown when stopped (SIGTERM, SIGINT). It keeps its pid in
// `<stateDir>/agent.pid` and writes its mesh view to `<stateDir>/view.json` on SIGUSR2 (`meshconf agent view`).
import './polyfill.js'
import { realpathSync } from 'node:fs'
import { isIP } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { toDm, type AgentToDmMessage } from '../protocol/messages.js'
import { MESHCONF_VERSION } from '../protocol/version.js'
import { createAgent, type Agent } from './agent.js'
import { LogRing, ringLogger } from './log-ring.js'
import { createAgentLink } from './link/index.js'
import type { AgentLink } from './link/types.js'
import { loadOrCreatePeerIdentity } from './mesh/identity.js'
import { startLibp2pMesh } from './mesh/libp2p.js'
import { withDomainExchange } from './mesh/domain.js'
import type { MeshServiceHandle, MeshView } from './mesh/service.js'
import { createStepOutbox } from './outbox.js'
import { meshListenAddress, readAgentParams, type AgentParams } from '../protocol/agent-params.js'
import { createProcessLogger, lineLogger, type Logger, type ProcessLogger, type ProcessLoggerOptions } from '../common/log.js'
import type { AgentMetrics } from './metrics.js'
import type { DmNotifier, ImportListener, LifecycleObserver, MeshFactory } from './ports.js'
import { removePidFile, VIEW_SIGNAL, writePidFile, writeViewFile } from './view.js'
import { errorMessage } from '../protocol/errors.js'
import { describeTightened, ensurePrivateFolder } from '../common/private-files.js'
import { createProbes } from './probes.js'

/**
 * The agent process's log (common/log.ts): pino JSON lines on stderr (readable on a terminal) and, when the params
 * name one, appended to their logFile; every line carries the application, and the instance path where known.
 */
export function createAgentProcessLogger (params: Pick<AgentParams, 'application' | 'scopedInstancePath' | 'logFile' | 'logLevel'>, options: Pick<ProcessLoggerOptions, 'readable' | 'write' | 'fd'> = {}): ProcessLogger {
  const logger = createProcessLogger({
    component: 'agent', bindings: { application: params.application }, level: params.logLevel ?? 'info', file: params.logFile, ...options
  })
  // a line about no instance in particular is about the agent's machine
  return { ...logger, ...lineLogger((level, message, fields) => { logger[level](message, { path: params.scopedInstancePath, ...fields }) }) }
}

export interface AgentProcessComponents {
  logger: Logger
  /** Default: the libp2p mesh, listening on the params' mesh host and port, with the persisted peer key. */
  meshFactory?: MeshFactory
}

export interface AgentProcess {
  readonly agent: Agent
  readonly link: AgentLink
  /**
   * Restores the local state, connects to the DM (resolves once connected the first time, or once `stop` is
   * called) and starts the heartbeats. Rejects with AgentLinkRefusedError when the DM refuses the token.
   */
  start (): Promise<void>
  /** Whenever called: stops the heartbeats, waits for running actions, says machineDown, disconnects. */
  stop (): Promise<void>
  /** The libp2p peer id (known after `start` began). */
  peerId (): string | undefined
  /** The libp2p mesh's view; undefined until the model (and the mesh) arrived, or with another meshFactory. */
  meshView (): MeshView | undefined
}

export function createAgentProcess (params: AgentParams, components: AgentProcessComponents): AgentProcess {
  const { application, scopedInstancePath, ipAddress } = params
  // every line is also kept in memory, for the DM to gather (`meshconf logs`)
  const ring = new LogRing()
  const logger = ringLogger(ring, components.logger, scopedInstancePath)
  const link = createAgentLink({ endpoint: params.messaging, application, scopedInstancePath, logger })
  const deliver = (msg: AgentToDmMessage): void => {
    link.send(msg).catch(err => { logger.error(`could not send ${msg.kind} to the DM: ${errorMessage(err)}`) })
  }
  // State reports leave after the engine step that made them: encoding one and writing it to the DM's socket must
  // not delay the update, start or announce that follows in the same step (docs/tuning.md). Any other message goes
  // after the reports made before it.
  // A report equal to the one queued just before it (the same instance, state, imports and report) says nothing new:
  // the DM would handle it for nothing (a message, a transaction, an acknowledgement).
  const reports = createStepOutbox(deliver, (previous, message) => JSON.stringify(previous) === JSON.stringify(message))
  const send = (msg: AgentToDmMessage): void => { reports.flush(); deliver(msg) }
  const notifier: DmNotifier = {
    instanceChanged: (instancePath, status, imports, problem, report) => {
      reports.later(toDm({ kind: 'instanceChanged', application, instancePath, status, imports, ...(problem === undefined ? {} : { problem }), ...report }))
    },
    instanceRemoved: instancePath => { reports.later(toDm({ kind: 'instanceRemoved', application, instancePath })) }
  }
  let peerId: string | undefined
  let privateKey: Awaited<ReturnType<typeof loadOrCreatePeerIdentity>>['privateKey'] | undefined
  const meshLog = lineLogger((level, message) => { logger[level](`[mesh] ${message}`) })
  let mesh: MeshServiceHandle | undefined
  // The mesh starts when the model arrives, long after the key was loaded in start().
  // metrics are loaded only when asked for (prom-client costs start-up time): the engine reports to them once there
  let metrics: AgentMetrics | undefined
  let metricsAddress: string | undefined
  const observer: LifecycleObserver = {
    step: (step, result, durationMs) => { metrics?.observer.step(step, result, durationMs) },
    update: latencyMs => { metrics?.observer.update(latencyMs) }
  }
  const meshFactory: MeshFactory = components.meshFactory ?? (async (model, parameters, engine) => {
    const listener: ImportListener = metrics === undefined
      ? engine
      : {
          // counted after the engine took the change (and queued its update)
          importAdded: (prefix, exported) => { engine.importAdded(prefix, exported); metrics?.importChange('added') },
          importRemoved: (prefix, exporter) => { engine.importRemoved(prefix, exporter); metrics?.importChange('removed') }
        }
    const application = await startLibp2pMesh(model, parameters, listener, {
      stateDir: params.stateDir, privateKey, listen: [meshListenAddress(params)], mdns: params.meshMdns, debounceMs: params.meshDebounceMs, log: meshLog
    })
    mesh = application
    // instances exporting or importing externally: the domain exchange too, on a node of its own (any free port)
    const domain = parameters.domain
    if (domain !== undefined && privateKey !== undefined) {
      try {
        mesh = await withDomainExchange(application, model, { ...parameters, domain }, listener, {
          stateDir: params.stateDir, privateKey, listen: [meshListenAddress({ ...params, meshListenPort: 0 })], log: meshLog
        })
      } catch (err) {
        logger.error(`the domain exchange did not start (${errorMessage(err)}): external imports and exports stay off until the agent restarts`)
      }
    }
    return mesh
  })
  const agent = createAgent({ stateDir: params.stateDir, notifier, meshFactory, log: logger, observer },
    { ipAddress, recipeTimeoutMs: params.recipeTimeoutMs })
  const heartbeat = (): void => {
    send(toDm({
      kind: 'heartbeat',
      application,
      scopedInstancePath,
      ipAddress,
      modelRequired: agent.modelRequired(),
      ...(peerId === undefined ? {} : { peerId }),
      listenAddresses: agent.meshAddresses(),
      ...(agent.domainAddresses().length === 0 ? {} : { domainAddresses: agent.domainAddresses() }),
      agentVersion: MESHCONF_VERSION,
      ...(metricsAddress === undefined ? {} : { metricsAddress })
    }))
  }
  link.onMessage(async msg => {
    if (msg.kind === 'getLogs') {
      const { lines, lastSeq } = ring.read({ afterSeq: msg.afterSeq, tail: msg.tail, instance: msg.instance })
      send(toDm({ kind: 'logs', application, scopedInstancePath, requestId: msg.requestId, lines, lastSeq }))
      return
    }
    // A model for another machine would make this agent deploy someone else's software: refuse it.
    if (msg.kind === 'setScopedInstance' &&
      (msg.model.application !== application || msg.model.scopedInstancePath !== scopedInstancePath)) {
      logger.error(`refused a model for ${msg.model.scopedInstancePath} (${msg.model.application}): ` +
        `this agent is ${scopedInstancePath} (${application}); check the DM's routing or this machine's params file`)
      return
    }
    await agent.handle(msg)
    // the mesh has just started: the DM learns its addresses (bootstrap peers for the next agents) at once
    if (msg.kind === 'setScopedInstance') heartbeat()
    // the probe loop started before the model (with the default period): the model's period applies from now
    if (msg.kind === 'setScopedInstance' || msg.kind === 'setProbePeriod') probes.reschedule()
  })
  let timer: NodeJS.Timeout | undefined
  let stopping: Promise<void> | undefined
  const probes = createProbes({ agent, send, connected: () => link.connected(), log: logger })

  return {
    agent,
    link,
    peerId: () => peerId,
    meshView: () => mesh?.view(),
    start: async () => {
      // The state folder holds the peer key, the pnet key and the token: the agent's alone.
      const tightened = describeTightened(params.stateDir, await ensurePrivateFolder(params.stateDir))
      if (tightened !== undefined) logger.warn(tightened)
      const identity = await loadOrCreatePeerIdentity(params.stateDir)
      peerId = identity.peerId
      privateKey = identity.privateKey
      if (params.metricsPort !== undefined) {
        const { createAgentMetrics } = await import('./metrics.js')
        metrics = createAgentMetrics({ application, machine: scopedInstancePath, meshView: () => mesh?.view() })
        const host = params.metricsHost ?? params.meshListenHost
        const port = await metrics.listen(host, params.metricsPort)
        metricsAddress = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
        logger.info(`metrics at http://${metricsAddress}/metrics`)
      }
      await agent.start()
      if (stopping !== undefined) return
      // Queued until the link is connected: the first thing the DM hears from this agent.
      heartbeat()
      await link.start()
      if (stopping !== undefined) return
      logger.info(`agent of ${scopedInstancePath} (${application}) connected to the DM (${params.messaging.kind}), peer ${peerId}`)
      // Heartbeats are skipped while disconnected, so an outage does not pile them up in the outbox.
      timer = setInterval(() => { if (link.connected()) { heartbeat(); probes.flush() } }, params.heartbeatPeriodMs)
      probes.start()
    },
    stop: async () => {
      stopping ??= (async () => {
        clearInterval(timer)
        probes.stop()
        await agent.stop()
        reports.flush()
        const down = link.send(toDm({ kind: 'machineDown', application, scopedInstancePath }))
        // stop() waits a bounded time for the outbox (machineDown included) to be confirmed, then drops it
        await link.stop()
        await down
        await metrics?.stop()
      })()
      await stopping
    }
  }
}

/** Runs the agent of a params file until SIGTERM or SIGINT; returns the process exit code. */
export async function runAgentProcess (paramsFile: string): Promise<number> {
  let params: AgentParams
  try {
    params = readAgentParams(paramsFile)
  } catch (err) {
    process.stderr.write(`meshconf agent: ${errorMessage(err)}\n`)
    return 1
  }
  const logger = createAgentProcessLogger(params)
  // A bug in a plug-in or a library must not take the machine's agent down: log it, keep serving.
  const onRejection = (reason: unknown): void => { logger.error(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`) }
  let onSignal: (signal: NodeJS.Signals) => void = () => {}
  const stopSignal = new Promise<NodeJS.Signals>(resolve => { onSignal = resolve })
  process.on('unhandledRejection', onRejection)
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  const agentProcess = createAgentProcess(params, { logger })
  const writeView = (): void => {
    writeViewFile(params.stateDir, {
      pid: process.pid, writtenAt: Date.now(), application: params.application, scopedInstancePath: params.scopedInstancePath, mesh: agentProcess.meshView() ?? null
    }).catch(err => { logger.warn(`could not write the mesh view in ${params.stateDir}: ${errorMessage(err)}`) })
  }
  process.on(VIEW_SIGNAL, writeView)
  try {
    // The state folder first, private (the DM makes the machine's folder only): the pid file goes in it. What cannot
    // be made private is reported by start() below, which checks it again.
    const tightened = await ensurePrivateFolder(params.stateDir).then(outcome => describeTightened(params.stateDir, outcome), () => undefined)
    if (tightened !== undefined) logger.warn(tightened)
    await writePidFile(params.stateDir, paramsFile).catch(err => { logger.warn(`could not write the pid file in ${params.stateDir} (\`meshconf agent view\` will not find this agent): ${errorMessage(err)}`) })
    const started = agentProcess.start().then(() => undefined)
    const first = await Promise.race([started, stopSignal])
    const signal = first ?? await stopSignal
    logger.info(`${signal} received: stopping the agent`)
    await agentProcess.stop()
    await started
    logger.info('agent stopped')
    return 0
  } catch (err) {
    logger.error(`the agent stopped: ${errorMessage(err)}`)
    await agentProcess.stop().catch(() => {})
    return 1
  } finally {
    process.off('unhandledRejection', onRejection)
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.off(VIEW_SIGNAL, writeView)
    await removePidFile(params.stateDir)
    await logger.close()
  }
}

const USAGE = 'usage: node dist/agent/main.js --params FILE   (or: meshconf agent --params FILE)'

/** Entry point when run directly with node. */
async function main (): Promise<number> {
  let paramsFile: string | undefined
  try {
    paramsFile = parseArgs({ options: { params: { type: 'string' } } }).values.params
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n${USAGE}\n`)
    return 2
  }
  if (paramsFile === undefined) {
    process.stderr.write(`missing --params\n${USAGE}\n`)
    return 2
  }
  return await runAgentProcess(paramsFile)
}

/**
 * True when this file is the script node was started with (not when imported, nor under `node -e`). Bundled into
 * another entry (the benchmarks' agent processes), import.meta.url is that entry's file: its name tells them apart.
 */
function startedAsScript (): boolean {
  const script = process.argv[1]
  if (script === undefined || !/[\\/]main(\.bundle(\.cached)?)?\.[cm]?[jt]s$/.test(script)) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

// No top-level await: the bundle's script form (scripts/bundle-agent.mjs), which V8's code cache needs, is a classic script.
if (startedAsScript()) {
  main().then(code => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
