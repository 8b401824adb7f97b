// The agent's Prometheus metrics (prom-client), served on `metricsPort` of its params at /metrics: imports held,
// connected peers, mesh messages sent and received, import changes received, mesh rejections by reason, the latency from an
// import change to `update`, and recipe durations by step and result. Gauges are read from the mesh at each scrape.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { serveMetricsEndpoint, type MetricsEndpoint } from '../common/metrics-endpoint.js'
import type { MeshView } from './mesh/service.js'
import type { LifecycleObserver } from './ports.js'

/** Buckets of the update latency and recipe duration histograms, in seconds. */
const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const RECIPE_BUCKETS_S = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]

export interface AgentMetrics {
  readonly observer: LifecycleObserver
  /** Counts an import change the mesh reported (`added`, `removed`). */
  importChange (kind: 'added' | 'removed'): void
  /** Serves /metrics on host:port (0: any free port); resolves with the port. */
  listen (host: string, port: number): Promise<number>
  stop (): Promise<void>
  /** The exposition text (tests). */
  text (): Promise<string>
}

export function createAgentMetrics (components: { application: string, machine: string, meshView: () => MeshView | undefined }): AgentMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({ application: components.application, machine: components.machine })
  // A scrape reads the mesh's view once (addresses, peers, held exports, counters), not once per gauge.
  let scraping: { view: MeshView | undefined } | undefined
  const view = (): MeshView | undefined => scraping !== undefined ? scraping.view : components.meshView()
  const read = async (): Promise<string> => {
    scraping = { view: components.meshView() }
    try {
      return await registry.metrics()
    } finally {
      scraping = undefined
    }
  }
  new Gauge({
    name: 'meshconf_agent_held_imports', help: 'exports of other agents this agent holds (imports), by prefix', labelNames: ['prefix'], registers: [registry],
    collect () {
      this.reset()
      const counts = new Map<string, number>()
      for (const held of view()?.held ?? []) counts.set(held.prefix, (counts.get(held.prefix) ?? 0) + 1)
      for (const [prefix, n] of counts) this.set({ prefix }, n)
    }
  })
  new Gauge({
    name: 'meshconf_agent_connected_peers', help: 'mesh peers this agent is connected to', registers: [registry],
    collect () { this.set(view()?.connectedPeers.length ?? 0) }
  })
  new Gauge({
    name: 'meshconf_agent_mesh_messages_sent', help: 'mesh messages this agent published (gossip forwarding not counted)', registers: [registry],
    collect () { this.set(view()?.sent.messages ?? 0) }
  })
  new Gauge({
    name: 'meshconf_agent_mesh_messages_received', help: 'mesh messages this agent received (gossip and direct, rejected ones included)', registers: [registry],
    collect () { this.set(view()?.received?.messages ?? 0) }
  })
  new Gauge({
    name: 'meshconf_agent_mesh_rejections', help: 'mesh messages this agent rejected, by reason', labelNames: ['reason'], registers: [registry],
    collect () {
      this.reset()
      for (const [reason, n] of Object.entries(view()?.rejections ?? {})) this.set({ reason }, n ?? 0)
    }
  })
  const importChanges = new Counter({ name: 'meshconf_agent_import_changes_total', help: 'import changes the mesh reported to this agent', labelNames: ['kind'], registers: [registry] })
  const updateLatency = new Histogram({
    name: 'meshconf_agent_update_latency_seconds', help: 'from an import change reported by the mesh to the start of the importer\'s update', buckets: LATENCY_BUCKETS_S, registers: [registry]
  })
  const recipes = new Histogram({
    name: 'meshconf_agent_recipe_duration_seconds', help: 'plug-in steps, by step and result', labelNames: ['step', 'result'], buckets: RECIPE_BUCKETS_S, registers: [registry]
  })
  let server: MetricsEndpoint | undefined
  return {
    observer: {
      step: (step, result, durationMs) => { recipes.observe({ step, result }, durationMs / 1000) },
      update: latencyMs => { updateLatency.observe(latencyMs / 1000) }
    },
    importChange: kind => { importChanges.inc({ kind }) },
    text: read,
    async listen (host, port) {
      server = await serveMetricsEndpoint(read, registry.contentType, host, port)
      return server.port
    },
    async stop () {
      await server?.close()
    }
  }
}
