// The agent side of DM <-> agent messaging: a link per agent, over RabbitMQ (amqp.ts), the DM's embedded
// WebSocket endpoint (websocket.ts) or in-process (memory.ts, paired with manager/messaging/memory.ts).
import type { AgentToDmMessage, DmToAgentMessage } from '../../protocol/messages.js'
import type { LinkMetrics } from '../../link/types.js'

export type { AgentIdentity, LinkMetrics } from '../../link/types.js'


export type DmMessageHandler = (msg: DmToAgentMessage) => Promise<void> | void


export interface AgentLink {
  /** Connects; resolves once connected the first time (keeps retrying with backoff until then or `stop`). */
  start (): Promise<void>
  /** Tries to flush what is queued (bounded wait), then disconnects. */
  stop (): Promise<void>
  /**
   * Sends a message to the DM. Resolves once the broker / the DM confirmed it; while disconnected, the message
   * waits in the outbox and is sent on reconnection (never lost while the process lives, never rejects for a
   * disconnection).
   */
  send (msg: AgentToDmMessage): Promise<void>
  /**
   * Adds a handler for valid messages addressed to this agent. Messages are handled one at a time, in order:
   * the next one waits for the previous handler's promise. Invalid messages are logged and counted.
   */
  onMessage (handler: DmMessageHandler): void
  connected (): boolean
  metrics (): LinkMetrics
}
