// The chain application the benchmarks run, one agent process per machine: MySQL <- 2 Tomcats <- Apaches
// (mesh-app.ts's components, logger plug-in). One Tomcat is toggled, and every Apache's `update` is timed against the
// moment that Tomcat reached DEPLOYED_STARTED; failures (kill -9, a cut link) are timed until every Apache drops it.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { meshRole, pickBootstrapPeers, type MeshRole } from '../../manager/bootstrap.js'
import { MAX_BOOTSTRAP_AGENTS } from '../../manager/constants.js'
import { createMeshApp, MESH_APP_COMPONENTS, type MeshApp } from '../../fixtures/mesh-app.js'
import { AgentHost, stopAll, type BenchAgent } from './agents.js'
import type { ExportTransport } from './agent-protocol.js'
import type { NetnsLink } from '../../fixtures/netns.js'
import { AGENT_START_BATCH, AGENT_START_TIMEOUT_MS, CHANGE_TIMEOUT_MS, DEPLOY_TIMEOUT_MS, PACE_AGENT_CPU_PCT, PACE_CPU_PCT, PACE_IDLE_CPU_PCT_PER_AGENT, PACE_MAX_MS, PACE_WINDOW_MS } from './bench-constants.js'
import { untilQuiet, type CpuMeter, type CpuStretch } from './stats.js'
import { UNLIMITED_BUDGET, type Budget } from './budget.js'

/** Fewest agents of a chain: MySQL, two Tomcats, one Apache. */
export const MIN_CHAIN_AGENTS = 4

export class ChainSizeError extends Error {
  constructor (agents: number) {
    super(`a chain needs at least ${MIN_CHAIN_AGENTS} agents (MySQL, 2 Tomcats, an Apache); got ${agents}`)
    this.name = 'ChainSizeError'
  }
}

export interface ChainOptions {
  /** Agent processes, >= 4. */
  agents: number
  transport: ExportTransport
  /** Parent of the agents' state folders. */
  workDir: string
  /** amqp hub: broker URL, the run's domain, Nagle off (default true). */
  amqp?: { url: string, domain: string, noDelay?: boolean }
  /** Runs the toggled Tomcat's agent in this namespace; the other agents also listen on the host end of its link. */
  netns?: NetnsLink
  /** Progress lines; default none. */
  progress?: (line: string) => void
  /** Starts each batch once the agents up are quiet enough (PACE_CPU_PCT); default false. */
  paced?: boolean
  /**
   * Apaches per process (the scale mode packs many real agents into each process); default 1. MySQL and the Tomcats
   * always run alone, so that killing one is a crash of that agent only.
   */
  agentsPerProcess?: number
  /** Longest wait for every Apache to be started with both Tomcats, in ms; default DEPLOY_TIMEOUT_MS. */
  deployTimeoutMs?: number
  /** Agents log and serve metrics as real agents do (agent-protocol.ts); default false. */
  observability?: boolean
  /** Every wait is also cut to what is left of this (the scale mode's 20 minutes); default none. */
  budget?: Budget
  /**
   * Watches every agent process and marks the start's stretches ('start': agents taking their models, 'pace': the
   * waits between batches, 'deploy': the instances' start); default none.
   */
  meter?: CpuMeter
}

export interface Chain {
  app: MeshApp
  agents: BenchAgent[]
  /** The processes hosting them (one per agent unless agentsPerProcess > 1). */
  hosts: AgentHost[]
  /** The Tomcat agent that is toggled or cut off, and its instance path. */
  target: BenchAgent
  targetPath: string
  /** The other Tomcat's agent (up all along, until a crash is measured; alone in its process), and its instance path. */
  stable: BenchAgent
  stablePath: string
  /** The Apache agents and their instance paths (same order). */
  importers: BenchAgent[]
  importerPaths: string[]
  stop (): Promise<void>
}

const TARGET_INDEX = 2

function role (index: number): { vm: string, child: 'MySQL' | 'Tomcat' | 'Apache' } {
  if (index === 0) return { vm: 'MySQL VM', child: 'MySQL' }
  if (index <= TARGET_INDEX) return { vm: `Tomcat VM ${index}`, child: 'Tomcat' }
  return { vm: `Apache VM ${index - TARGET_INDEX}`, child: 'Apache' }
}

/** What the agent of `index` exports and imports (its VM and the component it hosts). */
function meshRoleOf (index: number): MeshRole {
  return meshRole([MESH_APP_COMPONENTS.VM, MESH_APP_COMPONENTS[role(index).child]])
}

/**
 * MySQL, then the Tomcats, then the Apaches in batches: each agent bootstraps from agents of the batches before it,
 * the owners of what it imports first.
 */
function startBatches (agents: number, batchSize = AGENT_START_BATCH): number[][] {
  const batches = [[0], [1, TARGET_INDEX]]
  for (let first = TARGET_INDEX + 1; first < agents; first += batchSize) {
    batches.push(Array.from({ length: Math.min(batchSize, agents - first) }, (_, k) => first + k))
  }
  return batches
}

/** The agents each process hosts: MySQL and the Tomcats alone, the Apaches `perProcess` at a time. */
export function hostLayout (agents: number, perProcess: number): number[][] {
  return startBatches(agents, perProcess).flatMap((batch, i) => i === 1 ? batch.map(index => [index]) : [batch])
}

/** Starts the agents (in batches, each bootstrapping from a few agents already up, as the DM picks them), then every
 * instance; resolves once every Apache is started and holds both Tomcats. Stops what it started if anything fails. */
export async function startChain (options: ChainOptions): Promise<Chain> {
  if (!(options.agents >= MIN_CHAIN_AGENTS)) throw new ChainSizeError(options.agents)
  const app = createMeshApp()
  const agents: BenchAgent[] = []
  const hosts: AgentHost[] = []
  const perProcess = Math.max(1, options.agentsPerProcess ?? 1)
  const layout = hostLayout(options.agents, perProcess)
  const report = options.progress ?? (() => {})
  const budget = options.budget ?? UNLIMITED_BUDGET
  // A packed process starts its agents on one thread, all at once: as much work as perProcess / AGENT_START_BATCH
  // batches of lone agents, which each get AGENT_START_TIMEOUT_MS (at 300 agents on a loaded host, 2 of 50 packed
  // agents were not ready after 60 s).
  const startTimeoutMs = AGENT_START_TIMEOUT_MS * Math.max(1, Math.ceil(perProcess / AGENT_START_BATCH))
  const stop = async (): Promise<void> => { await stopAll(hosts) }
  /** Each group's process, forked (with its fellow agents) the first time one of them is needed; batches ask at once. */
  const forked = new Map<number[], Promise<AgentHost>>()
  const agentOf = async (index: number, netns: string | undefined): Promise<BenchAgent> => {
    const members = layout.find(l => l.includes(index)) ?? [index]
    let host = forked.get(members)
    if (host === undefined) {
      host = (async () => {
        const stateDirs = members.map(i => join(options.workDir, `agent-${i}`))
        await Promise.all(stateDirs.map(async dir => await mkdir(dir, { recursive: true })))
        const started = new AgentHost({ name: `/${role(members[0]).vm}`, stateDirs, agentNames: members.map(i => `/${role(i).vm}`), netns })
        hosts.push(started)
        if (started.child.pid !== undefined) options.meter?.watch(started.child.pid)
        members.forEach((i, k) => { agents[i] = started.agents[k] })
        return started
      })()
      forked.set(members, host)
    }
    return (await host).agents[members.indexOf(index)]
  }
  try {
    const ready: Array<{ index: number, addresses: string[] }> = []
    const startedAt = performance.now()
    for (const batch of startBatches(options.agents, perProcess > 1 ? perProcess : AGENT_START_BATCH)) {
      await Promise.all(batch.map(async index => {
        const { vm, child } = role(index)
        const inNetns = options.netns !== undefined && index === TARGET_INDEX
        const agent = await agentOf(index, inNetns ? options.netns?.netns : undefined)
        const { peerId } = await agent.waitFor('hello', () => true, budget.cap(startTimeoutMs, 'starting the agents'))
        const reachable = inNetns
          ? ready.map(r => ({ ...r, addresses: r.addresses.filter(a => a.includes(`/ip4/${options.netns?.hostAddress}/`)) }))
          : ready
        // The DM's pick: a few agents already up (every one of them would make 100 agents dial ~5 000 connections at
        // once), the owners of what this one imports first.
        const bootstrap = pickBootstrapPeers(meshRoleOf(index), reachable.map(r => ({ peer: r.addresses, role: meshRoleOf(r.index) })),
          MAX_BOOTSTRAP_AGENTS).flat()
        const { model, parameters } = app.agent(vm, child, peerId, options.transport === 'mesh' ? bootstrap : [])
        const listen = options.netns === undefined
          ? undefined
          : inNetns ? [`/ip4/${options.netns.nsAddress}/tcp/0`] : ['/ip4/127.0.0.1/tcp/0', `/ip4/${options.netns.hostAddress}/tcp/0`]
        // Agents reach each other over the namespace's link too: exempt it from the inbound rate limit, like loopback.
        const allow = options.netns === undefined ? undefined : ['/ip4/127.0.0.0/ipcidr/8', `/ip4/${options.netns.hostAddress}/ipcidr/30`]
        agent.send({ kind: 'model', model, parameters, transport: options.transport, amqp: options.amqp, listen, allow, observability: options.observability })
        const { addresses } = await agent.waitFor('ready', () => true, budget.cap(startTimeoutMs, 'starting the agents'))
        ready.push({ index, addresses })
      }))
      const upAt = Math.round(performance.now() - startedAt)
      const started = await options.meter?.mark('start')
      if (options.paced !== true) {
        report(`${options.transport}: ${ready.length}/${options.agents} agents up (${upAt} ms${cpuText(started, hosts)})`)
        continue
      }
      // The agents up use some CPU even when idle (pings, heartbeats): quiet means one core over that, not one core in
      // all, or 800 idle agents would hold every later batch for PACE_MAX_MS.
      const pace = await untilQuiet(hosts.map(h => h.pid),
        { totalBelowPct: PACE_CPU_PCT + ready.length * PACE_IDLE_CPU_PCT_PER_AGENT, eachBelowPct: PACE_AGENT_CPU_PCT },
        PACE_WINDOW_MS, budget.cap(PACE_MAX_MS, 'starting the agents'))
      const paced = await options.meter?.mark('pace')
      report(`${options.transport}: ${ready.length}/${options.agents} agents up (${upAt} ms${cpuText(started, hosts)}; then ${pace.waitedMs} ms until ` +
        `${pace.totalCpuPct.toFixed(0)} % of a core in all, ${pace.busiestCpuPct.toFixed(0)} % the busiest process${cpuText(paced, hosts)})`)
    }

    const pathOf = (index: number): string => { const { vm, child } = role(index); return `/${vm}/${child}` }
    const importerIndexes = Array.from({ length: options.agents - TARGET_INDEX - 1 }, (_, k) => TARGET_INDEX + 1 + k)
    const tomcats = [pathOf(1), pathOf(TARGET_INDEX)].sort()
    const deployTimeoutMs = budget.cap(options.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS, 'starting the instances')
    const deadline = performance.now() + deployTimeoutMs
    const startInstances = (indexes: number[]): void => {
      for (const index of indexes) agents[index].send({ kind: 'changeState', instancePath: pathOf(index), state: 'DEPLOYED_STARTED' })
    }
    const untilStarted = async (indexes: number[]): Promise<void> => {
      await Promise.all(indexes.map(async index => {
        await agents[index].waitFor('status', m => m.instancePath === pathOf(index) && m.status === 'DEPLOYED_STARTED' &&
          (index <= TARGET_INDEX || sameSet(m.imports.Tomcat ?? [], tomcats)), Math.max(1, deadline - performance.now()))
      }))
    }
    if (perProcess > 1) {
      // Packed (the scale mode): the owners first, then one process's Apaches at a time, each group started with both
      // Tomcats before the next. All at once, every starting Apache asked every agent for its imports and each request
      // made the Tomcats re-announce to every importer: at 300 agents, 265 of 297 Apaches were still DEPLOYING after
      // 180 s on a quiet host. The deployment's total time is the same bound (deployTimeoutMs).
      const owners = [0, 1, TARGET_INDEX]
      startInstances(owners)
      await untilStarted(owners)
      let done = 0
      for (const group of layout.filter(g => g.some(index => index > TARGET_INDEX))) {
        startInstances(group)
        await untilStarted(group)
        done += group.length
        const deployed = await options.meter?.mark('deploy')
        report(`${options.transport}: ${done}/${importerIndexes.length} Apaches started with both Tomcats (${Math.round(performance.now() - startedAt)} ms${cpuText(deployed, hosts)})`)
      }
    } else {
      startInstances(Array.from({ length: options.agents }, (_, index) => index))
      await untilStarted(importerIndexes)
      await options.meter?.mark('deploy')
    }
    report(`${options.transport}: every Apache started with both Tomcats`)
    return {
      app,
      agents,
      hosts,
      target: agents[TARGET_INDEX],
      targetPath: pathOf(TARGET_INDEX),
      stable: agents[1],
      stablePath: pathOf(1),
      importers: importerIndexes.map(i => agents[i]),
      importerPaths: importerIndexes.map(pathOf),
      stop
    }
  } catch (err) {
    // A process that died says why once, in full (its hosted agents would repeat the end of it): the last error's stack.
    const dead = hosts.filter(h => !h.alive)
    for (const host of dead) report(`${host.name} (${host.agents.length} agents) exited, ${host.endedBy ?? 'unknown'}; stderr: ${lastError(host.stderr())}`)
    for (const agent of agents) if (agent !== undefined && !dead.includes(agent.host)) report(`${agent.name}: ${agent.describeLast()}`)
    await stop()
    throw err
  }
}

/**
 * A stretch's CPU for a progress line: `, 12.3 CPU-s agents (owners 2.1, newest 6.0), 0.4 bench` (empty without a
 * meter): the owners' processes (one agent each) and the last process forked, apart.
 */
function cpuText (stretch: CpuStretch | undefined, hosts: readonly AgentHost[]): string {
  if (stretch === undefined) return ''
  const s = (ms: number): string => (ms / 1000).toFixed(1)
  const of = (pids: number[]): number => pids.reduce((sum, pid) => sum + (stretch.byPid.get(pid) ?? 0), 0)
  const owners = of(hosts.filter(h => h.agents.length === 1 && h.alive).map(h => h.pid))
  const newest = hosts.at(-1)
  const last = newest !== undefined && newest.agents.length > 1 && newest.alive ? `, newest ${s(of([newest.pid]))}` : ''
  return `, ${s(stretch.agentsCpuMs)} CPU-s agents (owners ${s(owners)}${last}), ${s(stretch.benchCpuMs)} bench`
}

/** The end of a dead process's stderr without its agents' WARN lines: Node's report of what killed it (up to 40 lines). */
export function lastError (stderr: string): string {
  return stderr.trimEnd().split('\n').filter(l => !l.startsWith('WARN ')).slice(-40).join('\n')
}

function sameSet (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((v, i) => v === b[i])
}

/** One toggle of the target Tomcat: per importer, ms from its DEPLOYED_STARTED to the importer's `update`. */
export interface ToggleSample {
  latenciesMs: number[]
  /** Importers whose update did not come within CHANGE_TIMEOUT_MS. */
  missed: number
}

/**
 * Stops the target Tomcat (waits for every importer to see it go), starts it again, and times the updates; each of
 * the two waits lasts at most `timeoutMs` (default CHANGE_TIMEOUT_MS).
 */
export async function toggleTarget (chain: Chain, timeoutMs = CHANGE_TIMEOUT_MS): Promise<ToggleSample> {
  const path = chain.targetPath
  const marks = chain.importers.map(a => a.received.length)
  chain.target.send({ kind: 'changeState', instancePath: path, state: 'DEPLOYED_STOPPED' })
  await Promise.all(chain.importers.map(async (a, i) => {
    await a.waitFor('update', m => m.exporterPath === path && !m.added, timeoutMs, marks[i]).catch(() => {})
  }))
  const targetMark = chain.target.received.length
  const startMarks = chain.importers.map(a => a.received.length)
  chain.target.send({ kind: 'changeState', instancePath: path, state: 'DEPLOYED_STARTED' })
  const started = await chain.target.waitFor('status', m => m.instancePath === path && m.status === 'DEPLOYED_STARTED', timeoutMs, targetMark)
  const t0 = BigInt(started.atNs)
  const outcomes = await Promise.all(chain.importers.map(async (a, i) => {
    try {
      const update = await a.waitFor('update', m => m.exporterPath === path && m.added, timeoutMs, startMarks[i])
      return Number(BigInt(update.atNs) - t0) / 1e6
    } catch {
      return undefined
    }
  }))
  const latenciesMs = outcomes.filter((v): v is number => v !== undefined)
  return { latenciesMs, missed: outcomes.length - latenciesMs.length }
}

/**
 * Applies a failure (`kill -9` of an agent, or cutting its link) and times, per importer, how long until its engine
 * drops the departed exporter's import (the change it reports: an `update`, or a stop when no Tomcat is left).
 * Returns ms per importer that noticed; `missed` did not within `timeoutMs`.
 */
export async function timeDeparture (chain: Chain, exporterPath: string, fail: () => Promise<void>,
  timeoutMs: number): Promise<ToggleSample> {
  const marks = chain.importers.map(a => a.received.length)
  const t0 = process.hrtime.bigint()
  await fail()
  const outcomes = await Promise.all(chain.importers.map(async (a, i) => {
    try {
      const noticed = await a.waitFor('status', m => m.instancePath === chain.importerPaths[i] &&
        !(m.imports.Tomcat ?? []).includes(exporterPath), timeoutMs, marks[i])
      return Number(BigInt(noticed.atNs) - t0) / 1e6
    } catch {
      return undefined
    }
  }))
  const latenciesMs = outcomes.filter((v): v is number => v !== undefined)
  return { latenciesMs, missed: outcomes.length - latenciesMs.length }
}

/**
 * Withdrawals no failure explains: `update`s reporting an exporter gone, at every agent but `cutOff` (which loses
 * everyone when its link is cut), beyond `expected` per exporter path (the toggles and departures the run caused).
 * A live owner withdrawn by mistake (a false failure detection) counts once per withdrawal, even if it comes back.
 */
export function countFalseWithdrawals (chain: Chain, expected: ReadonlyMap<string, number>, cutOff?: BenchAgent): number {
  let falseWithdrawals = 0
  for (const agent of chain.agents) {
    if (agent === cutOff) continue
    const gone = new Map<string, number>()
    for (const m of agent.received) if (m.kind === 'update' && !m.added) gone.set(m.exporterPath, (gone.get(m.exporterPath) ?? 0) + 1)
    for (const [path, count] of gone) falseWithdrawals += Math.max(0, count - (expected.get(path) ?? 0))
  }
  return falseWithdrawals
}
