// The DM's Prometheus metrics (prom-client, a registry of its own): instances by application, component and state;
// machines by target and state; agents' heartbeat age; agent messages in and out by kind; REST request latency;
// deploy and start durations; events stored. Gauges are read from the DM at each scrape.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { serveMetricsEndpoint } from '../common/metrics-endpoint.js'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import { DATA_TARGET_ID } from './constants.js'
import type { DeploymentManager, InstanceView, PublishedEvent } from './dm.js'
import type { AgentMachine, DmMessaging } from './messaging/types.js'
import type { Store } from './store.js'

/** Buckets of the REST latency histogram, in seconds. */
const REST_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]
/** Buckets of the deploy and start durations, in seconds. */
const ACTION_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
/** Actions whose start the metrics remember at most (instances in the middle of a deploy or start). */
const MAX_ACTIONS_IN_FLIGHT = 100_000

export interface DmMetrics {
  readonly contentType: string
  /** The exposition text. */
  text (): Promise<string>
  /** A REST request answered, `durationMs` after it came (`route`: the route's pattern, not the URL). */
  observeRequest (method: string, route: string, statusCode: number, durationMs: number): void
  /** The messaging, counting the messages in and out by kind. */
  countMessages (messaging: DmMessaging): DmMessaging
  /** Follows the DM's events (deploy and start durations); returns the unsubscribe function. */
  follow (dm: DeploymentManager): () => void
}

function flatten (nodes: InstanceView[]): InstanceView[] {
  return nodes.flatMap(n => [n, ...flatten(n.children)])
}

export function createDmMetrics (components: { dm: () => DeploymentManager | undefined, store: Store }): DmMetrics {
  const { store } = components
  const registry = new Registry()
  const applications = (): Array<{ name: string, instances: InstanceView[] }> => {
    const dm = components.dm()
    return dm === undefined ? [] : dm.listApplications().map(a => ({ name: a.name, instances: dm.instances(a.name) }))
  }
  new Gauge({
    name: 'meshconf_instances', help: 'instances by application, component and state', labelNames: ['application', 'component', 'state'], registers: [registry],
    collect () {
      this.reset()
      for (const app of applications()) {
        const counts = new Map<string, { component: string, state: string, n: number }>()
        for (const i of flatten(app.instances)) {
          const key = `${i.component}\u0000${i.status}`
          const entry = counts.get(key) ?? { component: i.component, state: i.status, n: 0 }
          entry.n++
          counts.set(key, entry)
        }
        for (const c of counts.values()) this.set({ application: app.name, component: c.component, state: c.state }, c.n)
      }
    }
  })
  new Gauge({
    name: 'meshconf_machines', help: 'machines (root instances) by target and state', labelNames: ['target', 'state'], registers: [registry],
    collect () {
      this.reset()
      const counts = new Map<string, number>()
      for (const app of applications()) {
        for (const root of app.instances) {
          const key = `${root.data[DATA_TARGET_ID] ?? 'none'}\u0000${root.status}`
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
      }
      for (const [key, n] of counts) {
        const [target, state] = key.split('\u0000')
        this.set({ target, state }, n)
      }
    }
  })
  new Gauge({
    name: 'meshconf_agent_heartbeat_age_seconds', help: 'time since each agent\'s last heartbeat', labelNames: ['application', 'machine'], registers: [registry],
    collect () {
      this.reset()
      const now = Date.now()
      for (const app of applications()) {
        for (const agent of store.agents(app.name)) {
          this.set({ application: app.name, machine: agent.scopedInstancePath }, Math.max(0, (now - Date.parse(agent.lastHeartbeatAt)) / 1000))
        }
      }
    }
  })
  new Gauge({
    name: 'meshconf_events_stored', help: 'events in the DM\'s history', registers: [registry],
    collect () { this.set(components.dm()?.eventCount() ?? 0) }
  })
  /** The messaging whose refusals are shown (the one `countMessages` wrapped). */
  let counted: DmMessaging | undefined
  new Gauge({
    name: 'meshconf_agent_messages_rejected', help: 'messages from agents refused since the DM started (invalid, or speaking for another machine or application)', registers: [registry],
    collect () { this.set(counted?.metrics().rejected ?? 0) }
  })
  const messages = new Counter({ name: 'meshconf_agent_messages_total', help: 'messages between the DM and its agents, by direction and kind', labelNames: ['direction', 'kind'], registers: [registry] })
  const requests = new Histogram({
    name: 'meshconf_rest_request_duration_seconds', help: 'REST requests, by method, route and status', labelNames: ['method', 'route', 'status_code'], buckets: REST_BUCKETS_S, registers: [registry]
  })
  const actions = new Histogram({
    name: 'meshconf_action_duration_seconds', help: 'deploys (DEPLOYING to deployed) and starts (STARTING to DEPLOYED_STARTED), by action and component',
    labelNames: ['action', 'component'], buckets: ACTION_BUCKETS_S, registers: [registry]
  })
  return {
    contentType: registry.contentType,
    text: async () => await registry.metrics(),
    observeRequest (method, route, statusCode, durationMs) {
      requests.observe({ method, route, status_code: String(statusCode) }, durationMs / 1000)
    },
    countMessages (messaging) {
      counted = messaging
      // every method named (no spread: the transports are classes), so a new one is a type error here until added
      return {
        start: () => messaging.start(),
        stop: () => messaging.stop(),
        prepareAgent: (application, path) => messaging.prepareAgent(application, path),
        forgetAgent: (application, path) => messaging.forgetAgent(application, path),
        deleteApplication: application => messaging.deleteApplication(application),
        agentEndpoint: machine => messaging.agentEndpoint(machine),
        ...(messaging.provisionAgent !== undefined ? { provisionAgent: async (machine: AgentMachine) => { await messaging.provisionAgent?.(machine) } } : {}),
        metrics: () => messaging.metrics(),
        ...(messaging.connected !== undefined ? { connected: () => messaging.connected?.() ?? true } : {}),
        sendToAgent: async (application, path, msg) => {
          messages.inc({ direction: 'out', kind: msg.kind })
          await messaging.sendToAgent(application, path, msg)
        },
        onAgentMessage: handler => {
          messaging.onAgentMessage(msg => {
            messages.inc({ direction: 'in', kind: msg.kind })
            return handler(msg)
          })
        }
      }
    },
    follow (dm) {
      const begun = new Map<string, { at: number, action: 'deploy' | 'start' }>()
      const done: Partial<Record<InstanceStatus, 'deploy' | 'start'>> = { DEPLOYED_STOPPED: 'deploy', DEPLOYED_STARTED: 'start' }
      return dm.onEvent((event: PublishedEvent) => {
        if (event.type !== 'instance') return
        const key = `${event.application}\u0000${event.path}`
        const at = Date.parse(event.at)
        const began = begun.get(key)
        if (event.status === 'DEPLOYING' || event.status === 'STARTING') {
          if (begun.size < MAX_ACTIONS_IN_FLIGHT) begun.set(key, { at, action: event.status === 'DEPLOYING' ? 'deploy' : 'start' })
          return
        }
        begun.delete(key)
        // a machine goes from DEPLOYING to DEPLOYED_STARTED: its deploy
        if (began === undefined || (done[event.status] === undefined && event.status !== 'DEPLOYED_STARTED')) return
        let component = 'unknown'
        try {
          component = dm.instance(event.application, event.path).component
        } catch { /* deleted meanwhile */ }
        actions.observe({ action: began.action, component }, Math.max(0, at - began.at) / 1000)
      })
    }
  }
}

export interface MetricsServer {
  /** `http://host:port` */
  url: string
  close (): Promise<void>
}

/** Serves GET /metrics alone, without a token, on its own port (dm start --metrics-port). */
export async function serveMetrics (metrics: DmMetrics, host: string, port: number): Promise<MetricsServer> {
  const endpoint = await serveMetricsEndpoint(async () => await metrics.text(), metrics.contentType, host, port)
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${endpoint.port}`, close: endpoint.close }
}
