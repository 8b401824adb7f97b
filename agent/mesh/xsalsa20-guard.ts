// A fix for xsalsa20@1.2.0, the cipher of @libp2p/pnet (every private-network connection: two ciphers each). Its
// WebAssembly ciphers share one memory (at most 1 000 pages, 64 MB) and each keeps its own view of it; growing the
// memory detaches every other cipher's view (length 0), and each of them then grows the memory again on its next
// update, by at least a page. A process holding about 1 000 ciphers (an owner with ~500 importers, or 50 agents
// packed in one benchmark process at 300 agents) hits the maximum, and the RangeError thrown inside a connection's
// 'message' listener kills the process (node:internal/event_target). Fixed upstream by js-libp2p PR 3585 (chunks and
// finalize), not in the @libp2p/pnet release we use (3.0.27). Here: a detached view is refreshed before the update,
// and a large input goes through in chunks, so the memory grows only by what one chunk needs.
import XSalsa20 from 'xsalsa20'
import { XSALSA20_CHUNK_BYTES } from './constants.js'

/** The WebAssembly cipher's fields used here (index.js's WASM); the pure-JS fallback has no `_memory`. */
interface WasmCipher { _memory?: Uint8Array }
type Cipher = ReturnType<typeof XSalsa20> & { _xor: WasmCipher | null }

const ZERO_NONCE = new Uint8Array(24)
const ZERO_KEY = new Uint8Array(32)

/** A view of the shared memory as it is now: a new cipher's (made and released at once). */
function currentMemory (): Uint8Array | undefined {
  const probe = XSalsa20(ZERO_NONCE, ZERO_KEY) as Cipher
  const memory = probe._xor?._memory
  probe.finalize()
  return memory
}

const PATCHED = Symbol.for('meshconf.xsalsa20-guard')
const proto = XSalsa20.prototype as Cipher & { [PATCHED]?: true }
if (proto[PATCHED] !== true) {
  const update = proto.update
  proto.update = function (this: Cipher, input: Uint8Array, output: Uint8Array = new Uint8Array(input.length)): Uint8Array {
    for (let at = 0; at < input.length; at += XSALSA20_CHUNK_BYTES) {
      const xor = this._xor
      // A detached ArrayBuffer has byteLength 0: the memory grew since this cipher last looked.
      if (xor?._memory !== undefined && xor._memory.buffer.byteLength === 0) xor._memory = currentMemory() ?? xor._memory
      const end = Math.min(input.length, at + XSALSA20_CHUNK_BYTES)
      update.call(this, input.subarray(at, end), output.subarray(at, end))
    }
    return output
  }
  proto[PATCHED] = true
}

/** Whether the fix is in place (for tests). */
export function xsalsa20Guarded (): boolean {
  return proto[PATCHED] === true
}
