// The mesh benchmark (issue 4): N agent processes (the real engine over libp2p, mesh-node.js), no DM process and
// no RabbitMQ. One agent exports MySQL from its own network namespace; the N-1 others import it (optionally, so
// every change runs their `update`) from a second namespace, the two joined by a veth pair.
// Measures: export change -> `update` started at every importer (p50, p99, and all importers per change);
// detection of a killed exporter and of a cut-off one (veth down); RSS and idle CPU per agent; messages and bytes
// per change. Usage: `node dist/simulations/bench/mesh.js [--agents 10,50] [--changes 20] [--json]`. Needs root
// (namespaces); `npm run bench:mesh -- …` runs it too. Each size stops by itself within its budget (runBudget).
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createNetnsPair, type NetnsPair, type NetnsSide } from '../../fixtures/netns.js'
import { MeshNodeProcess } from '../../fixtures/mesh-node-client.js'
import type { MeshNodeEvent } from '../../fixtures/mesh-node.js'
import { changeState, createMeshApp, type MeshApp } from '../../fixtures/mesh-app.js'
import { cpuPercentOver, percentile, residentSetMb, round2 } from './stats.js'
import { errorMessage } from '../../protocol/errors.js'

/**
 * Time allowed for starting one agent process, in ms (batches of START_BATCH on a few cores; a bundled agent starts in
 * about 0.5 s of CPU with its handshakes), so that a run's budget grows with its size: one fixed deadline of 160 s for
 * all sizes could cut the 50-agent run on 2 cores short once the 10-agent run had taken its share.
 */
const START_BUDGET_PER_AGENT_MS = 1000
/** Time allowed for one export change to reach every importer, pause included, in ms. */
const CHANGE_BUDGET_MS = 2000
/** Agent processes started at once. */
const START_BATCH = 8
/** Bootstrap peers handed to each agent (random agents already up). */
const BOOTSTRAP_PEERS = 3
/** Pause between two export changes, in ms (each change is measured alone). */
const CHANGE_GAP_MS = 300
/** Quiet time before the idle measurements, and their window, in ms. */
const SETTLE_MS = 2000
const IDLE_WINDOW_MS = 10_000
/** Longest wait for one phase (a change reaching every importer, a detection), in ms. */
const PHASE_TIMEOUT_MS = 20_000

/**
 * A run's budget, in ms: `measuringMs`, after which it starts no more agents and makes no more changes (it reports the
 * changes made); `totalMs`, adding the phases that follow (each bounded by PHASE_TIMEOUT_MS). Past the sum of the
 * runs' totals the benchmark abandons the run in progress and prints what it measured.
 */
function runBudget (agents: number, changes: number): { measuringMs: number, totalMs: number } {
  const measuringMs = agents * START_BUDGET_PER_AGENT_MS + PHASE_TIMEOUT_MS + SETTLE_MS + changes * CHANGE_BUDGET_MS
  // The last change's wait, then: settle, idle window, cut-off, heal, settle, kill.
  return { measuringMs, totalMs: measuringMs + PHASE_TIMEOUT_MS + 2 * SETTLE_MS + IDLE_WINDOW_MS + 3 * PHASE_TIMEOUT_MS }
}

const MYSQL = '/MySQL VM/MySQL'

type Step = Extract<MeshNodeEvent, { event: 'step' }>
type Published = Extract<MeshNodeEvent, { event: 'published' }>

interface RunResult {
  agents: number
  changes: number
  updateLatencyMs?: { p50: number, p99: number, max: number, samples: number }
  allImportersUpdatedMs?: { p50: number, max: number }
  killDetectionMs?: { p50: number, max: number }
  cutOffDetectionMs?: { p50: number, max: number }
  healMs?: number
  rssMb?: { p50: number, max: number }
  idleCpuPercent?: { p50: number, max: number, mean: number }
  perChange?: { meshMessagesPublished: number, networkBytes: number, networkPackets: number }
  errors: string[]
}

function argument (name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const now = (): number => performance.timeOrigin + performance.now()
const exec = promisify(execFile)

/** Bytes and packets sent on every interface of the namespaces (all mesh traffic of the run, headers included). */
async function namespaceTraffic (sides: NetnsSide[]): Promise<{ bytes: number, packets: number }> {
  let bytes = 0
  let packets = 0
  for (const side of sides) {
    const { stdout } = await exec('ip', ['-n', side.netns, '-s', '-j', 'link', 'show'])
    for (const link of JSON.parse(stdout) as Array<{ stats64?: { tx?: { bytes: number, packets: number } } }>) {
      bytes += link.stats64?.tx?.bytes ?? 0
      packets += link.stats64?.tx?.packets ?? 0
    }
  }
  return { bytes, packets }
}

const isUpdate = (status: string) => (e: MeshNodeEvent): e is Step =>
  e.event === 'step' && e.step === 'update' && e.change?.instancePath === MYSQL && e.change.status === status

/** Waits until every importer reports an update of MySQL with `status` after event index marks; returns their times. */
async function updatesAt (importers: MeshNodeProcess[], marks: number[], status: string): Promise<number[]> {
  const events = await Promise.allSettled(importers.map(async (node, i) =>
    await node.waitFor(`update (${status}) at importer ${i}`, isUpdate(status), { from: marks[i], timeoutMs: PHASE_TIMEOUT_MS })))
  const missing = importers.filter((_, i) => events[i].status === 'rejected')
  if (missing.length > 0) {
    // Say what the late importers hold and whom they are connected to: that is what a failure needs.
    const views = await Promise.all(missing.map(async n => await n.command({ cmd: 'view' }).then(r => r.view, (err: Error) => err.message)))
    throw new Error(`${missing.length} of ${importers.length} importers got no update (${status}) within ${PHASE_TIMEOUT_MS} ms; ` +
      `their views: ${JSON.stringify(views.map(v => typeof v === 'object' && v !== null ? { ...v, addresses: undefined, announced: undefined } : v))}`)
  }
  return events.map(e => (e as PromiseFulfilledResult<Step>).value.at)
}

async function startAgents (app: MeshApp, pair: NetnsPair, dir: string, count: number, deadline: number,
  started: MeshNodeProcess[]): Promise<{ exporter: MeshNodeProcess, importers: MeshNodeProcess[] }> {
  const importers: MeshNodeProcess[] = []
  const addresses: string[][] = []
  // The first importer starts alone, so that every later one has someone to bootstrap from.
  for (let first = 0; first < count - 1; first = first === 0 ? 1 : first + START_BATCH) {
    if (Date.now() > deadline) throw new Error('deadline reached while starting agents')
    const size = first === 0 ? 1 : START_BATCH
    const batch = Array.from({ length: Math.min(size, count - 1 - first) }, (_, k) => first + k)
    await Promise.all(batch.map(async i => {
      const node = new MeshNodeProcess({ netns: pair.a.netns, compiled: true })
      started.push(node)
      importers[i] = node
      await node.init(join(dir, `probe-${i}`), [`/ip4/${pair.a.address}/tcp/0`], { allow: [pair.allow], timeoutMs: 60_000 })
      const known = addresses.filter(a => a !== undefined)
      const bootstrap = Array.from({ length: Math.min(BOOTSTRAP_PEERS, known.length) }, () => known[Math.floor(Math.random() * known.length)]).flat()
      await node.dm(app.setScopedInstance(`Probe VM ${i}`, 'Probe', node.peerId, [...new Set(bootstrap)]))
      const mesh = await node.waitFor('mesh', (e): e is Extract<MeshNodeEvent, { event: 'mesh' }> => e.event === 'mesh')
      addresses[i] = mesh.addresses
      await node.dm(changeState(`Probe VM ${i}`, 'Probe', 'DEPLOYED_STARTED'))
    }))
  }
  const exporter = new MeshNodeProcess({ netns: pair.b.netns, compiled: true })
  started.push(exporter)
  await exporter.init(join(dir, 'mysql'), [`/ip4/${pair.b.address}/tcp/0`], { allow: [pair.allow], timeoutMs: 60_000 })
  const bootstrap = addresses.slice(0, BOOTSTRAP_PEERS).flat()
  await exporter.dm(app.setScopedInstance('MySQL VM', 'MySQL', exporter.peerId, bootstrap))
  return { exporter, importers }
}

/** What a run holds, released at its end or by the deadline. */
interface RunResources { dir?: string, pair?: NetnsPair, nodes: MeshNodeProcess[] }

async function release (resources: RunResources): Promise<void> {
  await Promise.all(resources.nodes.map(async n => { await n.stop() }))
  await resources.pair?.destroy()
  if (resources.dir !== undefined) await rm(resources.dir, { recursive: true, force: true })
}

/** Fills `result` as each phase ends, so the deadline can print what was measured. */
async function runOnce (result: RunResult, changes: number, deadline: number, resources: RunResources): Promise<void> {
  const agents = result.agents
  const dir = resources.dir = await mkdtemp(join(tmpdir(), 'meshconf-bench-mesh-'))
  const pair = resources.pair = await createNetnsPair()
  const nodes = resources.nodes
  try {
    const app = createMeshApp()
    const { exporter, importers } = await startAgents(app, pair, dir, agents, deadline, nodes)
    const marksOf = (): number[] => importers.map(n => n.events.length)

    // First start of MySQL: every importer connects to it and imports it.
    let marks = marksOf()
    await exporter.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
    await updatesAt(importers, marks, 'DEPLOYED_STARTED')
    await sleep(SETTLE_MS)

    // Export changes: MySQL stopped (withdraw), started (announce), alternately.
    const latencies: number[] = []
    const allUpdated: number[] = []
    const before = await namespaceTraffic([pair.a, pair.b])
    const sentBefore = ((await exporter.command({ cmd: 'view' })).view as { sent: { messages: number } }).sent.messages
    const changeStart = now()
    for (let c = 0; c < changes && Date.now() < deadline; c++) {
      const status = c % 2 === 0 ? 'DEPLOYED_STOPPED' : 'DEPLOYED_STARTED'
      marks = marksOf()
      const exporterMark = exporter.events.length
      await exporter.dm(changeState('MySQL VM', 'MySQL', status))
      const times = await updatesAt(importers, marks, status)
      const published = await exporter.waitFor('publication', (e): e is Published => e.event === 'published' && e.instancePath === MYSQL, { from: exporterMark })
      for (const at of times) latencies.push(at - published.at)
      allUpdated.push(Math.max(...times) - published.at)
      result.changes++
      result.updateLatencyMs = { p50: round2(percentile(latencies, 50)), p99: round2(percentile(latencies, 99)), max: round2(Math.max(...latencies)), samples: latencies.length }
      result.allImportersUpdatedMs = { p50: round2(percentile(allUpdated, 50)), max: round2(Math.max(...allUpdated)) }
      await sleep(CHANGE_GAP_MS)
    }
    const changeWindowMs = now() - changeStart
    const after = await namespaceTraffic([pair.a, pair.b])
    const sentAfter = ((await exporter.command({ cmd: 'view' })).view as { sent: { messages: number } }).sent.messages
    if (result.changes % 2 === 1) {
      // Leave MySQL started for the failure phases.
      marks = marksOf()
      await exporter.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
      await updatesAt(importers, marks, 'DEPLOYED_STARTED')
    }

    // Idle: RSS and CPU of every agent, nothing changing.
    await sleep(SETTLE_MS)
    const pids = nodes.map(n => n.pid)
    const idleBefore = await namespaceTraffic([pair.a, pair.b])
    const cpu = await cpuPercentOver(pids, IDLE_WINDOW_MS)
    const idleAfter = await namespaceTraffic([pair.a, pair.b])
    const rss = await Promise.all(pids.map(residentSetMb))
    result.idleCpuPercent = { p50: round2(percentile(cpu, 50)), max: round2(Math.max(...cpu)), mean: round2(cpu.reduce((a, b) => a + b, 0) / cpu.length) }
    result.rssMb = { p50: round2(percentile(rss, 50)), max: round2(Math.max(...rss)) }
    // Traffic per change, less what the idle mesh sends anyway in the same time (pings, gossipsub heartbeats, digests).
    const idleRate = { bytes: (idleAfter.bytes - idleBefore.bytes) / IDLE_WINDOW_MS, packets: (idleAfter.packets - idleBefore.packets) / IDLE_WINDOW_MS }
    result.perChange = {
      meshMessagesPublished: round2((sentAfter - sentBefore) / result.changes),
      networkBytes: Math.round(((after.bytes - before.bytes) - idleRate.bytes * changeWindowMs) / result.changes),
      networkPackets: Math.round(((after.packets - before.packets) - idleRate.packets * changeWindowMs) / result.changes)
    }

    // Cut off (veth down: no reset): every importer withdraws MySQL; then the link heals and MySQL comes back.
    marks = marksOf()
    const cutAt = now()
    await pair.setLink(pair.b, false)
    const cutTimes = await updatesAt(importers, marks, 'DEPLOYED_STOPPED')
    result.cutOffDetectionMs = { p50: round2(percentile(cutTimes.map(t => t - cutAt), 50)), max: round2(Math.max(...cutTimes) - cutAt) }
    marks = marksOf()
    const healAt = now()
    await pair.setLink(pair.b, true)
    const healTimes = await updatesAt(importers, marks, 'DEPLOYED_STARTED')
    result.healMs = round2(Math.max(...healTimes) - healAt)

    // Killed (-9): connections reset, withdrawn after the grace.
    await sleep(SETTLE_MS)
    marks = marksOf()
    const killAt = now()
    exporter.kill('SIGKILL')
    const killTimes = await updatesAt(importers, marks, 'DEPLOYED_STOPPED')
    result.killDetectionMs = { p50: round2(percentile(killTimes.map(t => t - killAt), 50)), max: round2(Math.max(...killTimes) - killAt) }
  } catch (err) {
    result.errors.push(errorMessage(err).slice(0, 4000))
  } finally {
    await release(resources)
  }
}

function print (results: RunResult[]): void {
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(results, null, 2) + '\n')
    return
  }
  for (const r of results) {
    process.stdout.write(`\n${r.agents} agents (${r.agents - 1} importers), ${r.changes} export changes\n`)
    if (r.updateLatencyMs !== undefined) process.stdout.write(`  change -> update started, per importer: p50 ${r.updateLatencyMs.p50} ms, p99 ${r.updateLatencyMs.p99} ms, max ${r.updateLatencyMs.max} ms (${r.updateLatencyMs.samples} samples)\n`)
    if (r.allImportersUpdatedMs !== undefined) process.stdout.write(`  all importers updated after one change: p50 ${r.allImportersUpdatedMs.p50} ms, max ${r.allImportersUpdatedMs.max} ms\n`)
    if (r.killDetectionMs !== undefined) process.stdout.write(`  killed exporter withdrawn at all importers: p50 ${r.killDetectionMs.p50} ms, max ${r.killDetectionMs.max} ms\n`)
    if (r.cutOffDetectionMs !== undefined) process.stdout.write(`  cut-off exporter withdrawn at all importers: p50 ${r.cutOffDetectionMs.p50} ms, max ${r.cutOffDetectionMs.max} ms; healed in ${r.healMs} ms\n`)
    if (r.rssMb !== undefined) process.stdout.write(`  RSS per agent: p50 ${r.rssMb.p50} MB, max ${r.rssMb.max} MB\n`)
    if (r.idleCpuPercent !== undefined) process.stdout.write(`  idle CPU per agent: p50 ${r.idleCpuPercent.p50} %, mean ${r.idleCpuPercent.mean} %, max ${r.idleCpuPercent.max} % of a core\n`)
    if (r.perChange !== undefined) process.stdout.write(`  per change: ${r.perChange.meshMessagesPublished} mesh messages published, ${r.perChange.networkBytes} bytes and ${r.perChange.networkPackets} packets on the wire (idle traffic subtracted)\n`)
    for (const e of r.errors) process.stdout.write(`  error: ${e}\n`)
  }
}

async function main (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the mesh benchmark creates network namespaces: run it as root')
  const sizes = (argument('--agents') ?? '10,50').split(',').map(Number)
  if (sizes.some(n => !Number.isInteger(n) || n < 2)) throw new Error('--agents takes agent counts of at least 2, e.g. --agents 10,50')
  const changes = Number(argument('--changes') ?? 20)
  if (!Number.isInteger(changes) || changes < 1) throw new Error('--changes takes a positive integer, e.g. --changes 20')
  const budgets = sizes.map(agents => runBudget(agents, changes))
  const totalMs = budgets.reduce((sum, b) => sum + b.totalMs, 0)
  const results: RunResult[] = []
  let current: RunResources = { nodes: [] }
  // Past the sum of the runs' budgets the run in progress is abandoned: print what was measured, release everything, exit.
  const hardStop = setTimeout(() => {
    results.at(-1)?.errors.push(`stopped: benchmark deadline (${totalMs} ms) reached`)
    print(results)
    void release(current).finally(() => process.exit(0))
  }, totalMs + 5000)
  // Interrupted (Ctrl-C, timeout), it still removes its processes and namespaces.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { void release(current).finally(() => process.exit(130)) })
  }
  for (const [i, agents] of sizes.entries()) {
    const result: RunResult = { agents, changes: 0, errors: [] }
    results.push(result)
    current = { nodes: [] }
    // Each size has its own budget: a slow smaller run does not shorten a larger one.
    await runOnce(result, changes, Date.now() + budgets[i].measuringMs, current)
  }
  clearTimeout(hardStop)
  print(results)
}

main().catch(err => {
  process.stderr.write(`mesh benchmark: ${errorMessage(err)}\n`)
  process.exitCode = 1
})
