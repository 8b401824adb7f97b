// `npm run bench`: how fast a change reaches every consumer, how fast a failure is noticed, what an agent costs, and
// how deployment scales (issue 7), how fast the LAMP application scales itself (issue 18, elastic.ts). Agent processes run the real Agent service; the same chain application runs over
// the libp2p mesh and over a Roboconf-style RabbitMQ topic exchange in the same run, side by side.
// Usage: node dist/simulations/bench/bench.js [--json] [--quick | --converge 50,100 | --partition 10 | --observability | --scale 1000 [--plots DIR] [--no-peers]]
// --converge measures only the convergence figures, at the sizes given (every other figure is null).
// --observability measures only what agents' structured logs and metrics cost (observability.ts).
// --scale packs many real agents into each process (scale.ts): `--scale 1000` runs 10, 100, 300 and 1 000 agents (the
// default sizes up to the one given), `--scale 10,50` exactly those; Serf and etcd at the same N; it writes the
// charts (SVG) into docs/scale/ (or --plots DIR); --no-peers leaves Serf and etcd out.
import '../../agent/polyfill.js'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { deleteApplicationExchange } from './amqp-hub.js'
import type { ExportTransport } from './agent-protocol.js'
import { MIN_CHAIN_AGENTS, countFalseWithdrawals, startChain, timeDeparture, toggleTarget, type Chain } from './chain.js'
import { canUseNetns, createNetnsLink, type NetnsLink } from '../../fixtures/netns.js'
import { cpuPercentOver, mean, percentile, residentSetMb, round2, socketTraffic, untilQuiet, type SocketTraffic } from './stats.js'
import {
  BENCH_AGENTS, CONVERGE_SIZES, CONVERGE_TOGGLES, CRASH_DETECT_TIMEOUT_MS, DEFAULT_AMQP_URL, DEPLOY_BENCH_TIMEOUT_MS,
  IDLE_WINDOW_MS, PARTITION_DETECT_TIMEOUT_MS, PARTITION_HEAL_TIMEOUT_MS, QUICK_IDLE_WINDOW_MS, QUICK_TOGGLES, SETTLE_MAX_MS, SETTLE_MS,
  SETTLE_WINDOW_MS, SETTLED_AGENT_CPU_PCT, SETTLED_CPU_PCT, STEADY_IDLE_AFTER_UP_MS, STEADY_IDLE_WINDOW_MS, TOGGLES
} from './bench-constants.js'
import { measureAgentStartCpuMs } from './agent-start.js'
import { errorMessage } from '../../protocol/errors.js'
import { measureEtcd, measureSerf, type PeerFigures } from './peers.js'
import { formatScaleTable, measureScalePeers, measureScalePoint, writeScalePlots, type ScalePoint } from './scale.js'
import { createBudget } from './budget.js'
import { PEER_SIZES, SCALE_RUN_BUDGET_MS, SCALE_SIZES, SERF_PROFILE } from './bench-constants.js'
import { measureObservabilityCost, observabilityRows, type ObservabilityCost } from './observability.js'
import { ELASTIC_NOT_MEASURED, elasticRows, measureElastic, type ElasticBench } from './elastic.js'
import { INTER_APP_NOT_MEASURED, interAppRows, measureInterApp, type InterAppBench } from './inter-app.js'

/** The one JSON document `--json` prints (figures in ms, MB, % of one core; null when not measured). */
export interface BenchReport {
  /** amqp_hub: the hub with Nagle off (tuned); amqp_hub_nagle: the same with Nagle on, for history. */
  reconfigure: { agents: number, mesh: Percentiles, amqp_hub: Percentiles, amqp_hub_nagle: Percentiles, ratio_p50: number | null }
  /** false_withdrawals: live owners' exports withdrawn by mistake during the run (countFalseWithdrawals). */
  converge: Array<{ agents: number, all_updated_ms: number | null, false_withdrawals?: number | null }>
  /**
   * partition_detect_ms: the slowest importer of the first cut; partition_samples_ms (--partition N): the slowest
   * importer of each cut, and partition_p50_ms / partition_max_ms over every importer of every cut; false_withdrawals:
   * over the mesh chains of the run.
   */
  failure: { crash_detect_ms: number | null, partition_detect_ms: number | null, partition_samples_ms?: Array<number | null>, partition_p50_ms?: number | null,
    partition_max_ms?: number | null, false_withdrawals?: number | null }
  /**
   * idle_cpu_pct_per_agent: the mesh agents' CPU while nothing changes (full runs: from STEADY_IDLE_AFTER_UP_MS after the
   * chain was up; --quick: the window after it settled); idle_cpu_pct_after_start: the window right after it settled,
   * while the start's digests still run (full runs); hub_idle_cpu_pct_per_agent: the RabbitMQ hub's agents, as the first.
   */
  cost: { rss_mb_per_agent: number | null, idle_cpu_pct_per_agent: number | null, idle_cpu_pct_after_start?: number | null, hub_idle_cpu_pct_per_agent?: number | null,
    msgs_per_change: number | null, bytes_per_change: number | null }
  /** docker_*: deploy-and-start-all of 1 and of 10 machines as containers of the docker target (null without dockerd). */
  /**
   * dm_cpu_ms_per_machine, create_requests_spread_ms (first to last machine-creation request) and wall_over_cpu_floor
   * (wall time over the host's CPU floor): the 100-machine run as a cloud would see it (issue 20).
   */
  deploy: { one_machine_ms: number | null, hundred_machines_ms: number | null, ratio: number | null, docker_one_ms: number | null, docker_ten_ms: number | null,
    dm_cpu_ms_per_machine: number | null, create_requests_spread_ms: number | null, wall_over_cpu_floor: number | null } & AgentStartFigure
  /**
   * Real peers (peers.ts). serf: at the reconfigure run's N (10), a user event until every agent's handler ran, and a
   * kill -9 until every other agent's member-failed handler ran; by_agents: at each N measured. etcd: a put until
   * every watcher's handler ran, by N.
   */
  peers: {
    serf: { profile: string, flags: string, agents: number | null, event_all_ms: number | null, failure_all_ms: number | null, by_agents: PeerFigures[] }
    etcd: { all_ms: Record<string, number | null>, by_agents: PeerFigures[] }
  }
  /** The scale mode's figures per N (--scale), else absent. */
  scale?: ScalePoint[]
  /** With --observability only: the chain with agents' logs and metrics off and on, side by side. */
  observability?: ObservabilityCost
  /** simulate lamp-elastic, 5 rounds (elastic.ts); not measured with --quick. */
  elastic: ElasticBench
  /** An exporter change in one application to update at the importers of another (inter-app.ts). */
  inter_app: InterAppBench
}
interface Percentiles { p50_ms: number | null, p99_ms: number | null }
/** agent_start_cpu_ms: CPU one agent process spends to start (agent-start.ts); measured in --quick runs too. */
interface AgentStartFigure { agent_start_cpu_ms: number | null }

/** Bad command-line input. */
export class BenchUsageError extends Error {
  constructor (detail: string) {
    super(`${detail}\nusage: npm run bench -- [--json] [--quick | --converge 50,100 | --partition 10 | --observability | --scale 1000 [--plots DIR] [--no-peers]]`)
    this.name = 'BenchUsageError'
  }
}

const here = dirname(fileURLToPath(import.meta.url))

interface RunOptions {
  quick: boolean
  /** Only the convergence figures, at these chain sizes (agent processes); default: the whole benchmark. */
  convergeOnly?: number[]
  /** The scale mode at these N (every other figure null but the peers'); default: the whole benchmark. */
  scale?: number[]
  /** The scale mode also runs Serf and etcd at each N; default true (`--no-peers`: false). */
  scalePeers?: boolean
  /** Where the scale mode writes its charts; default docs/scale/ of the checkout. */
  plotsDir?: string
  /** Only the cost of the agents' logs and metrics (observability.ts). */
  observability?: boolean
  /** Only the partition figures: this many cuts (healed in between) of one netns chain. */
  partitionCuts?: number
  log: (line: string) => void
}

/** What one transport's 10-agent run measured. */
interface TransportRun {
  latenciesMs: number[]
  missed: number
  /** Per toggle: ms until every importer had the update. */
  allUpdatedMs: number[]
  rssMb?: number[]
  /** Idle CPU per agent in the window right after the chain settled (its start's digests still run). */
  idleCpuPct?: number[]
  /** Idle CPU per agent from STEADY_IDLE_AFTER_UP_MS after the chain was up (full runs only). */
  steadyIdleCpuPct?: number[]
  perChange?: { messages: number, bytes: number }
  crash?: { latenciesMs: number[], missed: number }
  partition?: { latenciesMs: number[], missed: number }
  /** Each cut's importers' latencies (one entry per cut). */
  partitions?: Array<{ latenciesMs: number[], missed: number }>
  /** Withdrawals of live owners (countFalseWithdrawals); mesh only. */
  falseWithdrawals?: number
}

/** Wire traffic of a chain: the mesh counts what agents send (each hop once); the hub adds what the broker sends them. */
function wireTotals (transport: ExportTransport, t: SocketTraffic): { messages: number, bytes: number } {
  return transport === 'mesh'
    ? { messages: t.dataSegmentsOut, bytes: t.bytesSent }
    : { messages: t.dataSegmentsOut + t.dataSegmentsIn, bytes: t.bytesSent + t.bytesReceived }
}

/** Toggles the target Tomcat; each toggle's slowest importer (or its misses) goes to `log`. */
async function toggleMany (chain: Chain, toggles: number, run: TransportRun, log: (line: string) => void): Promise<void> {
  for (let i = 0; i < toggles; i++) {
    const sample = await toggleTarget(chain)
    run.latenciesMs.push(...sample.latenciesMs)
    run.missed += sample.missed
    if (sample.missed === 0) run.allUpdatedMs.push(Math.max(...sample.latenciesMs))
    const slowest = sample.latenciesMs.length === 0 ? 'none' : `${Math.max(...sample.latenciesMs).toFixed(1)} ms`
    log(`toggle ${i + 1}/${toggles}: slowest update ${slowest}, ${sample.missed} missed`)
  }
}

/** Reconfigure latency, cost and (mesh) failure detection on one chain of `agents` processes. */
async function measureTransport (transport: ExportTransport, agents: number, options: RunOptions,
  what: { cost: boolean, crash: boolean, partition: boolean, toggles: number, nagle?: boolean, cuts?: number }): Promise<TransportRun> {
  const workDir = await mkdtemp(join(tmpdir(), `meshconf-bench7-${transport}-`))
  const amqp = { url: DEFAULT_AMQP_URL, domain: `bench-${process.pid}-${Date.now().toString(36)}`, noDelay: what.nagle !== true }
  let netns: NetnsLink | undefined
  let chain: Chain | undefined
  const run: TransportRun = { latenciesMs: [], missed: 0, allUpdatedMs: [] }
  try {
    if (what.partition) {
      netns = await createNetnsLink(`mcb${process.pid % 100000}`, process.pid % 16384)
    }
    const chainStart = performance.now()
    chain = await startChain({ agents, transport, workDir, amqp, netns, progress: options.log, paced: agents > BENCH_AGENTS })
    const chainUp = performance.now()
    options.log(`${transport} x${agents}: chain up in ${((chainUp - chainStart) / 1000).toFixed(1)} s`)
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    const pids = chain.hosts.map(h => h.pid)
    await settle(pids, `${transport} x${agents}`, options)
    const toggles = what.toggles
    const progress = (line: string): void => options.log(`${transport} x${agents}: ${line}`)

    if (what.cost) {
      // Idle first: the baseline traffic (pings, heartbeats, anti-entropy) is subtracted from the toggles' traffic.
      const idleWindowMs = options.quick ? QUICK_IDLE_WINDOW_MS : IDLE_WINDOW_MS
      const idleBefore = await socketTraffic(pids)
      run.idleCpuPct = await cpuPercentOver(pids, idleWindowMs)
      const idleTraffic = wireTotals(transport, diff(await socketTraffic(pids), idleBefore))
      if (!options.quick) {
        const waitMs = STEADY_IDLE_AFTER_UP_MS - (performance.now() - chainUp)
        if (waitMs > 0) await new Promise(resolve => setTimeout(resolve, waitMs))
        run.steadyIdleCpuPct = await cpuPercentOver(pids, STEADY_IDLE_WINDOW_MS)
        options.log(`${transport} x${agents}: idle CPU ${mean(run.idleCpuPct).toFixed(2)} % per agent after the start, ${mean(run.steadyIdleCpuPct).toFixed(2)} % once its digests are past`)
      }
      run.rssMb = await Promise.all(pids.map(residentSetMb))
      const before = await socketTraffic(pids)
      const start = performance.now()
      await toggleMany(chain, toggles, run, progress)
      const elapsed = performance.now() - start
      const busy = wireTotals(transport, diff(await socketTraffic(pids), before))
      const changes = 2 * toggles // a stop (withdraw) and a start (announce) per toggle
      run.perChange = {
        messages: Math.max(0, busy.messages - (idleTraffic.messages * elapsed) / idleWindowMs) / changes,
        bytes: Math.max(0, busy.bytes - (idleTraffic.bytes * elapsed) / idleWindowMs) / changes
      }
    } else {
      await toggleMany(chain, toggles, run, progress)
    }
    options.log(`${transport} x${agents}: ${run.latenciesMs.length} updates timed, ${run.missed} missed`)

    if (what.crash) {
      const stable = chain.stable
      run.crash = await timeDeparture(chain, chain.stablePath, async () => { await stable.kill('SIGKILL') }, CRASH_DETECT_TIMEOUT_MS)
      options.log(`crash: noticed by ${run.crash.latenciesMs.length}/${chain.importers.length} importers`)
    }
    const cuts = netns === undefined ? 0 : Math.max(1, what.cuts ?? 1)
    run.partitions = []
    for (let cut = 0; netns !== undefined && cut < cuts; cut++) {
      const link = netns
      if (cut > 0) await healAndWait(chain, link, options)
      const sample = await timeDeparture(chain, chain.targetPath, async () => { await link.cut() }, PARTITION_DETECT_TIMEOUT_MS)
      run.partitions.push(sample)
      run.partition ??= sample
      options.log(`partition ${cut + 1}/${cuts}: noticed by ${sample.latenciesMs.length}/${chain.importers.length} importers, the last after ` +
        `${sample.latenciesMs.length === 0 ? 'n/a' : Math.max(...sample.latenciesMs).toFixed(0)} ms (load ${loadavg()[0].toFixed(1)})`)
    }
    if (transport === 'mesh') {
      const expected = new Map([[chain.targetPath, toggles + cuts], [chain.stablePath, what.crash ? 1 : 0]])
      run.falseWithdrawals = countFalseWithdrawals(chain, expected, cuts > 0 ? chain.target : undefined)
      options.log(`${transport} x${agents}: ${run.falseWithdrawals} false withdrawals`)
    }
    return run
  } finally {
    await chain?.stop()
    await netns?.destroy()
    if (transport === 'amqp' && chain !== undefined) {
      await deleteApplicationExchange({ url: amqp.url, domain: amqp.domain }, chain.app.application).catch(() => {})
    }
    await rm(workDir, { recursive: true, force: true })
  }
}

/** Heals the cut link and waits until every importer holds the target again, then for the mesh to go quiet. */
async function healAndWait (chain: Chain, link: NetnsLink, options: RunOptions): Promise<void> {
  const marks = chain.importers.map(a => a.received.length)
  await link.heal()
  await Promise.all(chain.importers.map(async (a, i) => {
    await a.waitFor('status', m => m.instancePath === chain.importerPaths[i] && (m.imports.Tomcat ?? []).includes(chain.targetPath),
      PARTITION_HEAL_TIMEOUT_MS, marks[i])
  }))
  await settle(chain.hosts.map(h => h.pid), 'healed', options)
}

/**
 * Waits until the agents' mean CPU drops below SETTLED_CPU_PCT and the busiest one's below SETTLED_AGENT_CPU_PCT (or
 * SETTLE_MAX_MS passed), and says how long it took.
 */
async function settle (pids: number[], what: string, options: RunOptions): Promise<void> {
  const { quiet, waitedMs, totalCpuPct, busiestCpuPct } = await untilQuiet(pids,
    { totalBelowPct: SETTLED_CPU_PCT * pids.length, eachBelowPct: SETTLED_AGENT_CPU_PCT }, SETTLE_WINDOW_MS, SETTLE_MAX_MS)
  const cpu = `mean CPU ${(totalCpuPct / pids.length).toFixed(2)} % of a core per agent, busiest ${busiestCpuPct.toFixed(1)} %`
  options.log(quiet ? `${what}: quiet after ${waitedMs} ms (${cpu})` : `${what}: still busy after ${waitedMs} ms (${cpu}); measuring anyway`)
}

function diff (after: SocketTraffic, before: SocketTraffic): SocketTraffic {
  return {
    bytesSent: after.bytesSent - before.bytesSent,
    bytesReceived: after.bytesReceived - before.bytesReceived,
    dataSegmentsOut: after.dataSegmentsOut - before.dataSegmentsOut,
    dataSegmentsIn: after.dataSegmentsIn - before.dataSegmentsIn
  }
}

function percentiles (samples: number[]): Percentiles {
  return samples.length === 0
    ? { p50_ms: null, p99_ms: null }
    : { p50_ms: round2(percentile(samples, 50)), p99_ms: round2(percentile(samples, 99)) }
}

function idleFigure (cpuPct: number[] | undefined): number | null {
  return cpuPct === undefined || cpuPct.length === 0 ? null : round2(mean(cpuPct))
}

/** The slowest importer of a failure, or null when one never noticed (or nothing was measured). */
function slowest (sample: { latenciesMs: number[], missed: number } | undefined): number | null {
  return sample === undefined || sample.missed > 0 || sample.latenciesMs.length === 0 ? null : round2(Math.max(...sample.latenciesMs))
}

const DEPLOY_NOT_MEASURED: BenchReport['deploy'] = { one_machine_ms: null, hundred_machines_ms: null, ratio: null, docker_one_ms: null, docker_ten_ms: null,
  dm_cpu_ms_per_machine: null, create_requests_spread_ms: null, wall_over_cpu_floor: null, agent_start_cpu_ms: null }
/** Machines of the docker deployment figure (docker_ten_ms). */
const DOCKER_DEPLOY_MACHINES = 10

/** Runs the DM's deployment benchmark (deploy.ts) as a child with `args`; its JSON document, undefined when it fails. */
async function runDeployScript (args: string[], what: string, options: RunOptions): Promise<Record<string, unknown> | undefined> {
  const script = join(here, 'deploy.js')
  const started = performance.now()
  if (!existsSync(script)) {
    options.log(`${what} not measured: ${script} is missing (the DM's deployment benchmark)`)
    return undefined
  }
  const stdout = await new Promise<string>(resolve => {
    execFile(process.execPath, [script, '--json', ...args], { timeout: DEPLOY_BENCH_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 }, (err, out, errOut) => {
      if (err !== null) options.log(`${what} benchmark failed: ${err.message.split('\n')[0]} ${errOut.trim().split('\n').slice(-2).join(' | ')}`)
      options.log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`)
      resolve(err === null ? out : '')
    })
  })
  try {
    const parsed = JSON.parse(stdout) as Record<string, unknown>
    return (parsed.deploy ?? parsed) as Record<string, unknown>
  } catch {
    if (stdout !== '') options.log(`${what} benchmark printed no JSON document`)
    return undefined
  }
}

const num = (v: unknown): number | null => typeof v === 'number' && Number.isFinite(v) ? v : null

/** The deployment figures (deploy.ts run as a child, local machines then containers); null when one fails. */
async function measureDeploy (options: RunOptions): Promise<Omit<BenchReport['deploy'], keyof AgentStartFigure>> {
  const docker = await runDeployScript(['--target', 'docker', '--machines', String(DOCKER_DEPLOY_MACHINES)], 'deploy (docker)', options)
  const dockerFigures = { docker_one_ms: num(docker?.one_machine_ms), docker_ten_ms: num(docker?.hundred_machines_ms) }
  const found = await runDeployScript([], 'deploy', options)
  if (found === undefined) return { ...DEPLOY_NOT_MEASURED, ...dockerFigures }
  const one = num(found.one_machine_ms)
  const hundred = num(found.hundred_machines_ms)
  const floor = num(found.cpu_floor_ms)
  if (floor !== null) {
    options.log(`deploy: the machines used ${String(found.host_cpu_s)} CPU-s (the DM ${String(found.dm_cpu_s)}; ${String(found.cpu_s_per_machine)} s each; a bare node process ` +
      `${String(found.node_start_cpu_ms)} ms): on ${String(found.cores)} cores no schedule takes less than ${floor} ms (ratio ${String(found.floor_ratio)})`)
  }
  return {
    one_machine_ms: one,
    hundred_machines_ms: hundred,
    ratio: one !== null && hundred !== null && one > 0 ? round2(hundred / one) : num(found.ratio),
    ...dockerFigures,
    dm_cpu_ms_per_machine: num(found.dm_cpu_ms_per_machine),
    create_requests_spread_ms: num(found.create_requests_spread_ms),
    wall_over_cpu_floor: num(found.wall_over_cpu_floor)
  }
}

/** One convergence chain of `agents` processes: the slowest importer of each toggle, null when one missed it. */
async function measureConvergence (agents: number, options: RunOptions): Promise<BenchReport['converge'][number]> {
  const run = await measureTransport('mesh', agents, options, { cost: false, crash: false, partition: false, toggles: CONVERGE_TOGGLES })
    .catch((err: unknown) => { options.log(`converge at ${agents} agents failed: ${errorMessage(err)}`); return undefined })
  return {
    agents,
    all_updated_ms: run === undefined || run.missed > 0 || run.allUpdatedMs.length === 0 ? null : round2(Math.max(...run.allUpdatedMs)),
    false_withdrawals: run?.falseWithdrawals ?? null
  }
}

/** How Serf runs (peers.ts): its best loopback profile, events not coalesced, handlers only where timed. */
const SERF_FLAGS = `serf agent -profile=${SERF_PROFILE} -event-handler=user:bench=<bash handler> -event-handler=member-failed=<bash handler>; serf event -coalesce=false`

/** The peers' figures: Serf's headline at the reconfigure run's N (else the first measured), etcd's by N. */
function peersReport (serf: PeerFigures[], etcd: PeerFigures[]): BenchReport['peers'] {
  const headline = serf.find(f => f.agents === BENCH_AGENTS) ?? serf[0]
  return {
    serf: { profile: SERF_PROFILE, flags: SERF_FLAGS, agents: headline?.agents ?? null, event_all_ms: headline?.all_ms ?? null, failure_all_ms: headline?.failure_all_ms ?? null, by_agents: serf },
    etcd: { all_ms: Object.fromEntries(etcd.map(f => [String(f.agents), f.all_ms])), by_agents: etcd }
  }
}

/** Serf and etcd at each N, one after the other (each alone on the machine). */
async function measurePeers (sizes: readonly number[], options: RunOptions): Promise<BenchReport['peers']> {
  const serf: PeerFigures[] = []
  const etcd: PeerFigures[] = []
  for (const n of sizes) {
    serf.push(await measureSerf(n, options.log).catch((err: unknown) => ({ agents: n, all_ms: null, failure_all_ms: null, note: errorMessage(err) })))
    etcd.push(await measureEtcd(n, options.log).catch((err: unknown) => ({ agents: n, all_ms: null, note: errorMessage(err) })))
  }
  return peersReport(serf, etcd)
}

/** The scale mode's charts go here unless --plots says otherwise: docs/scale/ of the checkout (this file is in dist/). */
const DEFAULT_PLOTS_DIR = join(here, '..', '..', '..', 'docs', 'scale')

const NOT_MEASURED: Omit<BenchReport, 'converge'> = {
  peers: peersReport([], []),
  reconfigure: { agents: BENCH_AGENTS, mesh: { p50_ms: null, p99_ms: null }, amqp_hub: { p50_ms: null, p99_ms: null }, amqp_hub_nagle: { p50_ms: null, p99_ms: null }, ratio_p50: null },
  failure: { crash_detect_ms: null, partition_detect_ms: null },
  cost: { rss_mb_per_agent: null, idle_cpu_pct_per_agent: null, msgs_per_change: null, bytes_per_change: null },
  deploy: DEPLOY_NOT_MEASURED,
  elastic: ELASTIC_NOT_MEASURED,
  inter_app: INTER_APP_NOT_MEASURED
}

export async function runBench (options: RunOptions): Promise<BenchReport> {
  options.log(`load average ${loadavg().map(l => l.toFixed(1)).join(' ')} (figures are noisier above 2, the core count)`)
  if (options.observability === true) return { ...NOT_MEASURED, converge: [], observability: await measureObservabilityCost(options) }
  if (options.partitionCuts !== undefined) return { ...NOT_MEASURED, converge: [], failure: await measurePartitions(options.partitionCuts, options) }
  if (options.convergeOnly !== undefined) {
    const converge: BenchReport['converge'] = []
    for (const agents of options.convergeOnly) converge.push(await measureConvergence(agents, options))
    return { ...NOT_MEASURED, converge }
  }
  if (options.scale !== undefined) {
    // The mesh at every N first, then the baselines, all within SCALE_RUN_BUDGET_MS (what has no time left is null,
    // with the reason in the point's notes or the peer's note).
    const budget = createBudget(SCALE_RUN_BUDGET_MS)
    const scale: ScalePoint[] = []
    for (const agents of options.scale) scale.push(await measureScalePoint(agents, options.log, budget))
    if (options.scalePeers !== false) for (const point of scale) await measureScalePeers(point, options.log, budget)
    // The table is printed even when the charts cannot be written (a full disk, a folder not writable).
    await writeScalePlots(scale, options.plotsDir ?? DEFAULT_PLOTS_DIR).then(
      plots => { options.log(`charts written: ${plots.join(', ')}`) },
      (err: unknown) => { options.log(`charts not written: ${errorMessage(err)}`) })
    const serf = scale.flatMap(p => p.serf === null ? [] : [p.serf])
    const etcd = scale.flatMap(p => p.etcd === null ? [] : [p.etcd])
    return { ...NOT_MEASURED, converge: [], peers: peersReport(serf, etcd), scale }
  }
  const toggles = options.quick ? QUICK_TOGGLES : TOGGLES
  const phases: Array<[string, number]> = []
  /** Runs one phase of the run and logs its wall time (the run's wall time is the sum: docs/tuning.md). */
  const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    try {
      return await work()
    } finally {
      const ms = performance.now() - started
      phases.push([name, ms])
      options.log(`phase ${name}: ${(ms / 1000).toFixed(1)} s (load average ${loadavg().map(l => l.toFixed(1)).join(' ')})`)
    }
  }
  const mesh = await phase('reconfigure mesh x10 (cost, crash)', async () => await measureTransport('mesh', BENCH_AGENTS, options, { cost: true, crash: true, partition: false, toggles }))
  const amqp = await phase('reconfigure amqp hub x10 (cost)', async () => await measureTransport('amqp', BENCH_AGENTS, options, { cost: true, crash: false, partition: false, toggles }))
  const amqpNagle = await phase('reconfigure amqp hub x10, Nagle on', async () => await measureTransport('amqp', BENCH_AGENTS, options, { cost: false, crash: false, partition: false, toggles, nagle: true }))
  // The cut-off agent runs in a namespace of its own: a separate chain, so that the other figures stay on loopback.
  const partition = canUseNetns()
    ? await phase('partition x10', async () => await measureTransport('mesh', BENCH_AGENTS, options, { cost: false, crash: false, partition: true, toggles: 0 }))
      .catch((err: unknown) => { options.log(`partition not measured: ${errorMessage(err).split('\n')[0].slice(0, 400)}`); return undefined })
    : undefined
  const meshP = percentiles(mesh.latenciesMs)
  const amqpP = percentiles(amqp.latenciesMs)
  const interApp = await phase('inter-app', async () => await measureInterApp(toggles, meshP.p50_ms, options.log))
    .catch((err: unknown) => { options.log(`inter-app not measured: ${errorMessage(err).split('\n')[0].slice(0, 400)}`); return INTER_APP_NOT_MEASURED })

  const converge: BenchReport['converge'] = [{ agents: BENCH_AGENTS, all_updated_ms: mesh.missed > 0 ? null : round2(Math.max(...mesh.allUpdatedMs)), false_withdrawals: mesh.falseWithdrawals ?? null }]
  if (!options.quick) {
    for (const agents of CONVERGE_SIZES) converge.push(await phase(`converge x${agents}`, async () => await measureConvergence(agents, options)))
  }
  const deploy = options.quick ? DEPLOY_NOT_MEASURED : await phase('deploy (docker 1/10, local 1/100)', async () => await measureDeploy(options))
  const agentStart = await phase('agent start CPU', async () => await measureAgentStartCpuMs(options.log))
  const elastic = options.quick ? ELASTIC_NOT_MEASURED : await phase('elastic', async () => await measureElastic(options))
  const peers = await phase('peers (Serf, etcd)', async () => await measurePeers(options.quick ? [BENCH_AGENTS] : PEER_SIZES, options))
  options.log(`phases: ${phases.map(([name, ms]) => `${name} ${(ms / 1000).toFixed(0)} s`).join(', ')}; total ${(phases.reduce((a, [, ms]) => a + ms, 0) / 60_000).toFixed(1)} min`)

  return {
    reconfigure: {
      agents: BENCH_AGENTS,
      mesh: meshP,
      amqp_hub: amqpP,
      amqp_hub_nagle: percentiles(amqpNagle.latenciesMs),
      ratio_p50: meshP.p50_ms !== null && amqpP.p50_ms !== null && amqpP.p50_ms > 0 ? round2(meshP.p50_ms / amqpP.p50_ms) : null
    },
    converge,
    failure: { ...partitionFigures(partition), crash_detect_ms: slowest(mesh.crash), false_withdrawals: (mesh.falseWithdrawals ?? 0) + (partition?.falseWithdrawals ?? 0) },
    cost: {
      rss_mb_per_agent: mesh.rssMb === undefined ? null : round2(mean(mesh.rssMb)),
      idle_cpu_pct_per_agent: idleFigure(mesh.steadyIdleCpuPct ?? mesh.idleCpuPct),
      ...(mesh.steadyIdleCpuPct === undefined ? {} : { idle_cpu_pct_after_start: idleFigure(mesh.idleCpuPct) }),
      hub_idle_cpu_pct_per_agent: idleFigure(amqp.steadyIdleCpuPct ?? amqp.idleCpuPct),
      msgs_per_change: mesh.perChange === undefined ? null : round2(mesh.perChange.messages),
      bytes_per_change: mesh.perChange === undefined ? null : Math.round(mesh.perChange.bytes)
    },
    deploy: { ...deploy, agent_start_cpu_ms: agentStart },
    elastic,
    inter_app: interApp,
    peers
  }
}

/** The partition figures of a netns chain (all null when it was not measured). */
function partitionFigures (run: TransportRun | undefined): BenchReport['failure'] {
  const cuts = run?.partitions ?? []
  const all = cuts.flatMap(c => c.latenciesMs)
  const complete = cuts.length > 0 && cuts.every(c => c.missed === 0)
  return {
    crash_detect_ms: null,
    partition_detect_ms: slowest(run?.partition),
    partition_samples_ms: cuts.map(c => c.missed > 0 || c.latenciesMs.length === 0 ? null : round2(Math.max(...c.latenciesMs))),
    partition_p50_ms: all.length === 0 ? null : round2(percentile(all, 50)),
    partition_max_ms: complete ? round2(Math.max(...all)) : null,
    false_withdrawals: run?.falseWithdrawals ?? null
  }
}

/** `--partition N`: one netns chain, its target cut N times (healed in between). */
async function measurePartitions (cuts: number, options: RunOptions): Promise<BenchReport['failure']> {
  if (!canUseNetns()) throw new Error('--partition needs root (network namespaces)')
  return partitionFigures(await measureTransport('mesh', BENCH_AGENTS, options, { cost: false, crash: false, partition: true, toggles: 0, cuts }))
}

const show = (v: number | null, unit = ''): string => v === null ? 'n/a' : `${v}${unit}`

/** The report as a table, with the goals of issue 7 next to the figures. */
export function formatTable (r: BenchReport): string {
  const rows: Array<[string, string, string]> = [
    ['reconfigure p50 / p99, mesh', `${show(r.reconfigure.mesh.p50_ms, ' ms')} / ${show(r.reconfigure.mesh.p99_ms, ' ms')}`, '<= 15 / 50 ms'],
    ['reconfigure p50 / p99, amqp hub', `${show(r.reconfigure.amqp_hub.p50_ms, ' ms')} / ${show(r.reconfigure.amqp_hub.p99_ms, ' ms')}`, '(Roboconf way)'],
    ['reconfigure p50 / p99, amqp hub, Nagle on', `${show(r.reconfigure.amqp_hub_nagle.p50_ms, ' ms')} / ${show(r.reconfigure.amqp_hub_nagle.p99_ms, ' ms')}`, '(amqplib\'s default)'],
    ['mesh p50 / amqp hub p50', show(r.reconfigure.ratio_p50), ''],
    ...r.converge.map((c): [string, string, string] => [`every importer updated, ${c.agents} agents`, show(c.all_updated_ms, ' ms'), c.agents === 100 ? '<= 1000 ms' : '']),
    ['killed agent noticed (kill -9)', show(r.failure.crash_detect_ms, ' ms'), '<= 1000 ms'],
    ['cut-off agent noticed (netns)', show(r.failure.partition_detect_ms, ' ms'), '<= 2500 ms'],
    ...(r.failure.partition_samples_ms === undefined || r.failure.partition_samples_ms.length < 2 ? [] : [
      ['cut-off agent noticed, p50 / max of every importer', `${show(r.failure.partition_p50_ms ?? null, ' ms')} / ${show(r.failure.partition_max_ms ?? null, ' ms')}`, '<= 2000 / 2500 ms'] as [string, string, string]]),
    ['live owners withdrawn by mistake', show(r.failure.false_withdrawals ?? null), '0'],
    ['RSS per agent', show(r.cost.rss_mb_per_agent, ' MB'), '<= 64 MB'],
    ['idle CPU per agent', show(r.cost.idle_cpu_pct_per_agent, ' % of a core'), '<= 0.5 %'],
    ...(r.cost.idle_cpu_pct_after_start === undefined ? [] : [['idle CPU per agent, right after the start', show(r.cost.idle_cpu_pct_after_start, ' % of a core'), '']] as Array<[string, string, string]>),
    ['idle CPU per agent, RabbitMQ hub', show(r.cost.hub_idle_cpu_pct_per_agent ?? null, ' % of a core'), ''],
    ['TCP data segments per change', show(r.cost.msgs_per_change), ''],
    ['bytes on the wire per change', show(r.cost.bytes_per_change, ' B'), ''],
    ['deploy 1 / 100 machines', `${show(r.deploy.one_machine_ms, ' ms')} / ${show(r.deploy.hundred_machines_ms, ' ms')}`, ''],
    ['100 machines / 1 machine', show(r.deploy.ratio), '< 3'],
    ['agent start, CPU', show(r.deploy.agent_start_cpu_ms, ' ms'), '<= 300 ms'],
    [`deploy 1 / ${DOCKER_DEPLOY_MACHINES} machines, containers`, `${show(r.deploy.docker_one_ms, ' ms')} / ${show(r.deploy.docker_ten_ms, ' ms')}`, ''],
    ['deploy: the DM\'s CPU per machine', show(r.deploy.dm_cpu_ms_per_machine, ' ms'), '<= 10 ms'],
    ['deploy: first to last creation request, 100 machines', show(r.deploy.create_requests_spread_ms, ' ms'), '<= 50 ms'],
    ['deploy: wall time / CPU floor, 100 machines', show(r.deploy.wall_over_cpu_floor), '<= 1.05'],
    ...elasticRows(r.elastic),
    ...interAppRows(r.inter_app),
    ...(r.observability === undefined ? [] : observabilityRows(r.observability)),
    ...r.peers.serf.by_agents.flatMap((f): Array<[string, string, string]> => [
      [`Serf (${r.peers.serf.profile}) event at every handler, ${f.agents} agents`, show(f.all_ms, ' ms'), f.note ?? ''],
      [`Serf (${r.peers.serf.profile}) kill -9 failed at every agent, ${f.agents} agents`, show(f.failure_all_ms ?? null, ' ms'), '']
    ]),
    ...r.peers.etcd.by_agents.map((f): [string, string, string] => [`etcd put at every watcher's handler, ${f.agents} watchers`, show(f.all_ms, ' ms'), f.note ?? ''])
  ]
  const w0 = Math.max(...rows.map(r => r[0].length))
  const w1 = Math.max(...rows.map(r => r[1].length))
  return [`${'figure'.padEnd(w0)}  ${'measured'.padEnd(w1)}  goal`, ...rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`)].join('\n')
}

export interface BenchArgs { json: boolean, quick: boolean, convergeOnly?: number[], observability?: boolean, scale?: number[], plotsDir?: string, scalePeers?: boolean, partitionCuts?: number }

/** `--scale 1000`: the default sizes up to 1 000 and 1 000 itself; `--scale 10,50`: exactly those. */
export function scaleSizes (text: string): number[] {
  const sizes = text.split(',').map(s => s.trim())
  const bad = sizes.filter(s => !/^\d+$/.test(s) || Number(s) < MIN_CHAIN_AGENTS)
  if (bad.length > 0) throw new BenchUsageError(`--scale takes agent counts of at least ${MIN_CHAIN_AGENTS}, comma-separated (e.g. 1000, or 10,100,300); got ${bad.map(b => JSON.stringify(b)).join(', ')}`)
  const counts = sizes.map(Number)
  if (counts.length > 1) return counts
  return [...new Set([...SCALE_SIZES.filter(n => n < counts[0]), counts[0]])]
}

export function parseBenchArgs (argv: string[]): BenchArgs {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, quick: { type: 'boolean' }, converge: { type: 'string' }, observability: { type: 'boolean' }, scale: { type: 'string' }, plots: { type: 'string' }, 'no-peers': { type: 'boolean' }, partition: { type: 'string' } },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    throw new BenchUsageError(errorMessage(err))
  }
  const args: BenchArgs = { json: values.json === true, quick: values.quick === true, ...(values.observability === true ? { observability: true } : {}) }
  // Each mode alone (--quick goes with --observability only).
  const modes = [values.quick === true && args.observability !== true ? '--quick' : '', values.converge !== undefined ? '--converge' : '',
    args.observability === true ? '--observability' : '', values.scale !== undefined ? '--scale' : '', values.partition !== undefined ? '--partition' : ''].filter(m => m !== '')
  if (modes.length > 1) throw new BenchUsageError(`${modes.join(' and ')} do not go together: run them one at a time`)
  if (values.plots !== undefined && values.scale === undefined) throw new BenchUsageError('--plots goes with --scale (the charts are the scale mode\'s)')
  if (values.plots === '') throw new BenchUsageError('--plots needs a folder')
  if (values['no-peers'] === true && values.scale === undefined) throw new BenchUsageError('--no-peers goes with --scale (it skips the scale mode\'s Serf and etcd)')
  if (values.scale !== undefined) return { ...args, scale: scaleSizes(values.scale), plotsDir: values.plots, ...(values['no-peers'] === true ? { scalePeers: false } : {}) }
  if (values.partition !== undefined) {
    if (!/^\d+$/.test(values.partition) || Number(values.partition) < 1) throw new BenchUsageError(`--partition takes a number of cuts (e.g. 10); got ${JSON.stringify(values.partition)}`)
    return { ...args, partitionCuts: Number(values.partition) }
  }
  if (values.converge === undefined) return args
  const sizes = values.converge.split(',').map(s => s.trim())
  const bad = sizes.filter(s => !/^\d+$/.test(s) || Number(s) < MIN_CHAIN_AGENTS)
  if (bad.length > 0) throw new BenchUsageError(`--converge takes chain sizes of at least ${MIN_CHAIN_AGENTS} agents, comma-separated (e.g. 50,100); got ${bad.map(b => JSON.stringify(b)).join(', ')}`)
  return { ...args, convergeOnly: sizes.map(Number) }
}

async function main (): Promise<number> {
  let args: BenchArgs
  try {
    args = parseBenchArgs(process.argv.slice(2))
  } catch (err) {
    console.error(errorMessage(err))
    return 2
  }
  // With --json, stdout holds the JSON document only; progress goes to stderr either way.
  const log = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }
  try {
    const report = await runBench({ quick: args.quick, convergeOnly: args.convergeOnly, observability: args.observability, scale: args.scale, plotsDir: args.plotsDir, scalePeers: args.scalePeers, partitionCuts: args.partitionCuts, log })
    const table = report.scale !== undefined ? formatScaleTable(report.scale) : formatTable(report)
    // The scale mode's table also goes to stderr with --json: the run that must show it is usually kept as JSON.
    if (args.json && report.scale !== undefined) process.stderr.write(`${table}\n`)
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${table}\n`)
    return 0
  } catch (err) {
    console.error(`bench failed: ${(err as Error).stack ?? String(err)}`)
    return 1
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main()
}
