// The stream cipher @libp2p/pnet encrypts private-network connections with (a CommonJS package without types): what
// xsalsa20-guard.ts uses of it.
declare module 'xsalsa20' {
  interface XSalsa20Cipher {
    update: (input: Uint8Array, output?: Uint8Array) => Uint8Array
    finalize: () => void
  }
  interface XSalsa20Factory {
    (nonce: Uint8Array, key: Uint8Array): XSalsa20Cipher
    prototype: XSalsa20Cipher
  }
  const XSalsa20: XSalsa20Factory
  export default XSalsa20
}
