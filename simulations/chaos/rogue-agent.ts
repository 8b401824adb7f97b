// A hostile actor of the chaos runs: a rogue agent holding the valid credential of one machine (read from that
// machine's params file, as an attacker owning that machine would) that speaks to the DM for another machine of the
// application: it says hello (a heartbeat) as the other machine, reports it down, and removes its instances. On
// RabbitMQ the DM must refuse every attempt (per-machine broker users and `user_id`, or per-machine message
// signatures without the management API: manager/messaging/amqp.ts) and count it in its refused messages. It also
// publishes commands "from the DM" to the other machine's queue (a shared broker user may): the victim's agent must
// refuse them (signed commands, DM_COMMAND_HEADERS) and log each refusal.
import { randomBytes } from 'node:crypto'
import amqp from 'amqplib'
import {
  AGENT_SIGNATURE_HEADERS, DM_COMMAND_HEADERS, agentRoutingKey, agentsExchangeName, dmExchangeName,
  machineDmRoutingKey, signAgentMessage
} from '../../protocol/broker-names.js'
import { toAgent, toDm, type AgentToDmMessage } from '../../protocol/messages.js'
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'

/** One forged message, ready to publish on the DM's exchange. */
export interface RogueAttempt {
  /** What it tries, for the report. */
  name: string
  /** Where it is published: the DM's exchange (default), or the application's agents' exchange (a forged command). */
  to?: 'dm' | 'agent'
  routingKey: string
  content: Buffer
  headers: Record<string, string | number>
  /** The AMQP `user_id` property (the broker checks it is the connection's user); none: unset. */
  userId?: string
}

/** The machine whose credential the rogue holds. */
export interface StolenCredential { application: string, scopedInstancePath: string, endpoint: Extract<AgentEndpoint, { kind: 'amqp' }> }

/** The machine the rogue speaks for: its scoped path and one of its instances. */
export interface RogueVictim { scopedInstancePath: string, instancePath: string }

/**
 * The forged messages a rogue holding `stolen` sends about `victim`. With a machine's own broker user: published with
 * that user (and its `user_id`), with and without the user id. With a message key: signed with it, once claiming the
 * victim's path (an impostor hello), once claiming its own; and once unsigned.
 */
export function rogueAgentAttempts (stolen: StolenCredential, victim: RogueVictim): RogueAttempt[] {
  const { application, endpoint } = stolen
  if (victim.scopedInstancePath === stolen.scopedInstancePath) throw new Error(`the rogue's victim must be another machine than ${stolen.scopedInstancePath}`)
  const hello = toDm({ kind: 'heartbeat', application, scopedInstancePath: victim.scopedInstancePath, ipAddress: '192.0.2.66', modelRequired: true })
  const down = toDm({ kind: 'machineDown', application, scopedInstancePath: victim.scopedInstancePath })
  const removed = toDm({ kind: 'instanceRemoved', application, instancePath: victim.instancePath })
  const routingKey = machineDmRoutingKey(application, stolen.scopedInstancePath)
  const body = (msg: AgentToDmMessage): Buffer => Buffer.from(JSON.stringify(msg))
  if (endpoint.ownUser === true) {
    const userId = decodeURIComponent(new URL(endpoint.url).username)
    return [
      { name: `hello as ${victim.scopedInstancePath} with ${stolen.scopedInstancePath}'s broker user`, routingKey, content: body(hello), headers: {}, userId },
      { name: `machineDown of ${victim.scopedInstancePath} with ${stolen.scopedInstancePath}'s broker user`, routingKey, content: body(down), headers: {}, userId },
      { name: `instanceRemoved of ${victim.instancePath} with ${stolen.scopedInstancePath}'s broker user`, routingKey, content: body(removed), headers: {}, userId },
      { name: `machineDown of ${victim.scopedInstancePath} without a user id`, routingKey, content: body(down), headers: {} }
    ]
  }
  const key = endpoint.messageKey
  if (key === undefined) throw new Error(`${stolen.scopedInstancePath}'s endpoint holds no credential of its own (no broker user, no message key)`)
  const signed = (msg: AgentToDmMessage, claimedPath: string): { content: Buffer, headers: Record<string, string | number> } => {
    const content = body(msg)
    return {
      content,
      headers: { [AGENT_SIGNATURE_HEADERS.path]: claimedPath, [AGENT_SIGNATURE_HEADERS.generation]: key.generation, [AGENT_SIGNATURE_HEADERS.signature]: signAgentMessage(key.key, content) }
    }
  }
  return [
    { name: `hello as ${victim.scopedInstancePath} signed with ${stolen.scopedInstancePath}'s key`, routingKey: machineDmRoutingKey(application, victim.scopedInstancePath), ...signed(hello, victim.scopedInstancePath) },
    { name: `hello as ${victim.scopedInstancePath}, ${stolen.scopedInstancePath}'s own signature`, routingKey, ...signed(hello, stolen.scopedInstancePath) },
    { name: `machineDown of ${victim.scopedInstancePath}, ${stolen.scopedInstancePath}'s own signature`, routingKey, ...signed(down, stolen.scopedInstancePath) },
    { name: `instanceRemoved of ${victim.instancePath}, ${stolen.scopedInstancePath}'s own signature`, routingKey, ...signed(removed, stolen.scopedInstancePath) },
    { name: `machineDown of ${victim.scopedInstancePath}, unsigned`, routingKey, content: body(down), headers: {} }
  ]
}

/**
 * Forged commands "from the DM" to the victim's agent, published on the application's agents' exchange with the
 * victim's routing key: one unsigned, one with a made-up signature; both would stop the victim's instance.
 */
export function rogueCommandAttempts (victim: RogueVictim): RogueAttempt[] {
  const stop = Buffer.from(JSON.stringify(toAgent({ kind: 'changeState', instancePath: victim.instancePath, newState: 'NOT_DEPLOYED' })))
  const routingKey = agentRoutingKey(victim.scopedInstancePath)
  return [
    { name: `unsigned command to ${victim.scopedInstancePath}: undeploy ${victim.instancePath}`, to: 'agent', routingKey, content: stop, headers: {} },
    {
      name: `command to ${victim.scopedInstancePath} with a made-up signature: undeploy ${victim.instancePath}`, to: 'agent', routingKey, content: stop,
      headers: { [DM_COMMAND_HEADERS.seq]: Number.MAX_SAFE_INTEGER, [DM_COMMAND_HEADERS.signature]: randomBytes(64).toString('base64') }
    }
  ]
}

/** A refusal of a forged command, as the victim's agent logs it (link/dispatch.ts, agent/link/amqp.ts). */
export const REFUSED_COMMAND_LOG = /dropped a message from the DM \(signature\)/g

/**
 * Publishes the attempts on the broker at `brokerUrl` (the machine's own user and password replace the URL's when the
 * credential is a broker user). Returns how many the broker took (a publish it refuses is refused, not counted here).
 */
export async function runRogueAgent (brokerUrl: string, domain: string, stolen: StolenCredential, attempts: RogueAttempt[]): Promise<number> {
  const url = new URL(brokerUrl)
  if (stolen.endpoint.ownUser === true) {
    const own = new URL(stolen.endpoint.url)
    url.username = own.username
    url.password = own.password
  }
  const connection = await amqp.connect(url.toString(), { noDelay: true })
  connection.on('error', () => {})
  let taken = 0
  try {
    for (const attempt of attempts) {
      // A channel per attempt: a publish the broker refuses closes its channel.
      const channel = await connection.createConfirmChannel()
      channel.on('error', () => {})
      try {
        const exchange = attempt.to === 'agent' ? agentsExchangeName(domain, stolen.application) : dmExchangeName(domain)
        channel.publish(exchange, attempt.routingKey, attempt.content, { headers: attempt.headers, ...(attempt.userId !== undefined ? { userId: attempt.userId } : {}) })
        await channel.waitForConfirms()
        taken++
        await channel.close()
      } catch { /* refused by the broker itself */ }
    }
  } finally {
    await connection.close().catch(() => {})
  }
  return taken
}

/** The DM's count of refused agent messages in its /metrics exposition text (manager/metrics.ts). */
export function rejectedFromMetrics (text: string): number {
  const line = /^meshconf_agent_messages_rejected (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text)
  if (line === null) throw new Error('the DM\'s /metrics has no meshconf_agent_messages_rejected line')
  return Number(line[1])
}
