// Where an agent connects to its DM, handed over in its params file (agent/params.ts), and its validation.
import {
  MalformedMessageError, anything, bool, describe, fieldOf, num, obj, optional, shape, str, type Check
} from './checks.js'

export type AgentEndpoint =
  /**
   * RabbitMQ: `url` like `amqp://user:password@host:5672` (`amqps://` for TLS); `domain` is the first word of every
   * name; `ownUser`: the URL's user is this machine's own (the DM declared its queue; the agent declares nothing,
   * reads only its queue and publishes with its own routing key and user id); `messageKey`: without a user of its
   * own, the key it signs its messages to the DM with (AGENT_SIGNATURE_HEADERS), and its generation; `ca`, with
   * `amqps://`, the authority (PEM) the broker's certificate must chain to (without it, the system's authorities);
   * `dmKey`, the DM's Ed25519 public key (base64): when given, the agent handles only commands the DM signed
   * (DM_COMMAND_HEADERS), and drops a copy of one it handled already.
   */
  | { kind: 'amqp', url: string, domain: string, ownUser?: boolean, messageKey?: { generation: number, key: string }, ca?: string, dmKey?: string }
  /**
   * The DM's embedded WebSocket endpoint, `wss://host:7401/agents` (`ws://` for a DM started --insecure); `token` is
   * the machine's credential (or the DM token); `dmKey`, the DM's Ed25519 public key (base64): when given, the agent
   * handles only commands it signed; `ca`, the DM's certificate authority (PEM): when given, the agent accepts no
   * server certificate it did not sign (without it, `wss://` trusts the system's authorities).
   */
  | { kind: 'embedded', url: string, token: string, dmKey?: string, ca?: string }
  /** In-process (tests): the id of a manager/messaging/memory.ts hub. */
  | { kind: 'memory', hub: string }

/** Validates an agent endpoint (params file); `field` names where it was read, for the error. */
export function parseAgentEndpoint (value: unknown, field = 'endpoint'): AgentEndpoint {
  const o = obj(value, field)
  switch (o.kind) {
    case 'amqp': return shape<Extract<AgentEndpoint, { kind: 'amqp' }>>({ kind: anything as Check<'amqp'>, url: str, domain: str, ownUser: optional(bool), messageKey: optional(shape<{ generation: number, key: string }>({ generation: num, key: str })), ca: optional(str), dmKey: optional(str) })(o, field)
    case 'embedded': return shape<Extract<AgentEndpoint, { kind: 'embedded' }>>({ kind: anything as Check<'embedded'>, url: str, token: str, dmKey: optional(str), ca: optional(str) })(o, field)
    case 'memory': return shape<Extract<AgentEndpoint, { kind: 'memory' }>>({ kind: anything as Check<'memory'>, hub: str })(o, field)
    default: throw new MalformedMessageError(fieldOf(field, 'kind'), `expected 'amqp', 'embedded' or 'memory', got ${describe(o.kind)}`)
  }
}
