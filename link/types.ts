// What both ends of a DM <-> agent link share: their counters, an agent's identity.

/** Counters, for tests and diagnostics. */
export interface LinkMetrics {
  /** Messages confirmed by the broker / the DM. */
  sent: number
  /** Valid messages handed to the handler(s). */
  received: number
  /** Messages from the wire that failed validation: logged and dropped. */
  rejected: number
  /** Successful (re)connections. */
  connections: number
  /** Connections that failed TLS (WebSocket link: not the pinned DM, or tampered records); absent elsewhere. */
  tlsFailures?: number
}

/** Which agent a link speaks for. */
export interface AgentIdentity {
  application: string
  scopedInstancePath: string
}
