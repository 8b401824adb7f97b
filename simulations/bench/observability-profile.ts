// What observability costs on one agent's update path, as CPU time or instructions rather than wall-clock latency
// (which a shared host's load moves far more than 10 %): real agents (engine, mesh service, logger plug-in) of the
// chain MySQL <- 2 Tomcats <- Apaches in this one process, over the in-memory mesh hub, so that only the agents' own work
// is counted. One Tomcat is toggled (the other stays up); every Apache runs `update` each time. With --on, each agent logs and keeps its
// metrics as a real one does (agent/main.ts): pino JSON lines at info to its agent.log (one write per event-loop turn), every
// line in its log ring, prom-client histograms and counters; without, it logs nothing.
// Usage: node dist/simulations/bench/observability-profile.js [--on | --logs | --metrics] [--toggles N] [--apaches N] [--scrapes N]
// (--logs: the log lines only, --metrics: the metrics only, --on: both; to tell which of the two costs what)
// Prints the CPU time (user + system) of the toggles, per toggle. For instruction counts, which the load does not
// move: run it under `valgrind --tool=callgrind` with two toggle counts, and divide the difference of the totals.
import '../../agent/polyfill.js'
import { mkdtempSync, openSync, rmSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createAgent, type Agent } from '../../agent/agent.js'
import { createAgentProcessLogger } from '../../agent/main.js'
import { LogRing, ringLogger } from '../../agent/log-ring.js'
import { createMemoryMeshHub } from '../../agent/mesh/memory.js'
import type { AgentMetrics } from '../../agent/metrics.js'
import type { MeshServiceHandle } from '../../agent/mesh/service.js'
import type { MeshFactory } from '../../agent/ports.js'
import { lineLogger, silentLogger, type Logger } from '../../common/log.js'
import { changeState, createMeshApp, type MeshAppChild } from '../../fixtures/mesh-app.js'

/** Toggles before the measured ones (code paths warm, JIT done), for both sides alike. */
const WARMUP_TOGGLES = 20
/** Longest wait for every Apache's update after a toggle, in ms (under valgrind, on a loaded host, seconds). */
const UPDATE_TIMEOUT_MS = 120_000

interface Profiled { agent: Agent, metrics?: AgentMetrics, close: () => Promise<void> }

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { on: { type: 'boolean' }, logs: { type: 'boolean' }, metrics: { type: 'boolean' }, toggles: { type: 'string' }, apaches: { type: 'string' }, scrapes: { type: 'string' } } })
  const logs = values.on === true || values.logs === true
  const measured = values.on === true || values.metrics === true
  const toggles = Number(values.toggles ?? 200)
  const apaches = Number(values.apaches ?? 3)
  const scrapes = Number(values.scrapes ?? 0)
  if (!Number.isInteger(toggles) || toggles < 0 || !Number.isInteger(apaches) || apaches < 1) throw new Error('--toggles N (>= 0), --apaches N (>= 1)')
  const dir = mkdtempSync(join(tmpdir(), 'meshconf-obs-profile-'))
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  /** Tomcats each Apache holds, by its path, as it last reported. */
  const held = new Map<string, number>()
  let wake: (() => void) | undefined
  const agents: Profiled[] = []
  const start = async (vm: string, child: MeshAppChild): Promise<Profiled> => {
    const stateDir = join(dir, vm.replaceAll(' ', '-'))
    const machine = `/${vm}`
    let log: Logger = silentLogger
    let metrics: AgentMetrics | undefined
    let fd: number | undefined
    let processLog: ReturnType<typeof createAgentProcessLogger> | undefined
    let mesh: MeshServiceHandle | undefined
    if (logs) {
      fd = openSync(join(dir, `${vm.replaceAll(' ', '-')}.log`), 'a')
      processLog = createAgentProcessLogger({ application: app.application, scopedInstancePath: machine }, { readable: false, fd })
      const pino = processLog
      log = ringLogger(new LogRing(), lineLogger((level, line, fields) => { pino[level](line, fields) }), machine)
    }
    if (measured) {
      const { createAgentMetrics } = await import('../../agent/metrics.js')
      metrics = createAgentMetrics({ application: app.application, machine, meshView: () => mesh?.view() })
    }
    const memory = hub.factory({ log })
    const meshFactory: MeshFactory = async (model, parameters, listener) => await memory(model, parameters, metrics === undefined
      ? listener
      : {
          importAdded: (prefix, exported) => { listener.importAdded(prefix, exported); metrics?.importChange('added') },
          importRemoved: (prefix, exporter) => { listener.importRemoved(prefix, exporter); metrics?.importChange('removed') }
        }).then(handle => { mesh = hub.meshes.get(parameters.ownership.peerId); return handle })
    const agent = createAgent({
      stateDir,
      meshFactory,
      log,
      ...(metrics === undefined ? {} : { observer: metrics.observer }),
      notifier: {
        instanceChanged: (path, status, imports) => {
          if (child === 'Apache' && path.endsWith('/Apache')) { held.set(path, status === 'DEPLOYED_STARTED' ? (imports.Tomcat ?? []).length : 0); wake?.() }
        },
        instanceRemoved: () => {}
      }
    })
    await agent.handle(app.setScopedInstance(vm, child, `obs-profile-${vm}`))
    await agent.handle(changeState(vm, child, 'DEPLOYED_STARTED'))
    return {
      agent,
      metrics,
      close: async () => {
        await agent.stop()
        await processLog?.close()
        if (fd !== undefined) closeSync(fd)
      }
    }
  }
  /** Until every Apache holds `tomcats` Tomcats. */
  const until = async (tomcats: number): Promise<void> => {
    const deadline = Date.now() + UPDATE_TIMEOUT_MS
    const done = (): boolean => held.size === apaches && [...held.values()].every(n => n === tomcats)
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`the Apaches do not all hold ${tomcats} Tomcat(s) after ${UPDATE_TIMEOUT_MS} ms: ${JSON.stringify([...held])}`)
      await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 100) })
    }
  }
  try {
    agents.push(await start('MySQL VM', 'MySQL'))
    const tomcat = await start('Tomcat VM 1', 'Tomcat')
    agents.push(tomcat, await start('Tomcat VM 2', 'Tomcat'))
    for (let i = 1; i <= apaches; i++) agents.push(await start(`Apache VM ${i}`, 'Apache'))
    await until(2)
    const toggle = async (): Promise<void> => {
      await tomcat.agent.handle(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STOPPED'))
      await until(1)
      await tomcat.agent.handle(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
      await until(2)
    }
    for (let i = 0; i < WARMUP_TOGGLES; i++) await toggle()
    const before = process.cpuUsage()
    for (let i = 0; i < toggles; i++) await toggle()
    const used = process.cpuUsage(before)
    const perToggleMs = toggles === 0 ? 0 : (used.user + used.system) / 1000 / toggles
    // --scrapes N: each agent's /metrics text made N times (what a Prometheus scrape costs it, the HTTP exchange aside)
    const scraped = agents.filter(a => a.metrics !== undefined)
    const beforeScrapes = process.cpuUsage()
    for (let i = 0; i < scrapes; i++) for (const a of scraped) await a.metrics?.text()
    const scrapeCpu = process.cpuUsage(beforeScrapes)
    const perScrapeUs = scrapes === 0 || scraped.length === 0 ? undefined : (scrapeCpu.user + scrapeCpu.system) / scrapes / scraped.length
    process.stdout.write(`${JSON.stringify({
      observability: logs && measured ? true : logs ? 'logs' : measured ? 'metrics' : false, toggles, apaches, cpu_ms_per_toggle: Math.round(perToggleMs * 1000) / 1000,
      ...(perScrapeUs === undefined ? {} : { scrapes, cpu_us_per_scrape: Math.round(perScrapeUs) })
    })}\n`)
  } finally {
    for (const a of agents.reverse()) await a.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`observability-profile: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
