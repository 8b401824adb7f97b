// Where the time of one change goes (docs/perf-trace.md): runs the benchmark's 10-agent chain with every agent tracing
// (MESHCONF_TRACE_DIR, common/trace.ts), toggles the target Tomcat, and cuts each importer's path from the Tomcat's
// DEPLOYED_STARTED to its `update` into stages, from the records of the Tomcat's and the importer's processes.
// Usage: node dist/simulations/bench/trace.js [--transport mesh|amqp] [--toggles 20] [--agents 10] [--keep DIR] [--json]
// --keep DIR: the agents' trace files go to DIR and stay there (default: a temporary folder, deleted).
import '../../agent/polyfill.js'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startChain, toggleTarget, MIN_CHAIN_AGENTS, type Chain } from './chain.js'
import { BENCH_AGENTS, DEFAULT_AMQP_URL, SETTLE_MAX_MS, SETTLE_MS, SETTLE_WINDOW_MS, SETTLED_AGENT_CPU_PCT, SETTLED_CPU_PCT } from './bench-constants.js'
import { deleteApplicationExchange } from './amqp-hub.js'
import type { ExportTransport } from './agent-protocol.js'
import { cpuTimeMs, mean, percentile, round2, untilQuiet } from './stats.js'
import { errorMessage } from '../../protocol/errors.js'

/** One trace record: CLOCK_MONOTONIC ns, the point, its detail's words. */
interface TraceRecord { ns: bigint, point: string, words: string[] }

/** Each process's records, by pid, in time order. */
async function readTraces (dir: string): Promise<Map<number, TraceRecord[]>> {
  const byPid = new Map<number, TraceRecord[]>()
  for (const name of await readdir(dir)) {
    const pid = Number(name.replace(/\.trace$/, ''))
    if (!name.endsWith('.trace') || !Number.isInteger(pid)) continue
    const records = (await readFile(join(dir, name), 'utf8')).split('\n').filter(l => l !== '').map(line => {
      const [ns, point, ...words] = line.split(' ')
      return { ns: BigInt(ns), point, words }
    })
    byPid.set(pid, records)
  }
  return byPid
}

/** A milestone of one importer's path: its name and when (ns). */
interface Milestone { name: string, ns: bigint }

const first = (records: TraceRecord[], after: bigint, before: bigint, match: (r: TraceRecord) => boolean): TraceRecord | undefined =>
  records.find(r => r.ns >= after && r.ns <= before && match(r))

/** The socket at the other end of `ports` (`local>remote`). */
const reversed = (ports: string): string => ports.split('>').reverse().join('>')

/**
 * The milestones of one importer's path for one toggle: the Tomcat's state change (t0), its announce, publication and
 * first socket write towards this importer; the importer's first read of that socket, the message handed to the mesh
 * service (or the hub), the import handed to the engine, the engine's action and its `update` call.
 */
function milestones (exporter: TraceRecord[], importer: TraceRecord[], t0: bigint, updateNs: bigint, exporterPeer: string): Milestone[] {
  const out: Milestone[] = [{ name: 'exporter: state DEPLOYED_STARTED', ns: t0 }]
  const add = (name: string, r: TraceRecord | undefined): void => { if (r !== undefined) out.push({ name, ns: r.ns }) }
  const announce = first(exporter, t0, updateNs, r => r.point === 'mesh.announce' || r.point === 'hub.announce')
  add('exporter: announce called', announce)
  const send = first(exporter, t0, updateNs, r => (r.point === 'mesh.send' && r.words[0] === 'announce') || (r.point === 'hub.send' && r.words[0] === 'addImport'))
  add('exporter: message encoded, publish called', send)
  // The importer's first read after the publication, on a socket the exporter wrote to since (the mesh: a direct
  // connection; the hub: the broker's socket, whichever it is).
  const sent = send?.ns ?? t0
  const writes = exporter.filter(r => r.point === 'tcp.write' && r.ns >= sent && r.ns <= updateNs)
  const written = new Set(writes.map(w => reversed(w.words[0])))
  const direct = first(importer, sent, updateNs, r => r.point === 'tcp.read' && written.has(r.words[0]))
  if (direct !== undefined) {
    add('exporter: socket write to this importer', writes.find(w => w.words[0] === reversed(direct.words[0])))
    add('importer: socket read', direct)
  } else {
    add('exporter: first socket write', writes[0])
    add('importer: socket read', first(importer, sent, updateNs, r => r.point === 'tcp.read'))
  }
  add('importer: message to the mesh service', first(importer, sent, updateNs, r =>
    (r.point === 'mesh.receive' && r.words[0] === exporterPeer) || r.point === 'hub.receive'))
  add('importer: import to the engine', first(importer, sent, updateNs, r => r.point === 'mesh.import' && r.words.at(-1) === 'added'))
  add('importer: engine action runs', first(importer, sent, updateNs, r => r.point === 'engine.action'))
  add('importer: update called', first(importer, sent, updateNs, r => r.point === 'engine.update'))
  out.push({ name: 'importer: update reported', ns: updateNs })
  return out.sort((a, b) => a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0)
}

export interface TraceReport {
  transport: ExportTransport
  agents: number
  samples: number
  /** Per stage (from one milestone to the next), ms over the samples where both were recorded. */
  stages: Array<{ stage: string, samples: number, p50_ms: number, p90_ms: number, max_ms: number }>
  total: { p50_ms: number, p99_ms: number }
  /** The slowest sample, milestone by milestone (ms since the exporter's state change). */
  slowest: Array<{ milestone: string, at_ms: number }>
  /** State saves (begin to end, ms) that overlapped some path, on any agent of the chain. */
  overlappingSaves: number
  /** CPU (user + system) per export change (a toggle is two: a withdraw and an announce), in ms: the toggled Tomcat, and the mean Apache. */
  cpuPerChange: { exporter_ms: number, importer_ms: number }
}

async function runTrace (transport: ExportTransport, agents: number, toggles: number, log: (line: string) => void, keep?: string): Promise<TraceReport> {
  const traceDir = keep ?? await mkdtemp(join(tmpdir(), 'meshconf-trace-'))
  const workDir = await mkdtemp(join(tmpdir(), 'meshconf-trace-agents-'))
  // The agent processes inherit the environment: each writes <traceDir>/<pid>.trace when it exits.
  process.env.MESHCONF_TRACE_DIR = traceDir
  const amqp = { url: DEFAULT_AMQP_URL, domain: `trace-${process.pid}-${Date.now().toString(36)}` }
  const samples: Array<{ t0: bigint, importerPid: number, updateNs: bigint }> = []
  let chain: Chain | undefined
  try {
    chain = await startChain({ agents, transport, workDir, amqp, progress: log })
    delete process.env.MESHCONF_TRACE_DIR
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    await untilQuiet(chain.agents.map(a => a.pid), { totalBelowPct: SETTLED_CPU_PCT * agents, eachBelowPct: SETTLED_AGENT_CPU_PCT }, SETTLE_WINDOW_MS, SETTLE_MAX_MS)
    const cpuBefore = await Promise.all([chain.target, ...chain.importers].map(async a => await cpuTimeMs(a.pid)))
    for (let i = 0; i < toggles; i++) {
      const mark = chain.target.received.length
      const toggle = await toggleTarget(chain)
      const started = chain.target.received.slice(mark).find(m => m.kind === 'status' && m.instancePath === chain?.targetPath && m.status === 'DEPLOYED_STARTED')
      if (started?.kind !== 'status') continue
      const t0 = BigInt(started.atNs)
      for (const importer of chain.importers) {
        const update = importer.received.findLast(m => m.kind === 'update' && m.added && m.exporterPath === chain?.targetPath)
        if (update?.kind === 'update' && BigInt(update.atNs) >= t0) samples.push({ t0, importerPid: importer.pid, updateNs: BigInt(update.atNs) })
      }
      log(`toggle ${i + 1}/${toggles}: ${toggle.latenciesMs.length} updates, ${toggle.missed} missed`)
    }
    const cpuAfter = await Promise.all([chain.target, ...chain.importers].map(async a => await cpuTimeMs(a.pid)))
    const perChange = cpuAfter.map((after, i) => (after - cpuBefore[i]) / (2 * toggles))
    const cpuPerChange = { exporter_ms: round2(perChange[0]), importer_ms: round2(mean(perChange.slice(1))) }
    const targetPid = chain.target.pid
    const targetPeer = chain.target.received.find(m => m.kind === 'hello')
    await chain.stop()
    const traces = await readTraces(traceDir)
    const exporter = traces.get(targetPid) ?? []
    if (exporter.length === 0) throw new Error(`the target agent (pid ${targetPid}) wrote no trace in ${traceDir}`)
    const peer = targetPeer?.kind === 'hello' ? targetPeer.peerId : ''
    const paths = samples.map(s => milestones(exporter, traces.get(s.importerPid) ?? [], s.t0, s.updateNs, peer))
    return { ...summarize(transport, agents, paths, traces, samples), cpuPerChange }
  } finally {
    delete process.env.MESHCONF_TRACE_DIR
    await chain?.stop()
    if (transport === 'amqp' && chain !== undefined) await deleteApplicationExchange(amqp, chain.app.application).catch(() => {})
    if (keep === undefined) await rm(traceDir, { recursive: true, force: true })
    await rm(workDir, { recursive: true, force: true })
  }
}

const ms = (ns: bigint): number => Number(ns) / 1e6

function summarize (transport: ExportTransport, agents: number, paths: Milestone[][], traces: Map<number, TraceRecord[]>,
  samples: Array<{ t0: bigint, updateNs: bigint }>): Omit<TraceReport, 'cpuPerChange'> {
  const byStage = new Map<string, number[]>()
  for (const path of paths) {
    for (let i = 1; i < path.length; i++) {
      const stage = `${path[i - 1].name} -> ${path[i].name}`
      byStage.set(stage, [...(byStage.get(stage) ?? []), ms(path[i].ns - path[i - 1].ns)])
    }
  }
  const totals = paths.map(p => ms(p[p.length - 1].ns - p[0].ns))
  const slowest = paths[totals.indexOf(Math.max(...totals))] ?? []
  // Saves (state.save -> state.saved) of any agent overlapping any sample's window.
  let overlappingSaves = 0
  for (const records of traces.values()) {
    for (let i = 0; i < records.length; i++) {
      if (records[i].point !== 'state.save') continue
      const end = records.slice(i + 1).find(r => r.point === 'state.saved')?.ns ?? records[i].ns
      if (samples.some(s => records[i].ns <= s.updateNs && end >= s.t0)) overlappingSaves++
    }
  }
  return {
    transport,
    agents,
    samples: paths.length,
    stages: [...byStage].map(([stage, values]) => ({
      stage, samples: values.length, p50_ms: round2(percentile(values, 50)), p90_ms: round2(percentile(values, 90)), max_ms: round2(Math.max(...values))
    })).sort((a, b) => b.samples - a.samples || b.p50_ms - a.p50_ms),
    total: totals.length === 0 ? { p50_ms: NaN, p99_ms: NaN } : { p50_ms: round2(percentile(totals, 50)), p99_ms: round2(percentile(totals, 99)) },
    slowest: slowest.map(m => ({ milestone: m.name, at_ms: round2(ms(m.ns - slowest[0].ns)) })),
    overlappingSaves
  }
}

function format (r: TraceReport): string {
  const w = Math.max(...r.stages.map(s => s.stage.length))
  return [
    `${r.transport}, ${r.agents} agents: ${r.samples} paths, state change -> update p50 ${r.total.p50_ms} ms, p99 ${r.total.p99_ms} ms`,
    `${'stage'.padEnd(w)}  samples     p50     p90     max (ms)`,
    ...r.stages.map(s => `${s.stage.padEnd(w)}  ${String(s.samples).padStart(7)} ${s.p50_ms.toFixed(2).padStart(7)} ${s.p90_ms.toFixed(2).padStart(7)} ${s.max_ms.toFixed(2).padStart(7)}`),
    'slowest path:',
    ...r.slowest.map(m => `  ${m.at_ms.toFixed(2).padStart(8)} ms  ${m.milestone}`),
    `state saves overlapping a path (any agent): ${r.overlappingSaves}`,
    `CPU per change: the exporter ${r.cpuPerChange.exporter_ms} ms, an importer ${r.cpuPerChange.importer_ms} ms (tracing included)`
  ].join('\n')
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: { transport: { type: 'string', default: 'mesh' }, toggles: { type: 'string', default: '20' }, agents: { type: 'string', default: String(BENCH_AGENTS) }, keep: { type: 'string' }, json: { type: 'boolean' } },
    strict: true
  })
  const transport = values.transport
  const toggles = Number(values.toggles)
  const agents = Number(values.agents)
  if ((transport !== 'mesh' && transport !== 'amqp') || !Number.isInteger(toggles) || toggles < 1 || !Number.isInteger(agents) || agents < MIN_CHAIN_AGENTS) {
    console.error(`usage: node dist/simulations/bench/trace.js [--transport mesh|amqp] [--toggles N >= 1] [--agents N >= ${MIN_CHAIN_AGENTS}] [--json]`)
    return 2
  }
  const report = await runTrace(transport, agents, toggles, line => { process.stderr.write(`[trace] ${line}\n`) }, values.keep)
  process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : `${format(report)}\n`)
  return 0
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main().catch((err: unknown) => { console.error(`trace failed: ${errorMessage(err)}`); return 1 })
}
