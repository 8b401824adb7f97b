// The DM side of DM <-> agent messaging: one interface, implemented over RabbitMQ (amqp.ts), the DM's own
// WebSocket endpoint (embedded.ts, the default: no broker to install) and in-process (memory.ts, for tests).
// All three pass the same contract tests (test/messaging-contract.test.ts).
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../../protocol/messages.js'

import type { Logger } from '../../common/log.js'

export type { AgentEndpoint } from '../../protocol/agent-endpoint.js'

/** Counters, for tests and diagnostics. */
/** The machine an agent runs on: its application and scoped instance. */
export interface AgentMachine {
  application: string
  scopedInstancePath: string
}

export interface MessagingMetrics {
  /** Messages handed to the transport (DM -> agents, or agent -> DM for a link). */
  sent: number
  /** Valid messages delivered to the handler(s). */
  received: number
  /** Messages from the wire that failed validation (garbage, unknown version or kind): logged and dropped. */
  rejected: number
  /** Successful (re)connections to the broker, or agent connections accepted by the embedded endpoint. */
  connections: number
  /** Sockets the embedded endpoint refused before or at their hello, by reason (absent for other transports). */
  refused?: Record<string, number>
}

export type AgentMessageHandler = (msg: AgentToDmMessage) => void | Promise<void>

export interface DmMessaging {
  /** Connects (RabbitMQ) or listens (embedded). Register `onAgentMessage` handlers before. */
  start (): Promise<void>
  /** Disconnects; messages not yet confirmed by the broker are lost with the process (RabbitMQ keeps the rest). */
  stop (): Promise<void>
  /**
   * Declares where an agent's messages wait (RabbitMQ: a durable queue and its binding) BEFORE its machine is
   * created, so that messages sent before the agent connects are kept (Roboconf lost models that way: #20).
   * Idempotent. `sendToAgent` calls it implicitly for an agent not prepared yet (e.g. after a DM restart).
   */
  prepareAgent (application: string, scopedInstancePath: string): Promise<void>
  /**
   * Sends a message to the agent of one scoped instance, and to no other agent. Resolves once the message is
   * handed over: confirmed by the broker, or kept in the outbox while the broker / the agent is unreachable (it is
   * delivered after the connection comes back). Never rejects because of a disconnection.
   */
  sendToAgent (application: string, scopedInstancePath: string, msg: DmToAgentMessage): Promise<void>
  /**
   * Adds a handler for valid messages from agents (invalid ones are logged and counted in `rejected`).
   * Handlers run one message at a time; a handler that throws is logged, the message is not redelivered.
   */
  onAgentMessage (handler: AgentMessageHandler): void
  /**
   * Makes the machine's own identity where the transport has one to make (RabbitMQ with its management API: a broker
   * user), before `agentEndpoint` is read for that machine; a machine made again gets a new one, the old one stops
   * working. Absent, or doing nothing: the endpoint carries what the machine needs.
   */
  provisionAgent? (machine: AgentMachine): Promise<void>
  /** Deletes what `prepareAgent` declared (machine deleted), and revokes the machine's identity. Never rejects: failures are logged. */
  forgetAgent (application: string, scopedInstancePath: string): Promise<void>
  /** Deletes the application's exchange and the agent queues prepared since start. */
  deleteApplication (application: string): Promise<void>
  /**
   * What to hand an agent (in its params file) so it can connect. For a machine, the embedded endpoint issues its
   * credential: a new generation at each call (the machine's previous credential stops working), revoked by
   * forgetAgent. Without one, the endpoint with the DM's own token (the DM's operator, not agents).
   */
  agentEndpoint (machine?: AgentMachine): AgentEndpoint
  metrics (): MessagingMetrics
  /** Whether agents can reach the DM now (RabbitMQ: connected to the broker; embedded: listening): GET /readyz. */
  connected? (): boolean
}

/** The messaging section of the DM's configuration. */
export type MessagingConfig =
  | {
    kind: 'embedded'
    /** TCP port of the agents' WebSocket endpoint; default 7401, 0 picks a free one (tests). */
    port?: number
    /** Listen address; default '127.0.0.1' (use '0.0.0.0' when agents run on other machines). */
    host?: string
    /** Base URL agents use, e.g. `wss://10.0.0.2:7401`; default `wss://<host>:<port>` (`ws://` without tls). */
    publicUrl?: string
    /** The endpoint's certificate, key and the CA agents pin (manager/messaging/tls.ts); default none: plaintext. */
    tls?: { cert: string, key: string, ca: string }
    /** Secret the DM signs per-application agent tokens with; agents may also present it directly. */
    dmToken: string
  }
  | {
    kind: 'amqp'
    /** e.g. `amqp://guest:guest@127.0.0.1:5672`; handed to agents as is, unless `agentUrl` is set. */
    url: string
    /** URL agents use (when the broker's address differs from their side); default `url`. */
    agentUrl?: string
    /** First word of every exchange and queue name; default `meshconf`. Tests use unique domains. */
    domain?: string
    /**
     * One broker user per machine through RabbitMQ's management API: `true` (default) at http://<broker host>:15672
     * with the URL's credentials, a URL for another place or user, `false` for none (machines share the agents'
     * URL's user). Without an answering API at start, none, with a warning.
     */
    managementApi?: boolean | string
    /**
     * With `amqps://`: the authority (PEM) the broker's certificate must chain to. The DM pins it, and hands it to
     * agents in their params, so that they pin it too. Default none: the system's authorities.
     */
    ca?: string
  }
  | {
    kind: 'memory'
  }
