// The inter-application figure of `npm run bench` (issue 21): an exporter change in one application to `update` at the
// importers of another, over the domain exchange (agent/mesh/domain.ts). Application A has BENCH_AGENTS agents, each a
// Source exporting `Source.ip as ip, Source.port as port` under the prefix Ext; application B has BENCH_AGENTS agents,
// each a Sink importing `external Ext.ip, Ext.port`, bound to A. One Source is toggled (stopped, started) as the
// internal chain's Tomcat is, and every Sink's `update` is timed against the moment that Source reached
// DEPLOYED_STARTED. Agent processes are the benchmark's (agent-process.ts), with the keys one DM would give them.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { domainPnetKey, signBinding, signExternalOwnership, type DomainParameters } from '../../protocol/domain.js'
import { createDmSigningKey, generatePnetKey, signOwnership } from '../../protocol/mesh.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import { AgentHost, stopAll, type BenchAgent } from './agents.js'
import { AGENT_START_TIMEOUT_MS, BENCH_AGENTS, CHANGE_TIMEOUT_MS, DEPLOY_TIMEOUT_MS, MAX_INTER_APP_BOOTSTRAP_PEERS, SETTLE_MS } from './bench-constants.js'
import { cpuTimeMs, percentile, round2 } from './stats.js'

/** What the inter-application figure adds to the report (null when not measured). */
export interface InterAppBench {
  agents_per_application: number
  reconfigure_p50_ms: number | null
  reconfigure_p99_ms: number | null
  /** reconfigure_p50_ms over the internal chain's p50 of the same run (goal: at most 1.5). */
  ratio_to_internal_p50: number | null
  /**
   * CPU (user + system, from /proc) per change of the toggled Source, in ms: the mean of the importers (Sinks), and
   * the exporter's; a change is a stop or a start. Steadier than the latencies on a loaded host.
   */
  importer_cpu_ms_per_change: number | null
  exporter_cpu_ms_per_change: number | null
  missed: number
}

export const INTER_APP_NOT_MEASURED: InterAppBench = {
  agents_per_application: BENCH_AGENTS, reconfigure_p50_ms: null, reconfigure_p99_ms: null, ratio_to_internal_p50: null,
  importer_cpu_ms_per_change: null, exporter_cpu_ms_per_change: null, missed: 0
}

const PREFIX = 'Ext'
const component = (name: string, exports: Record<string, string | null>, imports: string[], children: string[] = []): Component => ({
  name, installer: 'logger', exports, randomExports: [], facets: [], extendsChain: [], children,
  imports: imports.map(i => ({ name: i, optional: false, external: true }))
})
const COMPONENTS: Record<string, Component> = {
  VM: component('VM', {}, [], ['Source', 'Sink']),
  Source: component('Source', { 'Source.ip': null, 'Source.port': '5000' }, []),
  Sink: component('Sink', { 'Sink.ip': null }, [`${PREFIX}.ip`, `${PREFIX}.port`])
}

function scoped (vm: string, child: 'Source' | 'Sink'): Instance {
  const leaf: Instance = { name: child, component: child, path: `/${vm}/${child}`, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }
  return { name: vm, component: 'VM', path: `/${vm}`, overriddenExports: {}, data: { 'ip.address': '127.0.0.1' }, channels: [], status: 'NOT_DEPLOYED', children: [leaf] }
}

/** Toggles the first Source `toggles` times; every Sink's update latency, in ms. */
export async function measureInterApp (toggles: number, internalP50Ms: number | null, log: (line: string) => void): Promise<InterAppBench> {
  const workDir = await mkdtemp(join(tmpdir(), 'meshconf-bench-interapp-'))
  const dmKey = createDmSigningKey()
  const domainKey = domainPnetKey(dmKey)
  const run = `${process.pid}-${Date.now().toString(36)}`
  const exporterApp = `exporter-${run}`
  const importerApp = `importer-${run}`
  const pnet = { [exporterApp]: generatePnetKey(), [importerApp]: generatePnetKey() }
  const hosts: AgentHost[] = []
  const sources: BenchAgent[] = []
  const sinks: BenchAgent[] = []
  const domainReady: string[][] = []
  const meshReady: Record<string, string[][]> = { [exporterApp]: [], [importerApp]: [] }
  const binding = signBinding(dmKey, { application: importerApp, prefix: PREFIX, exporters: [exporterApp], version: 1 })
  try {
    // one agent per process, as a machine's; every process boots at once (the boots overlap), then each gets its
    // model in turn, bootstrapping from the agents configured before it
    const spawnAgent = async (child: 'Source' | 'Sink', index: number): Promise<BenchAgent> => {
      const stateDir = join(workDir, `${child}-${index}`)
      await mkdir(stateDir, { recursive: true })
      const host = new AgentHost({ name: `/${child} VM ${index}`, stateDirs: [stateDir] })
      hosts.push(host)
      return host.agents[0]
    }
    const booting = { Source: [] as BenchAgent[], Sink: [] as BenchAgent[] }
    for (const child of ['Source', 'Sink'] as const) {
      for (let i = 1; i <= BENCH_AGENTS; i++) booting[child].push(await spawnAgent(child, i))
    }
    const start = async (application: string, child: 'Source' | 'Sink', index: number): Promise<BenchAgent> => {
      const vm = `${child} VM ${index}`
      const agent = booting[child][index - 1]
      const { peerId } = await agent.waitFor('hello', () => true, AGENT_START_TIMEOUT_MS)
      const instance = scoped(vm, child)
      const model: ScopedModel = {
        application, scopedInstancePath: instance.path, components: COMPONENTS, instance,
        externalExports: child === 'Source' ? { 'Source.ip': 'ip', 'Source.port': 'port' } : {},
        ...(child === 'Source' ? { externalExportsPrefix: PREFIX } : {})
      }
      const domain: DomainParameters = {
        pnetKey: domainKey,
        bootstrapPeers: domainReady.slice(-MAX_INTER_APP_BOOTSTRAP_PEERS).flat(),
        ...(child === 'Source' ? { ownership: signExternalOwnership(dmKey, { peerId, application, prefix: PREFIX, scopedInstancePath: instance.path, generation: 0 }) } : {}),
        bindings: child === 'Sink' ? [binding] : []
      }
      const parameters: MeshParameters = {
        bootstrapPeers: meshReady[application].slice(-MAX_INTER_APP_BOOTSTRAP_PEERS).flat(), pnetKey: pnet[application],
        ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath: instance.path }), trustedDmKeys: [dmKey.publicKey], domain
      }
      agent.send({ kind: 'model', model, parameters, transport: 'mesh' })
      const ready = await agent.waitFor('ready', () => true, AGENT_START_TIMEOUT_MS)
      domainReady.push(ready.domainAddresses ?? [])
      meshReady[application].push(ready.addresses)
      agent.send({ kind: 'changeState', instancePath: `${instance.path}/${child}`, state: 'DEPLOYED_STARTED' })
      return agent
    }
    for (let i = 1; i <= BENCH_AGENTS; i++) sources.push(await start(exporterApp, 'Source', i))
    for (let i = 1; i <= BENCH_AGENTS; i++) sinks.push(await start(importerApp, 'Sink', i))
    const sinkPath = (i: number): string => `/Sink VM ${i + 1}/Sink`
    await Promise.all(sinks.map(async (sink, i) => {
      await sink.waitFor('status', m => m.instancePath === sinkPath(i) && m.status === 'DEPLOYED_STARTED' && (m.imports[PREFIX] ?? []).length === BENCH_AGENTS, DEPLOY_TIMEOUT_MS)
    }))
    log(`inter-app: ${BENCH_AGENTS} Sinks started, each holding the ${BENCH_AGENTS} Sources of the other application`)
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

    const target = sources[0]
    const path = '/Source VM 1/Source'
    const latencies: number[] = []
    let missed = 0
    const cpuOf = async (agents: BenchAgent[]): Promise<number[]> => await Promise.all(agents.map(async a => await cpuTimeMs(a.pid)))
    const [sinksCpuBefore, targetCpuBefore] = [await cpuOf(sinks), await cpuOf([target])]
    for (let t = 0; t < toggles; t++) {
      const marks = sinks.map(s => s.received.length)
      target.send({ kind: 'changeState', instancePath: path, state: 'DEPLOYED_STOPPED' })
      await Promise.all(sinks.map(async (s, i) => { await s.waitFor('update', m => m.exporterPath === path && !m.added, CHANGE_TIMEOUT_MS, marks[i]).catch(() => {}) }))
      const targetMark = target.received.length
      const startMarks = sinks.map(s => s.received.length)
      target.send({ kind: 'changeState', instancePath: path, state: 'DEPLOYED_STARTED' })
      const started = await target.waitFor('status', m => m.instancePath === path && m.status === 'DEPLOYED_STARTED', CHANGE_TIMEOUT_MS, targetMark)
      const t0 = BigInt(started.atNs)
      const outcomes = await Promise.all(sinks.map(async (s, i) => {
        try {
          const update = await s.waitFor('update', m => m.exporterPath === path && m.added, CHANGE_TIMEOUT_MS, startMarks[i])
          return Number(BigInt(update.atNs) - t0) / 1e6
        } catch {
          return undefined
        }
      }))
      const got = outcomes.filter((v): v is number => v !== undefined)
      latencies.push(...got)
      missed += outcomes.length - got.length
      log(`inter-app toggle ${t + 1}/${toggles}: slowest update ${got.length === 0 ? 'none' : `${Math.max(...got).toFixed(1)} ms`}, ${outcomes.length - got.length} missed`)
    }
    const [sinksCpuAfter, targetCpuAfter] = [await cpuOf(sinks), await cpuOf([target])]
    const changes = 2 * toggles
    const meanMs = (after: number[], before: number[]): number | null =>
      changes === 0 ? null : round2(after.reduce((sum, ms, i) => sum + ms - before[i], 0) / after.length / changes)
    const p50 = latencies.length === 0 ? null : round2(percentile(latencies, 50))
    return {
      agents_per_application: BENCH_AGENTS,
      reconfigure_p50_ms: p50,
      reconfigure_p99_ms: latencies.length === 0 ? null : round2(percentile(latencies, 99)),
      ratio_to_internal_p50: p50 !== null && internalP50Ms !== null && internalP50Ms > 0 ? round2(p50 / internalP50Ms) : null,
      importer_cpu_ms_per_change: meanMs(sinksCpuAfter, sinksCpuBefore),
      exporter_cpu_ms_per_change: meanMs(targetCpuAfter, targetCpuBefore),
      missed
    }
  } finally {
    await stopAll(hosts)
    await rm(workDir, { recursive: true, force: true })
  }
}

/** The report's rows of the inter-application figure. */
export function interAppRows (r: InterAppBench): Array<[string, string, string]> {
  const show = (v: number | null, unit = ''): string => v === null ? 'n/a' : `${v}${unit}`
  return [
    [`reconfigure p50 / p99, across applications (${r.agents_per_application} + ${r.agents_per_application} agents)`,
      `${show(r.reconfigure_p50_ms, ' ms')} / ${show(r.reconfigure_p99_ms, ' ms')}${r.missed > 0 ? `, ${r.missed} missed` : ''}`, ''],
    ['across applications p50 / mesh p50', show(r.ratio_to_internal_p50), '<= 1.5'],
    ['CPU per change across applications: an importer / the exporter', `${show(r.importer_cpu_ms_per_change, ' ms')} / ${show(r.exporter_cpu_ms_per_change, ' ms')}`, '']
  ]
}
