// Shared by the messaging tests: one harness per implementation (memory, embedded, amqp), so that the same
// contract runs over all three, plus ways to inject raw bytes on each wire and to clean RabbitMQ up.
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import WebSocket from 'ws'
import {
  agentQueueName, agentRoutingKey, agentsExchangeName, dmExchangeName, dmQueueName, machineDmRoutingKey
} from '../protocol/broker-names.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { createAgentLink } from '../agent/link/index.js'
import { findMemoryHub } from '../link/memory-hub.js'
import type { AgentLink } from '../agent/link/types.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import type { DmMessaging } from '../manager/messaging/types.js'
import { type Logger } from '../common/log.js'

export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

/** Collects log lines instead of printing them (tests assert on them when useful). */
export function captureLogger (): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    debug: () => {},
    info: line => { lines.push(`info ${line}`) },
    warn: line => { lines.push(`warn ${line}`) },
    error: line => { lines.push(`error ${line}`) }
  }
}

export interface Harness {
  kind: 'memory' | 'embedded' | 'amqp'
  dm: DmMessaging
  /** Log lines of the DM and of the links. */
  logs: string[]
  /** A started link for one agent (stopped at teardown). */
  agent: (application: string, scopedInstancePath: string) => Promise<AgentLink>
  /** Puts raw bytes on the wire towards the DM, as the agent of (application, path) would. */
  injectToDm: (application: string, scopedInstancePath: string, raw: string) => Promise<void>
  /** Puts raw bytes on the wire towards an agent, as the DM would (undefined: the transport has no third party). */
  injectToAgent?: (application: string, scopedInstancePath: string, raw: string) => Promise<void>
  close: () => Promise<void>
}

/** Makes a started DmMessaging of one kind, with a unique RabbitMQ domain for amqp. */
export async function createHarness (kind: Harness['kind'], applications: string[]): Promise<Harness> {
  const logger = captureLogger()
  const domain = `meshconf-test-${randomUUID().slice(0, 8)}`
  const dmToken = randomUUID()
  const dm = createDmMessaging(
    kind === 'amqp'
      ? { kind, url: AMQP_URL, domain }
      : kind === 'embedded' ? { kind, port: 0, dmToken } : { kind }, { logger })
  await dm.start()
  const links: AgentLink[] = []
  const sockets: WebSocket[] = []
  /** Each machine's endpoint, made once (with RabbitMQ's management API, a machine's broker user). */
  const endpoints = new Map<string, AgentEndpoint>()
  const endpointOf = async (application: string, scopedInstancePath: string): Promise<AgentEndpoint> => {
    const key = JSON.stringify([application, scopedInstancePath])
    let endpoint = endpoints.get(key)
    if (endpoint === undefined) {
      await dm.provisionAgent?.({ application, scopedInstancePath })
      endpoint = dm.agentEndpoint({ application, scopedInstancePath })
      endpoints.set(key, endpoint)
    }
    return endpoint
  }
  let raw: amqp.ChannelModel | undefined
  const rawChannel = async (): Promise<amqp.ConfirmChannel> => {
    raw ??= await amqp.connect(AMQP_URL, { noDelay: true })
    return await raw.createConfirmChannel()
  }
  const harness: Harness = {
    kind,
    dm,
    logs: logger.lines,
    agent: async (application, scopedInstancePath) => {
      const link = createAgentLink({ endpoint: await endpointOf(application, scopedInstancePath), application, scopedInstancePath, logger })
      links.push(link)
      await link.start()
      return link
    },
    injectToDm: async (application, scopedInstancePath, text) => {
      if (kind === 'memory') {
        const endpoint = dm.agentEndpoint()
        if (endpoint.kind !== 'memory') throw new Error('not a memory endpoint')
        findMemoryHub(endpoint.hub).toDm.push({ application, scopedInstancePath, raw: text })
      } else if (kind === 'embedded') {
        const endpoint = dm.agentEndpoint()
        if (endpoint.kind !== 'embedded') throw new Error('not an embedded endpoint')
        const socket = new WebSocket(endpoint.url)
        sockets.push(socket)
        await new Promise<void>((resolve, reject) => { socket.once('open', () => resolve()); socket.once('error', reject) })
        const welcomed = new Promise<void>(resolve => socket.once('message', () => resolve()))
        socket.send(JSON.stringify({ t: 'hello', v: 1, application, scopedInstancePath, token: dmToken, epoch: randomUUID() }))
        await welcomed
        socket.send(text)
      } else {
        // As the machine's agent: its own broker user (when it has one), its user id and its routing key.
        const endpoint = await endpointOf(application, scopedInstancePath)
        if (endpoint.kind !== 'amqp') throw new Error('not an amqp endpoint')
        const connection = await amqp.connect(endpoint.url, { noDelay: true })
        const channel = await connection.createConfirmChannel()
        const user = decodeURIComponent(new URL(endpoint.url).username)
        channel.publish(dmExchangeName(domain), machineDmRoutingKey(application, scopedInstancePath), Buffer.from(text),
          endpoint.ownUser === true ? { userId: user } : {})
        await channel.waitForConfirms()
        await connection.close()
      }
    },
    injectToAgent: kind === 'embedded'
      ? undefined
      : async (application, scopedInstancePath, text) => {
        if (kind === 'memory') {
          const endpoint = dm.agentEndpoint()
          if (endpoint.kind !== 'memory') throw new Error('not a memory endpoint')
          findMemoryHub(endpoint.hub).agentMailbox(application, scopedInstancePath).push(text)
          return
        }
        const channel = await rawChannel()
        channel.publish(agentsExchangeName(domain, application), agentRoutingKey(scopedInstancePath), Buffer.from(text))
        await channel.waitForConfirms()
        await channel.close()
      },
    close: async () => {
      for (const link of links) await link.stop()
      for (const socket of sockets) socket.terminate()
      for (const application of applications) await dm.deleteApplication(application)
      await dm.stop()
      if (kind === 'amqp') {
        const channel = await rawChannel()
        await channel.deleteQueue(dmQueueName(domain))
        await channel.deleteExchange(dmExchangeName(domain))
        await channel.close()
      }
      await raw?.close()
    }
  }
  return harness
}

/** Deletes what an amqp test declared under `domain` for these scoped instances (when no DmMessaging is left to). */
export async function deleteAmqpNames (url: string, domain: string, agents: Array<[string, string]>): Promise<void> {
  const connection = await amqp.connect(url, { noDelay: true })
  const channel = await connection.createChannel()
  for (const [application, path] of agents) {
    await channel.deleteQueue(agentQueueName(domain, application, path))
    await channel.deleteExchange(agentsExchangeName(domain, application))
  }
  await channel.deleteQueue(dmQueueName(domain))
  await channel.deleteExchange(dmExchangeName(domain))
  await connection.close()
}

export function heartbeat (application: string, scopedInstancePath: string, extra: Partial<AgentToDmMessage> = {}): AgentToDmMessage {
  return { v: 1, kind: 'heartbeat', application, scopedInstancePath, ipAddress: '127.0.0.1', modelRequired: true, ...extra } as AgentToDmMessage
}

export function removeInstance (instancePath: string): DmToAgentMessage {
  return { v: 1, kind: 'removeInstance', instancePath }
}

export function uniqueApplication (label: string): string {
  return `${label} ${randomUUID().slice(0, 6)}`
}
