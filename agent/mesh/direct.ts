// Framing of the direct stream (DIRECT_PROTOCOL): an owner writes its announces and withdraws straight to each
// connected importer on one long-lived stream, before gossip carries them further. The stream is a connection's own
// (Noise-authenticated peer, pnet), so a frame needs no publisher signature: the sender is the connection's peer.
// A frame: u32 big-endian length of the rest, u16 big-endian length of the topic, the topic (UTF-8), the message.
import { MAX_MESH_MESSAGE_BYTES } from '../../protocol/mesh.js'

/** Longest topic in a frame, in bytes (a topic is `/meshconf/1/<application>/exports/<prefix>`, each name encoded). */
export const MAX_DIRECT_TOPIC_BYTES = 4096
/** Longest frame after its length, in bytes: a topic and a mesh message at their largest. */
export const MAX_DIRECT_FRAME_BYTES = 2 + MAX_DIRECT_TOPIC_BYTES + MAX_MESH_MESSAGE_BYTES

/** A peer sent a frame that cannot be read: the stream is dropped (a frame boundary is lost with it). */
export class DirectFrameError extends Error {
  constructor (detail: string) {
    super(`unreadable direct-stream frame: ${detail}`)
    this.name = 'DirectFrameError'
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** One frame carrying `data` on `topic`. */
export function encodeDirectFrame (topic: string, data: Uint8Array): Uint8Array {
  const name = encoder.encode(topic)
  if (name.byteLength > MAX_DIRECT_TOPIC_BYTES) throw new DirectFrameError(`topic of ${name.byteLength} bytes, over ${MAX_DIRECT_TOPIC_BYTES}`)
  const length = 2 + name.byteLength + data.byteLength
  if (length > MAX_DIRECT_FRAME_BYTES) throw new DirectFrameError(`frame of ${length} bytes, over ${MAX_DIRECT_FRAME_BYTES}`)
  const frame = new Uint8Array(4 + length)
  const view = new DataView(frame.buffer)
  view.setUint32(0, length)
  view.setUint16(4, name.byteLength)
  frame.set(name, 6)
  frame.set(data, 6 + name.byteLength)
  return frame
}

/** Reads frames from a stream's chunks, however they are cut; holds at most one frame's bytes. */
export class DirectFrameReader {
  private buffered: Uint8Array = new Uint8Array(0)

  /** Takes the next chunk; returns the frames it completes. Throws DirectFrameError on a frame that cannot be read. */
  push (chunk: Uint8Array): Array<{ topic: string, data: Uint8Array }> {
    let bytes = this.buffered.byteLength === 0 ? chunk : concat(this.buffered, chunk)
    const frames: Array<{ topic: string, data: Uint8Array }> = []
    while (bytes.byteLength >= 4) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const length = view.getUint32(0)
      if (length > MAX_DIRECT_FRAME_BYTES) throw new DirectFrameError(`frame of ${length} bytes announced, over ${MAX_DIRECT_FRAME_BYTES}`)
      if (length < 2) throw new DirectFrameError(`frame of ${length} bytes announced, too short for a topic`)
      if (bytes.byteLength < 4 + length) break
      const topicLength = view.getUint16(4)
      if (2 + topicLength > length) throw new DirectFrameError(`topic of ${topicLength} bytes in a frame of ${length}`)
      let topic: string
      try {
        topic = decoder.decode(bytes.subarray(6, 6 + topicLength))
      } catch {
        throw new DirectFrameError('topic is not UTF-8')
      }
      // A copy: the chunk's buffer may be reused by the stream once this returns.
      frames.push({ topic, data: bytes.slice(6 + topicLength, 4 + length) })
      bytes = bytes.subarray(4 + length)
    }
    this.buffered = bytes.byteLength === 0 ? new Uint8Array(0) : bytes.slice()
    return frames
  }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}
