// Timings of the DM <-> agent links, for both ends (the agent's links in agent/link/, the DM's messaging).
import { backoffMs } from '../common/backoff.js'

/** First delay before reconnecting after a lost connection (ms); doubles on each failure. */
export const RECONNECT_INITIAL_DELAY_MS = 100
/** Longest delay between reconnection attempts (ms): a restarted broker is found again within this. */
export const RECONNECT_MAX_DELAY_MS = 2_000
/** How long `stop()` waits for queued messages to be confirmed before disconnecting (ms). */
export const STOP_FLUSH_TIMEOUT_MS = 2_000
/** Embedded endpoint: time an agent has to send its hello after connecting (ms); generous, as a host booting
 * many agents at once delays each one's first message by seconds. */
export const EMBEDDED_HELLO_TIMEOUT_MS = 30_000
/** Embedded endpoint: period of the DM's WebSocket pings (ms); a peer silent for 3 periods is dropped. */
export const EMBEDDED_PING_INTERVAL_MS = 10_000
/** Embedded endpoint: how long a closing peer has to answer the close before its socket is cut (ms). */
export const EMBEDDED_CLOSE_GRACE_MS = 1_000
/** Connection attempt timeout (ms), RabbitMQ and WebSocket. */
export const CONNECT_TIMEOUT_MS = 5_000
/** RabbitMQ: AMQP heartbeat asked for (s) unless the URL sets one: a silently cut link is noticed in ~2 periods. */
export const AMQP_HEARTBEAT_S = 10
/** RabbitMQ: unacknowledged deliveries in flight per consumer. */
export const AMQP_PREFETCH_MESSAGES = 50

/** Delay before reconnection attempt `attempt` (0-based), with ±20 % jitter so agents do not reconnect in step. */
export function reconnectDelayMs (attempt: number): number {
  return backoffMs(attempt, { initialMs: RECONNECT_INITIAL_DELAY_MS, maxMs: RECONNECT_MAX_DELAY_MS, jitter: 0.2 })
}

/** Most rejected-message log lines per receiver per interval, and that interval (ms): a flood logs a few lines. */
export const REJECTION_LOG_LIMIT = 10
export const REJECTION_LOG_INTERVAL_MS = 5_000

/**
 * Signed DM commands over RabbitMQ an agent remembers (their sequence numbers, least recent out first): a copy of one
 * of them published again is dropped. A count rather than "only growing numbers", so that a DM restarted on a clock
 * set back loses no command.
 */
export const DM_COMMANDS_REMEMBERED = 4096
