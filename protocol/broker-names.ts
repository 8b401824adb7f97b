// RabbitMQ names, headers and signatures that the DM and its agents share. DM -> agent: topic exchange
// `<domain>.<application>.agents`, routing key `machine.<path>`, one durable queue per scoped instance
// `<domain>.<application>.<path>`. Agent -> DM: topic exchange `<domain>.dm`, routing key `<application>`, consumed
// by the DM through the durable queue `<domain>.dm`.
import { createHash, createHmac } from 'node:crypto'

export const DEFAULT_MESSAGING_DOMAIN = 'meshconf'

/** Longest escaped word kept as is (characters); longer ones are shortened with a hash (AMQP names <= 255 bytes). */
const MAX_ROUTING_WORD_CHARS = 100

/**
 * Turns an application name or instance path into one topic word: only [A-Za-z0-9_%-] remain, so `.` (word
 * separator), `*` and `#` (wildcards) never appear, and distinct inputs give distinct words.
 */
export function routingWord (text: string): string {
  const escaped = encodeURIComponent(text).replace(/[.!~*'()]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  if (escaped.length <= MAX_ROUTING_WORD_CHARS) return escaped
  return `${escaped.slice(0, 60)}~${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
}

export function agentsExchangeName (domain: string, application: string): string {
  return `${domain}.${routingWord(application)}.agents`
}

export function agentRoutingKey (scopedInstancePath: string): string {
  return `machine.${routingWord(scopedInstancePath)}`
}

export function agentQueueName (domain: string, application: string, scopedInstancePath: string): string {
  return `${domain}.${routingWord(application)}.${routingWord(scopedInstancePath)}`
}

export function dmExchangeName (domain: string): string {
  return `${domain}.dm`
}

export function dmRoutingKey (application: string): string {
  return routingWord(application)
}

/**
 * The routing key an agent publishes to the DM with: its application's key, then its machine's word. With one broker
 * user per machine, the broker lets each publish with its own only (topic permissions).
 */
export function machineDmRoutingKey (application: string, scopedInstancePath: string): string {
  return `${dmRoutingKey(application)}.${routingWord(scopedInstancePath)}`
}

/**
 * Headers of an agent's message to the DM signed with its machine's message key (RabbitMQ without per-machine
 * users): the machine's path, its generation, the signature of the body.
 */
export const AGENT_SIGNATURE_HEADERS = { path: 'x-meshconf-machine', generation: 'x-meshconf-generation', signature: 'x-meshconf-signature' } as const

/**
 * Headers of a DM command over RabbitMQ: its sequence number (unique per DM, across its restarts: microseconds since
 * the epoch at the latest) and the DM's Ed25519 signature over (application, machine, seq, body)
 * (protocol/mesh.ts signDmCommand), which the agent checks with the `dmKey` of its params.
 */
export const DM_COMMAND_HEADERS = { seq: 'x-meshconf-seq', signature: 'x-meshconf-dm-signature' } as const

/** A machine's signature of a message body (HMAC-SHA256 with its message key, base64url). */
export function signAgentMessage (key: string, content: Uint8Array): string {
  return createHmac('sha256', key).update(content).digest('base64url')
}

/**
 * The broker user of a machine (one per machine when the DM reaches RabbitMQ's management API): the domain, the
 * application and the path, URI-escaped and joined by `/`, so that the DM reads back whose a message is.
 */
export function machineBrokerUser (domain: string, application: string, scopedInstancePath: string): string {
  return `${domain}/${encodeURIComponent(application)}/${encodeURIComponent(scopedInstancePath)}`
}

/** The application and scoped instance of a machine's broker user of `domain`, or undefined for any other user. */
export function machineOfBrokerUser (domain: string, user: string): { application: string, scopedInstancePath: string } | undefined {
  const parts = user.split('/')
  if (parts.length !== 3 || parts[0] !== domain) return undefined
  try {
    return { application: decodeURIComponent(parts[1]), scopedInstancePath: decodeURIComponent(parts[2]) }
  } catch {
    return undefined
  }
}

export function dmQueueName (domain: string): string {
  return `${domain}.dm`
}
