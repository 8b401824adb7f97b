// The scale mode of the benchmark (`npm run bench -- --scale 10,100,300,1000`, issue 20): the chain application at N
// agents, packed SCALE_AGENTS_PER_PROCESS real agents (the real Agent service, each its own libp2p node on loopback)
// into each process, MySQL and the two Tomcats alone in theirs. Per N: every importer updated after one change, bytes
// and TCP segments per change per agent, a kill -9 noticed by every importer, memory and idle CPU per agent; then Serf
// and etcd at the same N, the mesh's agents stopped first so that each has the machine alone.
import { constants } from 'node:fs'
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startChain, timeDeparture, toggleTarget, type Chain } from './chain.js'
import { measureEtcd, measureSerf, type PeerFigures } from './peers.js'
import { lineChartSvg, type Chart } from './plot.js'
import { BudgetSpentError, UNLIMITED_BUDGET, type Budget } from './budget.js'
import { CpuMeter, cpuPercentOver, percentile, residentSetMb, round2, socketTraffic, untilQuiet, type SocketTraffic } from './stats.js'
import {
  CHANGE_TIMEOUT_MS, CRASH_DETECT_TIMEOUT_MS, DEPLOY_TIMEOUT_MS, SCALE_AGENTS_PER_PROCESS, SCALE_DEPLOY_MS_PER_AGENT, SCALE_STATE_ROOT, SCALE_IDLE_WINDOW_MS, SCALE_PEERS_MAX_AGENTS, SCALE_SETTLE_MAX_MS,
  SCALE_MIN_CHANGE_MS, SCALE_MIN_CRASH_MS, SCALE_MIN_POINT_MS, SCALE_SETTLED_CPU_PCT, SCALE_TOGGLES, SETTLE_WINDOW_MS
} from './bench-constants.js'
import { errorMessage } from '../../protocol/errors.js'

/** The figures at one N (ms, bytes, MB, % of one core; null when not measured). */
export interface ScalePoint {
  agents: number
  processes: number
  /** Every importer's `update` after one change: p50 and max over SCALE_TOGGLES changes. */
  all_updated_ms: number | null
  all_updated_max_ms: number | null
  /** Per change (a start or a stop of the Tomcat), per agent, idle traffic subtracted. */
  msgs_per_change_per_agent: number | null
  bytes_per_change_per_agent: number | null
  crash_detect_ms: number | null
  rss_mb_per_agent: number | null
  idle_cpu_pct_per_agent: number | null
  /**
   * The same two figures for the packed Apaches only (their processes' RSS and CPU over the agents they host): what one
   * more agent costs, without the three owners' processes and each process's own Node baseline spread over few agents.
   */
  rss_mb_per_packed_agent: number | null
  idle_cpu_pct_per_packed_agent: number | null
  /** Idle CPU of the three owners' processes (MySQL and the two Tomcats, one agent each), summed, % of one core. */
  idle_cpu_pct_owners: number | null
  /** The Serf model (closed form of Serf's convergence simulator): time to 99.9 % of N, lan defaults. */
  serf_model_ms: number
  serf: PeerFigures | null
  etcd: PeerFigures | null
  /**
   * Where the point's time and CPU went, by phase (in run order): wall time, the agent processes' CPU and the
   * benchmark's own, in ms (user + system: the cost model of docs/scale.md). 'start': agents taking their models;
   * 'pace': waits between batches; 'deploy': the instances' start; then 'settle', 'idle', 'changes', 'crash'; 'unfinished': from the last
   * phase that ended to a failure or the budget's end.
   */
  phases: PhaseCost[]
  /** Why a figure above is null or partial (a phase that failed, timed out or had no time left), in run order. */
  notes: string[]
}

/** One phase of a point: wall time and CPU (agents' processes, the benchmark's), in ms. */
export interface PhaseCost { phase: string, wall_ms: number, agents_cpu_ms: number, bench_cpu_ms: number }

/** The meter's stretches summed by name, in the order each name first came. */
export function phaseCosts (meter: CpuMeter): PhaseCost[] {
  const phases = new Map<string, PhaseCost>()
  for (const s of meter.stretches) {
    const p = phases.get(s.name) ?? { phase: s.name, wall_ms: 0, agents_cpu_ms: 0, bench_cpu_ms: 0 }
    p.wall_ms += s.wallMs
    p.agents_cpu_ms += s.agentsCpuMs
    p.bench_cpu_ms += s.benchCpuMs
    phases.set(s.name, p)
  }
  return [...phases.values()]
}

/**
 * Serf's convergence model, the closed form its simulator draws (serf.io/docs/internals/simulator): after x gossip
 * rounds, N / (1 + (N + 1) e^(-c N x)) nodes are infected, c = fanout / N x (1 - loss) x (1 - failed) x 0.5. Returns
 * the time of the first round at which `fraction` of N is reached, in ms (defaults: Serf's lan profile, 200 ms
 * rounds, fanout 3, no loss, 99.9 %).
 */
export function serfModelMs (nodes: number, options: { intervalMs?: number, fanout?: number, loss?: number, failed?: number, fraction?: number } = {}): number {
  if (!(Number.isInteger(nodes) && nodes >= 1)) throw new RangeError(`the Serf model needs a whole number of nodes >= 1; got ${nodes}`)
  const { intervalMs = 200, fanout = 3, loss = 0, failed = 0, fraction = 0.999 } = options
  const contact = (fanout / nodes) * (1 - loss) * (1 - failed) * 0.5
  // Solve N / (1 + (N + 1) e^(-c N x)) >= fraction N for x, then round up to a whole round.
  const rounds = Math.log((nodes + 1) * fraction / (1 - fraction)) / (contact * nodes)
  return Math.max(0, Math.ceil(rounds - 1e-9)) * intervalMs
}

/**
 * Where the agents' state folders go: tmpfs (/dev/shm) when there is one. Every real machine saves its state on its
 * own disk; 1 000 agents fsyncing into one shared disk measure its queue, not the mesh (with 50 agents per process on
 * a disk shared with other work, one state save took 15-45 s). The 10-agent figures of the full run keep the disk.
 */
async function stateRoot (): Promise<string> {
  try {
    await access(SCALE_STATE_ROOT, constants.W_OK)
    return SCALE_STATE_ROOT
  } catch {
    return tmpdir()
  }
}

function diff (after: SocketTraffic, before: SocketTraffic): { messages: number, bytes: number } {
  return { messages: after.dataSegmentsOut - before.dataSegmentsOut, bytes: after.bytesSent - before.bytesSent }
}

/**
 * The mesh at `agents`, packed. Every wait is also cut to what is left of `budget`; a phase without time left, or
 * one that fails, leaves its figures null with the reason in `notes`, and the chain is stopped in every case.
 */
export async function measureScalePoint (agents: number, log: (line: string) => void, budget: Budget = UNLIMITED_BUDGET): Promise<ScalePoint> {
  const point: ScalePoint = {
    agents,
    processes: 0,
    all_updated_ms: null,
    all_updated_max_ms: null,
    msgs_per_change_per_agent: null,
    bytes_per_change_per_agent: null,
    crash_detect_ms: null,
    rss_mb_per_agent: null,
    idle_cpu_pct_per_agent: null,
    rss_mb_per_packed_agent: null,
    idle_cpu_pct_per_packed_agent: null,
    idle_cpu_pct_owners: null,
    serf_model_ms: serfModelMs(agents),
    serf: null,
    etcd: null,
    phases: [],
    notes: []
  }
  const meter = new CpuMeter()
  const progress = (line: string): void => { log(`scale x${agents}: ${line}`) }
  const note = (line: string): void => { point.notes.push(line); progress(line) }
  let workDir: string | undefined
  let chain: Chain | undefined
  try {
    budget.cap(0, `the mesh at ${agents} agents`, SCALE_MIN_POINT_MS)
    workDir = await mkdtemp(join(await stateRoot(), 'meshconf-bench-scale-'))
    const started = performance.now()
    chain = await startChain({ agents, transport: 'mesh', workDir, progress, paced: true, agentsPerProcess: SCALE_AGENTS_PER_PROCESS,
      deployTimeoutMs: Math.max(DEPLOY_TIMEOUT_MS, agents * SCALE_DEPLOY_MS_PER_AGENT), budget, meter })
    const pids = chain.hosts.map(h => h.pid)
    point.processes = pids.length
    progress(`${agents} agents in ${pids.length} processes up in ${Math.round(performance.now() - started)} ms`)
    const quiet = await untilQuiet(pids, { totalBelowPct: SCALE_SETTLED_CPU_PCT }, SETTLE_WINDOW_MS,
      budget.cap(SCALE_SETTLE_MAX_MS, 'settling', SETTLE_WINDOW_MS))
    await meter.mark('settle')
    progress(`${quiet.quiet ? 'quiet' : 'still busy'} after ${quiet.waitedMs} ms (${quiet.totalCpuPct.toFixed(0)} % of a core in all)`)
    if (!quiet.quiet) note(`idle CPU measured while still busy: ${quiet.totalCpuPct.toFixed(0)} % of a core in all after ${quiet.waitedMs} ms`)

    const idleBefore = await socketTraffic(pids)
    const idleCpu = await cpuPercentOver(pids, budget.cap(SCALE_IDLE_WINDOW_MS, 'idle CPU', SCALE_IDLE_WINDOW_MS))
    const idle = diff(await socketTraffic(pids), idleBefore)
    const rss = await Promise.all(pids.map(residentSetMb))
    await meter.mark('idle')
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)
    point.idle_cpu_pct_per_agent = round2(sum(idleCpu) / agents)
    point.rss_mb_per_agent = round2(sum(rss) / agents)
    const packed = chain.hosts.flatMap((h, i) => h.agents.length > 1 ? [i] : [])
    const packedAgents = sum(packed.map(i => chain?.hosts[i].agents.length ?? 0))
    if (packedAgents > 0) {
      point.idle_cpu_pct_per_packed_agent = round2(sum(packed.map(i => idleCpu[i])) / packedAgents)
      point.rss_mb_per_packed_agent = round2(sum(packed.map(i => rss[i])) / packedAgents)
    }
    point.idle_cpu_pct_owners = round2(sum(idleCpu.filter((_, i) => !packed.includes(i))))
    progress(`idle: ${point.idle_cpu_pct_per_agent} % and ${point.rss_mb_per_agent} MB per agent; packed ${point.idle_cpu_pct_per_packed_agent ?? 'n/a'} % and ${point.rss_mb_per_packed_agent ?? 'n/a'} MB per agent; the owners' processes ${point.idle_cpu_pct_owners} % in all`)

    const before = await socketTraffic(pids)
    const t0 = performance.now()
    const allUpdated: number[] = []
    let toggled = 0
    for (let i = 0; i < SCALE_TOGGLES; i++) {
      // A toggle waits at most three times (the stop, the Tomcat's start, the updates): keep room for the kill -9 after the changes.
      const timeoutMs = budget.cap(CHANGE_TIMEOUT_MS, `change ${i + 1}`, SCALE_MIN_CHANGE_MS + SCALE_MIN_CRASH_MS)
      const sample = await toggleTarget(chain, Math.min(timeoutMs, (budget.leftMs() - SCALE_MIN_CRASH_MS) / 3))
      toggled++
      const slowest = sample.latenciesMs.length === 0 ? undefined : Math.max(...sample.latenciesMs)
      progress(`change ${i + 1}/${SCALE_TOGGLES}: ${sample.latenciesMs.length} importers updated, slowest ${slowest?.toFixed(1) ?? 'n/a'} ms, ${sample.missed} missed`)
      if (sample.missed === 0 && slowest !== undefined) allUpdated.push(slowest)
      else note(`change ${i + 1}: ${sample.latenciesMs.length} of ${chain.importers.length} importers updated within ${Math.round(timeoutMs)} ms (slowest of those ${slowest?.toFixed(0) ?? 'n/a'} ms)`)
    }
    const elapsed = performance.now() - t0
    await meter.mark('changes')
    const busy = diff(await socketTraffic(pids), before)
    const changes = 2 * toggled // a stop (withdraw) and a start (announce) per toggle
    const idleShare = elapsed / SCALE_IDLE_WINDOW_MS
    point.msgs_per_change_per_agent = round2(Math.max(0, busy.messages - idle.messages * idleShare) / changes / agents)
    point.bytes_per_change_per_agent = round2(Math.max(0, busy.bytes - idle.bytes * idleShare) / changes / agents)
    if (allUpdated.length > 0) {
      point.all_updated_ms = round2(percentile(allUpdated, 50))
      point.all_updated_max_ms = round2(Math.max(...allUpdated))
    }

    const stable = chain.stable
    const crashTimeoutMs = budget.cap(CRASH_DETECT_TIMEOUT_MS, 'the kill -9', SCALE_MIN_CRASH_MS)
    const crash = await timeDeparture(chain, chain.stablePath, async () => { await stable.kill('SIGKILL') }, crashTimeoutMs)
    await meter.mark('crash')
    point.crash_detect_ms = crash.missed > 0 || crash.latenciesMs.length === 0 ? null : round2(Math.max(...crash.latenciesMs))
    progress(`kill -9 noticed by ${crash.latenciesMs.length}/${chain.importers.length} importers, the last after ${point.crash_detect_ms ?? 'n/a'} ms`)
    if (point.crash_detect_ms === null) note(`kill -9 noticed by ${crash.latenciesMs.length} of ${chain.importers.length} importers within ${Math.round(crashTimeoutMs)} ms`)
  } catch (err) {
    note(err instanceof BudgetSpentError ? err.message : `failed: ${errorMessage(err).split('\n')[0].slice(0, 400)}`)
  } finally {
    // What ran since the last mark (a phase that failed or ran out of time; nothing after the kill -9).
    if ((await meter.mark('unfinished')).wallMs < 1000) meter.stretches.pop()
    await chain?.stop()
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true })
    point.phases = phaseCosts(meter)
    progress(`cost: ${point.phases.map(p => `${p.phase} ${(p.wall_ms / 1000).toFixed(1)} s, ${((p.agents_cpu_ms + p.bench_cpu_ms) / 1000).toFixed(1)} CPU-s`).join('; ')}`)
  }
  return point
}

/**
 * Serf and etcd at the point's N (up to SCALE_PEERS_MAX_AGENTS), within what is left of `budget`: run after the mesh at
 * every N, so that the mesh's figures come first and each baseline has the machine alone.
 */
export async function measureScalePeers (point: ScalePoint, log: (line: string) => void, budget: Budget = UNLIMITED_BUDGET): Promise<void> {
  const n = point.agents
  if (n > SCALE_PEERS_MAX_AGENTS) return
  point.serf = await measureSerf(n, log, budget).catch((err: unknown) => ({ agents: n, all_ms: null, failure_all_ms: null, note: errorMessage(err) }))
  point.etcd = await measureEtcd(n, log, budget).catch((err: unknown) => ({ agents: n, all_ms: null, note: errorMessage(err) }))
}

const show = (v: number | null | undefined, unit = ''): string => v === null || v === undefined ? 'n/a' : `${v}${unit}`

/** The scale figures as a table, one column per N, goals on the right. */
export function formatScaleTable (points: readonly ScalePoint[]): string {
  const rows: Array<[string, (p: ScalePoint) => string, string]> = [
    ['processes', p => String(p.processes), ''],
    ['every importer updated, p50', p => show(p.all_updated_ms, ' ms'), '<= 1000 ms at 1000'],
    ['every importer updated, max', p => show(p.all_updated_max_ms, ' ms'), ''],
    ['Serf model, 99.9 % (lan)', p => show(p.serf_model_ms, ' ms'), ''],
    ['Serf event at every handler', p => show(p.serf?.all_ms, ' ms'), ''],
    ['etcd put at every watcher', p => show(p.etcd?.all_ms, ' ms'), ''],
    ['TCP segments / change / agent', p => show(p.msgs_per_change_per_agent), 'flat or log N'],
    ['bytes / change / agent', p => show(p.bytes_per_change_per_agent, ' B'), 'flat or log N'],
    ['kill -9 noticed by every importer', p => show(p.crash_detect_ms, ' ms'), '<= 500 ms at 1000'],
    ['Serf member-failed at every agent', p => show(p.serf?.failure_all_ms, ' ms'), ''],
    ['RSS per agent', p => show(p.rss_mb_per_agent, ' MB'), ''],
    ['idle CPU per agent', p => show(p.idle_cpu_pct_per_agent, ' %'), ''],
    ['RSS per packed agent', p => show(p.rss_mb_per_packed_agent, ' MB'), ''],
    ['idle CPU per packed agent', p => show(p.idle_cpu_pct_per_packed_agent, ' %'), ''],
    ['idle CPU, owners\' 3 processes', p => show(p.idle_cpu_pct_owners, ' %'), '']
  ]
  const header = ['figure', ...points.map(p => `N = ${p.agents}`), 'goal']
  const cells = [header, ...rows.map(([name, value, goal]) => [name, ...points.map(value), goal])]
  const widths = header.map((_, c) => Math.max(...cells.map(r => r[c].length)))
  const table = cells.map(r => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n')
  // Why a figure is n/a (or partial): the points' notes and the peers', one line each.
  const why = points.flatMap(p => [...p.notes, ...[p.serf?.note, p.etcd?.note].flatMap((n, i) => n === undefined ? [] : [`${i === 0 ? 'Serf' : 'etcd'}: ${n}`])]
    .map(line => `N = ${p.agents}: ${line}`))
  return why.length === 0 ? table : `${table}\n\n${why.join('\n')}`
}

/** N at which the Serf model's curve is drawn, besides the measured ones. */
const MODEL_SIZES = [10, 30, 100, 300, 1000, 3000, 10_000]

/** The scale mode's charts, by file name: each figure against N, the Serf model's convergence beside the convergence. */
export function scaleCharts (points: readonly ScalePoint[]): Record<string, Chart> {
  const at = (value: (p: ScalePoint) => number | null | undefined): Array<[number, number | null]> => points.map(p => [p.agents, value(p) ?? null])
  const modelSizes = [...new Set([...MODEL_SIZES.filter(n => n <= Math.max(...points.map(p => p.agents), 10)), ...points.map(p => p.agents)])].sort((a, b) => a - b)
  const xLabel = 'agents (N, log scale)'
  return {
    'scale-convergence.svg': {
      title: 'One change until every importer ran its update',
      xLabel,
      yLabel: 'ms (log scale)',
      logY: true,
      series: [
        { name: 'meshconf, p50 of the changes', points: at(p => p.all_updated_ms) },
        { name: 'meshconf, slowest change', points: at(p => p.all_updated_max_ms) },
        { name: 'Serf, event at every handler (measured, local profile)', points: at(p => p.serf?.all_ms) },
        { name: 'etcd, put at every watcher (measured)', points: at(p => p.etcd?.all_ms) },
        { name: 'Serf model, 99.9 % of N (lan: 200 ms, fanout 3)', points: modelSizes.map(n => [n, serfModelMs(n)]), dashed: true }
      ]
    },
    'scale-crash.svg': {
      title: 'A kill -9 noticed by every importer',
      xLabel,
      yLabel: 'ms (log scale)',
      logY: true,
      series: [
        { name: 'meshconf, owner withdrawn at every importer', points: at(p => p.crash_detect_ms) },
        { name: 'Serf, member-failed at every agent (local profile)', points: at(p => p.serf?.failure_all_ms) }
      ]
    },
    'scale-messages.svg': {
      title: 'TCP data segments sent per change, per agent',
      xLabel,
      yLabel: 'segments per change per agent',
      series: [{ name: 'meshconf (idle traffic subtracted)', points: at(p => p.msgs_per_change_per_agent) }]
    },
    'scale-bytes.svg': {
      title: 'Bytes sent per change, per agent',
      xLabel,
      yLabel: 'bytes per change per agent',
      series: [{ name: 'meshconf (idle traffic subtracted)', points: at(p => p.bytes_per_change_per_agent) }]
    },
    'scale-memory.svg': {
      title: 'Resident memory per agent (50 agents per process)',
      xLabel,
      yLabel: 'MB per agent',
      series: [
        { name: 'meshconf, RSS of every process / N', points: at(p => p.rss_mb_per_agent) },
        { name: 'meshconf, packed Apaches: their processes\' RSS / their agents', points: at(p => p.rss_mb_per_packed_agent) }
      ]
    },
    'scale-idle-cpu.svg': {
      title: 'Idle CPU per agent',
      xLabel,
      yLabel: '% of one core per agent',
      series: [
        { name: 'meshconf, CPU of every process / N', points: at(p => p.idle_cpu_pct_per_agent) },
        { name: 'meshconf, packed Apaches: their processes\' CPU / their agents', points: at(p => p.idle_cpu_pct_per_packed_agent) }
      ]
    }
  }
}

/** Writes the charts into `dir` (created if missing); returns the files written. */
export async function writeScalePlots (points: readonly ScalePoint[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const written: string[] = []
  for (const [name, chart] of Object.entries(scaleCharts(points))) {
    const file = join(dir, name)
    await writeFile(file, lineChartSvg(chart))
    written.push(file)
  }
  return written
}
