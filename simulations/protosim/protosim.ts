// The protocol simulation (issue 20, "past this machine, on paper"): N real MeshService instances (agent/mesh/service.ts)
// over a simulated network (network.ts) in simulated time (clock.ts), few owners and many importers (MESH_APP's MySQL
// and Probe). Per N and network condition it measures the cold start, a changed export, a withdraw and a lost host
// until every importer holds the result, with the frames, bytes and messages it cost. docs/scale.md has the figures.
//   node --expose-gc dist/simulations/protosim/protosim.js [--agents 100,1000,10000] [--conditions clean,loss,latency]
//     [--exporters 5] [--changes 2] [--seed 1] [--limit-h 48] [--json out.json] [--svg chart.svg] [--from results.jsonl,...]
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { MeshService } from '../../agent/mesh/service.js'
import type { ImportListener } from '../../agent/ports.js'
import { silentLogger } from '../../common/log.js'
import { controlTopic, createDmSigningKey, generatePnetKey, signOwnership } from '../../protocol/mesh.js'
import { MESH_APP_COMPONENTS, scopedVm, type MeshAppChild } from '../../fixtures/mesh-app.js'
import { lineChartSvg } from '../bench/plot.js'
import { SimClock } from './clock.js'
import { SimNetwork, type AgentCounters, type SimNetworkOptions } from './network.js'

/** Network conditions of the issue: a LAN, 20 % of frames dropped, 50 ms a hop. */
export const CONDITIONS: Record<string, SimNetworkOptions> = {
  clean: { latencyMs: 0.2, loss: 0 },
  loss: { latencyMs: 0.2, loss: 0.2 },
  latency: { latencyMs: 50, loss: 0 }
}

/** Wall time at simulated time 0 (ms since 1970): fixed, so that a seed gives the same bytes. */
const SIM_START_MS = Date.UTC(2026, 0, 1)
/** Ownerships outlive any simulated run (the DM renews them in real life). */
const OWNERSHIP_LIFETIME_MS = 365 * 24 * 3600_000
const DEFAULT_EXPORTERS = 5
const DEFAULT_CHANGES = 2
const DEFAULT_LIMIT_MS = 48 * 3600_000
/** Importers start spread over this window (a deployment wave); owners announce ANNOUNCE_AT_MS after time 0. */
const START_SPREAD_MS = 10_000
const ANNOUNCE_AT_MS = 1000
/** Quiet time between phases, so that one phase's traffic is not billed to the next. */
const SETTLE_MS = 30_000
const PREFIX = 'MySQL'

export interface ProtosimOptions {
  agents: number
  /** Owners among the agents (MySQL); the others import them all (Probe); default 5. */
  exporters?: number
  network?: SimNetworkOptions
  /** Changes of one owner's export measured; default 2. */
  changes?: number
  seed?: number
  /** Simulated time a phase may take before it is reported as not converged, in ms; default 48 h. */
  limitMs?: number
}

export interface PhaseResult {
  /** Every importer reached the goal within the limit. */
  converged: boolean
  /** Share of importers that reached it. */
  reached: number
  /** Simulated ms from the phase's start until half, 99 %, and all of the importers reached it (null: never). */
  p50Ms: number | null
  p99Ms: number | null
  allMs: number | null
  /** Per agent, over the phase: messages handled (decoded and judged), frames and bytes sent and received. */
  messagesPerAgent: number
  framesPerAgent: number
  bytesPerAgent: number
  /** The busiest agent's frames sent and received over the phase, and whether it is an owner. */
  busiestFrames: number
  busiestIsOwner: boolean
}

export interface ProtosimResult {
  agents: number
  exporters: number
  network: Required<Pick<SimNetworkOptions, 'latencyMs' | 'loss'>>
  seed: number
  coldStart: PhaseResult
  changes: PhaseResult[]
  withdraw: PhaseResult
  crash: PhaseResult
  /** JS heap grown by the whole simulated mesh during the cold start, per agent (gc'd first with --expose-gc). */
  heapBytesPerAgent: number
  /** Largest number of connections of an owner (its importers dial it). */
  ownerConnections: number
  /** Frames the simulated loss dropped over the run. */
  framesDropped: number
  events: number
  /** CPU the simulation took, in ms (user + system). */
  cpuMs: number
}

interface Importer {
  peerId: string
  held: Map<string, string | null>
  /** Simulated ms at which it started. */
  startedMs: number
}

export async function runProtosim (options: ProtosimOptions): Promise<ProtosimResult> {
  const cpuBefore = process.cpuUsage()
  const seed = options.seed ?? 1
  const exporters = Math.min(options.exporters ?? DEFAULT_EXPORTERS, options.agents - 1)
  const limitMs = options.limitMs ?? DEFAULT_LIMIT_MS
  const application = `protosim-${seed}`
  const clock = new SimClock(SIM_START_MS, seed)
  const network = new SimNetwork(clock, controlTopic(application), options.network)
  const dmKey = createDmSigningKey()
  const pnetKey = generatePnetKey()
  const services = new Map<string, MeshService>()
  const importers: Importer[] = []
  const ownerPaths: string[] = []
  const ownerPeers: string[] = []
  const importerCount = options.agents - exporters

  // The phase's goal per importer; when each reached it (NaN: not yet).
  let goal: (importer: Importer) => boolean = () => false
  let reachedAt = new Float64Array(0)
  let reachedCount = 0
  const check = (index: number): void => {
    if (!Number.isNaN(reachedAt[index]) || !goal(importers[index])) return
    reachedAt[index] = clock.elapsedMs
    reachedCount++
  }

  const start = (index: number, child: MeshAppChild): void => {
    const peerId = `sim-${index}`
    const instance = scopedVm(`vm${index}`, child)
    const model = { application, scopedInstancePath: instance.path, components: MESH_APP_COMPONENTS, instance, externalExports: {} }
    const parameters = {
      bootstrapPeers: [], pnetKey, trustedDmKeys: [dmKey.publicKey],
      ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath: instance.path, expiresAt: SIM_START_MS + OWNERSHIP_LIFETIME_MS })
    }
    let listener: ImportListener = { importAdded () {}, importRemoved () {} }
    if (child === 'Probe') {
      const importer: Importer = { peerId, held: new Map(), startedMs: clock.elapsedMs }
      const at = importers.push(importer) - 1
      listener = {
        importAdded (_prefix, imported) { importer.held.set(imported.instancePath, imported.variables[`${PREFIX}.ip`] ?? null); check(at) },
        importRemoved (_prefix, path) { importer.held.delete(path); check(at) }
      }
    }
    const service = new MeshService({ model, parameters, listener, log: silentLogger, clock })
    services.set(peerId, service)
    service.start(network.join(peerId, service.transportEvents, child === 'MySQL'))
    // What the engine does at start: its imports' prefixes (none for an owner).
    service.setInterests(new Set(child === 'Probe' ? [PREFIX] : []))
  }
  const announce = (owner: number, ip: string): void => {
    services.get(ownerPeers[owner])?.announce(ownerPaths[owner], 'MySQL', { [`${PREFIX}.ip`]: ip, [`${PREFIX}.port`]: '3306' })
  }

  const snapshot = (): AgentCounters[] => [...services.keys()].map(peerId => ({ ...network.counters(peerId) }))
  /** `since`: when an importer's clock starts for the phase (default: the phase's start). */
  const phase = async (setGoal: (importer: Importer) => boolean, act: () => void, since?: (importer: Importer) => number): Promise<PhaseResult> => {
    const before = snapshot()
    const totalsBefore = network.totals()
    const startedMs = clock.elapsedMs
    goal = setGoal
    reachedAt = new Float64Array(importers.length).fill(Number.NaN)
    reachedCount = 0
    act()
    importers.forEach((_, i) => { check(i) })
    const converged = await clock.runUntil(() => reachedCount === importerCount, startedMs + limitMs)
    const totals = network.totals()
    const after = snapshot()
    let busiest = 0
    let busiestIndex = 0
    after.forEach((c, i) => {
      const frames = c.sentFrames + c.receivedFrames - (before[i]?.sentFrames ?? 0) - (before[i]?.receivedFrames ?? 0)
      if (frames > busiest) [busiest, busiestIndex] = [frames, i]
    })
    const times = [...reachedAt].map((x, i) => x - (since?.(importers[i]) ?? startedMs)).filter(x => !Number.isNaN(x)).sort((a, b) => a - b)
    const quantile = (q: number): number | null => {
      const needed = Math.ceil(q * importerCount)
      return times.length >= needed ? round(times[needed - 1]) : null
    }
    const n = services.size
    return {
      converged,
      reached: round(times.length / importerCount, 4),
      p50Ms: quantile(0.5),
      p99Ms: quantile(0.99),
      allMs: converged ? quantile(1) : null,
      messagesPerAgent: round((totals.handled - totalsBefore.handled) / n),
      framesPerAgent: round((totals.sentFrames + totals.receivedFrames - totalsBefore.sentFrames - totalsBefore.receivedFrames) / n),
      bytesPerAgent: round((totals.sentBytes + totals.receivedBytes - totalsBefore.sentBytes - totalsBefore.receivedBytes) / n),
      busiestFrames: busiest,
      busiestIsOwner: busiestIndex < exporters
    }
  }
  const settle = async (): Promise<void> => { await clock.runUntil(() => false, clock.elapsedMs + SETTLE_MS) }

  global.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const coldStart = await phase(importer => ownerPaths.every(path => importer.held.has(path)), () => {
    for (let i = 0; i < exporters; i++) {
      ownerPeers.push(`sim-${i}`)
      ownerPaths.push(`/vm${i}/MySQL`)
      start(i, 'MySQL')
    }
    for (let i = exporters; i < options.agents; i++) {
      const index = i
      clock.at(clock.random() * START_SPREAD_MS, () => { start(index, 'Probe') })
    }
    // Importers are created by events (they reach the goal once all of them exist and hold every export).
    reachedAt = new Float64Array(importerCount).fill(Number.NaN)
    for (let i = 0; i < exporters; i++) {
      const owner = i
      clock.at(ANNOUNCE_AT_MS, () => { announce(owner, `10.0.0.${owner}`) })
    }
  }, importer => Math.max(importer.startedMs, ANNOUNCE_AT_MS))
  global.gc?.()
  const heapBytesPerAgent = Math.round((process.memoryUsage().heapUsed - heapBefore) / options.agents)
  await settle()

  const changes: PhaseResult[] = []
  for (let k = 1; k <= (options.changes ?? DEFAULT_CHANGES); k++) {
    const ip = `10.1.${k}.0`
    changes.push(await phase(importer => importer.held.get(ownerPaths[0]) === ip, () => { announce(0, ip) }))
    await settle()
  }
  const withdrawn = ownerPaths[1 % exporters]
  const withdraw = await phase(importer => !importer.held.has(withdrawn), () => { services.get(ownerPeers[1 % exporters])?.withdraw(withdrawn) })
  await settle()
  const lost = exporters > 2 ? 2 : exporters - 1
  const crash = await phase(importer => !importer.held.has(ownerPaths[lost]), () => {
    network.crash(ownerPeers[lost])
    // Its timers die with its host (stop() sends nothing).
    void services.get(ownerPeers[lost])?.stop()
  })

  const ownerConnections = Math.max(...ownerPeers.map(peerId => services.get(peerId)?.view().connectedPeers.length ?? 0))
  await Promise.all([...services.values()].map(async s => { await s.stop() }))
  const cpu = process.cpuUsage(cpuBefore)
  return {
    agents: options.agents,
    exporters,
    network: { latencyMs: options.network?.latencyMs ?? 0.2, loss: options.network?.loss ?? 0 },
    seed,
    coldStart,
    changes,
    withdraw,
    crash,
    heapBytesPerAgent,
    ownerConnections,
    framesDropped: network.dropped,
    events: clock.eventsRun,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000)
  }
}

/** The name in CONDITIONS of a result's network. */
function conditionOf (result: ProtosimResult): string {
  const found = Object.entries(CONDITIONS).find(([, c]) => c.latencyMs === result.network.latencyMs && c.loss === result.network.loss)
  if (found === undefined) throw new Error(`a result with a network of no condition: ${JSON.stringify(result.network)}`)
  return found[0]
}

function round (x: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** One line per N and condition: the figures of docs/scale.md's table. */
export function formatProtosimTable (rows: Array<{ condition: string, result: ProtosimResult }>): string {
  const s = (ms: number | null): string => ms === null ? 'not all' : ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`
  const lines = [
    '| N | condition | cold start p50 / all | change p50 / p99 / all | msgs / frames / bytes per agent per change | busiest agent frames (change) | withdraw all | lost host all | owner links | heap / agent | CPU |',
    '|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const { condition, result: r } of rows) {
    const c = r.changes[r.changes.length - 1]
    lines.push(`| ${r.agents} | ${condition} | ${s(r.coldStart.p50Ms)} / ${s(r.coldStart.allMs)} | ${s(c.p50Ms)} / ${s(c.p99Ms)} / ${s(c.allMs)}` +
      ` | ${c.messagesPerAgent} / ${c.framesPerAgent} / ${c.bytesPerAgent} | ${c.busiestFrames}${c.busiestIsOwner ? ' (owner)' : ''}` +
      ` | ${s(r.withdraw.allMs)} | ${s(r.crash.allMs)} | ${r.ownerConnections} | ${(r.heapBytesPerAgent / 1024).toFixed(0)} KiB | ${(r.cpuMs / 1000).toFixed(1)} s |`)
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`)
    return i < 0 ? undefined : process.argv[i + 1]
  }
  const agents = (arg('agents') ?? '100,1000,10000').split(',').map(Number)
  const conditions = (arg('conditions') ?? Object.keys(CONDITIONS).join(',')).split(',')
  for (const c of conditions) if (CONDITIONS[c] === undefined) throw new Error(`unknown condition ${c}: one of ${Object.keys(CONDITIONS).join(', ')}`)
  if (agents.some(n => !Number.isInteger(n) || n < 2)) throw new Error('--agents: a comma-separated list of integers, each at least 2')
  const run = (n: number, condition: string): ProtosimOptions => ({
    agents: n, network: CONDITIONS[condition], seed: Number(arg('seed') ?? 1), exporters: arg('exporters') === undefined ? undefined : Number(arg('exporters')),
    changes: arg('changes') === undefined ? undefined : Number(arg('changes')), limitMs: arg('limit-h') === undefined ? undefined : Number(arg('limit-h')) * 3600_000
  })
  // `--one N condition`: one run, its result as JSON on stdout (each run gets a process of its own, so that its heap
  // figure is its own).
  const one = process.argv.indexOf('--one')
  if (one >= 0) {
    process.stdout.write(JSON.stringify(await runProtosim(run(Number(process.argv[one + 1]), process.argv[one + 2]))) + '\n')
    return
  }
  const rows: Array<{ condition: string, result: ProtosimResult }> = []
  // `--from FILE,...`: no run; the table and chart of results already printed (JSON lines of --one or of a run's stderr).
  const from = arg('from')
  for (const file of from?.split(',') ?? []) {
    for (const line of (await readFile(file, 'utf8')).split('\n').filter(l => l.startsWith('{'))) {
      const result = JSON.parse(line) as ProtosimResult
      rows.push({ condition: conditionOf(result), result })
    }
  }
  rows.sort((a, b) => a.result.agents - b.result.agents || conditions.indexOf(a.condition) - conditions.indexOf(b.condition))
  const forwarded = process.argv.slice(2).filter((a, i, all) => !['--json', '--svg', '--agents', '--conditions'].includes(a) &&
    !['--json', '--svg', '--agents', '--conditions'].includes(all[i - 1]))
  for (const n of from === undefined ? agents : []) {
    for (const condition of conditions) {
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--max-old-space-size=8192', fileURLToPath(import.meta.url),
        ...forwarded, '--one', String(n), condition], { maxBuffer: 16 * 1024 * 1024 })
      const result = JSON.parse(stdout) as ProtosimResult
      rows.push({ condition, result })
      process.stderr.write(`${JSON.stringify({ condition, ...result })}\n`)
    }
  }
  process.stdout.write(formatProtosimTable(rows) + '\n')
  const json = arg('json')
  if (json !== undefined) await writeFile(json, JSON.stringify(rows, null, 2) + '\n')
  const svg = arg('svg')
  if (svg !== undefined) {
    await writeFile(svg, lineChartSvg({
      title: 'Protocol simulation: a changed export until every importer holds it',
      xLabel: 'agents (N)',
      yLabel: 'simulated ms (log)',
      logY: true,
      series: conditions.flatMap(condition => {
        const mine = rows.filter(r => r.condition === condition).sort((a, b) => a.result.agents - b.result.agents)
        const last = (r: ProtosimResult): PhaseResult => r.changes[r.changes.length - 1]
        return [
          { name: `${condition}: p50`, points: mine.map(r => [r.result.agents, last(r.result).p50Ms] as const) },
          { name: `${condition}: every importer`, dashed: true, points: mine.map(r => [r.result.agents, last(r.result).allMs] as const) }
        ]
      })
    }))
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch(err => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
