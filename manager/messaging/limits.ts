// Limits of the embedded agents' endpoint, applied before an agent has proved who it is (a socket that has not said
// a valid hello may be anyone's) and after (what an agent sends is stored and handled by the DM).
import type { CredentialRefusal } from './credentials.js'

/**
 * Largest frame any socket may send, in bytes: the `ws` default (100 MiB) let one frame sent with no hello double
 * the DM's memory. Agents send heartbeats and instance states (a few KiB, an instance with many imports some
 * hundreds); a larger frame closes the socket (1009) before it is buffered.
 */
export const EMBEDDED_MAX_FRAME_BYTES = 1024 * 1024
/** Largest frame a client may send on the REST API's events WebSocket, in bytes (it only receives). */
export const EVENTS_MAX_FRAME_BYTES = 4096
/** Largest first frame (the hello), in bytes: five short strings. */
export const EMBEDDED_MAX_HELLO_BYTES = 8 * 1024
/**
 * How long a socket may stay without a valid hello, in ms: an agent says it as soon as it is connected, but a host
 * starting many agents at once delays each one's first message by seconds (it then reconnects and says it again).
 */
export const EMBEDDED_HELLO_DEADLINE_MS = 10_000
/**
 * Sockets without a valid hello yet, at once, per remote address; more are closed at once (1013: an agent tries
 * again after its backoff). A host of the local target starts up to 128 agents at once from one address.
 */
export const EMBEDDED_MAX_UNAUTHENTICATED_PER_ADDRESS = 64
/** Longest application name, token and agent epoch in a hello, in characters. */
export const EMBEDDED_MAX_HELLO_FIELD_CHARS = 256
/** Longest scoped instance path in a hello, in characters. */
export const EMBEDDED_MAX_HELLO_PATH_CHARS = 2048
/** Longest excerpt of a field an agent sent that goes into a log line, in characters (escaped). */
export const LOGGED_FIELD_MAX_CHARS = 120

/** `value` fit for a log line: JSON-escaped (no newline, escape or control character reaches the log), cut. */
export function loggable (value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  const cut = text.length > LOGGED_FIELD_MAX_CHARS ? `${text.slice(0, LOGGED_FIELD_MAX_CHARS)}…` : text
  return JSON.stringify(cut)
}

/** Why the endpoint refused a socket before or at its hello. */
export type EmbeddedRefusal = 'frame-too-large' | 'no-hello' | 'bad-hello' | 'field-too-long' |
  'too-many-unauthenticated' | 'tls' | CredentialRefusal
