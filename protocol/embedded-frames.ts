// Frames of the embedded WebSocket transport (manager/messaging/embedded.ts <-> agent/link/websocket.ts).
// Every message carries a sequence number and stays in the sender's outbox until acknowledged, so a dropped
// connection loses nothing; `epoch` identifies the sender's process so the receiver drops replays it handled.
import {
  MalformedMessageError, anything, decodeJson, describe, obj, optional, shape, str, type Check
} from './checks.js'
import { DM_MESSAGE_VERSION, UnsupportedMessageVersionError } from './messages.js'

type Version = typeof DM_MESSAGE_VERSION

/** Agent -> DM. `hello` must be the first frame; the DM answers `welcome` or closes with a 44xx code. */
export type AgentFrame =
  | { t: 'hello', v: Version, application: string, scopedInstancePath: string, token: string, epoch: string }
  | { t: 'msg', seq: number, body: unknown }
  | { t: 'ack', seq: number }

/** DM -> agent. `sig`: the DM's signature of the command (protocol/mesh.ts signDmCommand), when it has a key. */
export type DmFrame =
  | { t: 'welcome', epoch: string }
  | { t: 'msg', seq: number, body: unknown, sig?: string }
  | { t: 'ack', seq: number }

/** WebSocket close codes the embedded endpoint uses. */
export const EMBEDDED_CLOSE_CODES = {
  /** The first frame was not a valid hello. */
  badHello: 4400,
  /** The token is not valid for this application. */
  unauthorized: 4401,
  /** Another connection took over this scoped instance. */
  replaced: 4409
} as const

const seq: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedMessageError(field, `expected a sequence number, got ${describe(value)}`)
  }
  return value
}

function parseFrame<F> (value: unknown, shapes: Record<string, Record<string, Check<unknown>>>): F {
  const o = obj(value, '')
  const fields = typeof o.t === 'string' && Object.hasOwn(shapes, o.t) ? shapes[o.t] : undefined
  if (fields === undefined) throw new MalformedMessageError('t', `unknown frame type ${describe(o.t)}; expected one of ${Object.keys(shapes).join(', ')}`)
  return shape<F>(fields as never)(o, '')
}

const AGENT_FRAMES = {
  hello: { v: anything, application: str, scopedInstancePath: str, token: str, epoch: str },
  msg: { seq, body: anything },
  ack: { seq }
}

const DM_FRAMES = {
  welcome: { epoch: str },
  msg: { seq, body: anything, sig: optional(str) },
  ack: { seq }
}

/** Parses a frame an agent sent to the embedded endpoint; the body of `msg` is parsed separately. */
export function parseAgentFrame (raw: string | Uint8Array): AgentFrame {
  const frame = parseFrame<AgentFrame>(decodeJson(raw), AGENT_FRAMES)
  if (frame.t === 'hello' && frame.v !== DM_MESSAGE_VERSION) throw new UnsupportedMessageVersionError(frame.v)
  return frame
}

/** Parses a frame the embedded endpoint sent to an agent; the body of `msg` is parsed separately. */
export function parseDmFrame (raw: string | Uint8Array): DmFrame {
  return parseFrame<DmFrame>(decodeJson(raw), DM_FRAMES)
}
