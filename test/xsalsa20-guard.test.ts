// The fix for xsalsa20@1.2.0 (agent/mesh/xsalsa20-guard.ts), @libp2p/pnet's cipher: with ~1 000 ciphers alive in one
// process, growing the shared WebAssembly memory once made every cipher grow it again on its next update, until
// "WebAssembly.Memory.grow(): Maximum memory size exceeded" killed the process (the 300-agent benchmark's crash).
import test from 'ava'
import XSalsa20 from 'xsalsa20'
import { xsalsa20Guarded } from '../agent/mesh/xsalsa20-guard.js'

const CIPHERS = 1500

const keyOf = (i: number): { nonce: Uint8Array, key: Uint8Array } => ({
  nonce: Uint8Array.from({ length: 24 }, (_, k) => (i * 7 + k) & 0xff),
  key: Uint8Array.from({ length: 32 }, (_, k) => (i * 13 + k * 3) & 0xff)
})

test('1 500 ciphers survive the memory growing under them, and encrypt as a fresh cipher does', t => {
  t.true(xsalsa20Guarded())
  const ciphers = Array.from({ length: CIPHERS }, (_, i) => { const { nonce, key } = keyOf(i); return XSalsa20(nonce, key) })
  const small = Uint8Array.from({ length: 100 }, (_, k) => k)
  const first = ciphers.map(c => c.update(small))
  // One large update grows the memory (and, unfixed, detaches every other cipher's view).
  const large = new Uint8Array(3 * 1024 * 1024).fill(7)
  const bigOut = ciphers[0].update(large)
  const second = ciphers.map(c => c.update(small))
  // Every cipher's stream is right: the same as one fresh cipher given both inputs at once.
  for (const i of [0, 1, 700, CIPHERS - 1]) {
    const { nonce, key } = keyOf(i)
    const reference = XSalsa20(nonce, key)
    const joined = new Uint8Array(i === 0 ? 200 + large.length : 200)
    joined.set(small, 0)
    if (i === 0) joined.set(large, 100)
    joined.set(small, joined.length - 100)
    const expected = reference.update(joined)
    reference.finalize()
    t.deepEqual(first[i], expected.subarray(0, 100))
    if (i === 0) t.deepEqual(bigOut, expected.subarray(100, 100 + large.length))
    t.deepEqual(second[i], expected.subarray(expected.length - 100))
  }
  for (const c of ciphers) c.finalize()
})
