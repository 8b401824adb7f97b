// X.509 certificates made with node:crypto alone (Node parses certificates but does not make them): a private
// certificate authority and the certificates it signs, ECDSA P-256 with SHA-256, DER encoded by hand. Enough for a
// TLS endpoint whose clients pin the authority (the DM's agents endpoint, a test's impostor); no files written here.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto'

/** A certificate and its private key, PEM encoded. */
export interface CertificateAndKey {
  cert: string
  key: string
}

export interface CertificateRequest {
  /** The subject's common name. */
  commonName: string
  /** How long the certificate is valid from now, in ms. */
  validityMs: number
  /** A certificate authority (may sign certificates) rather than a server. */
  authority?: boolean
  /** Names (DNS or IP addresses) the server answers to, for clients that check them. */
  altNames?: string[]
  /** The authority signing it; default: the certificate signs itself. */
  issuer?: CertificateAndKey
  /** The serial number, big-endian bytes; default: 16 random bytes, positive. */
  serial?: Buffer
}

// ----------------------------------------------------------------------------------------------- DER

function length (n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv (tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content])
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items))
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content)
const octets = (content: Buffer): Buffer => tlv(0x04, content)
const bits = (content: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]))
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'))
const TRUE = tlv(0x01, Buffer.from([0xff]))

/**
 * A non-negative DER INTEGER from big-endian bytes. DER wants the shortest form: leading zero bytes go (a random
 * serial starting with 0x00 is otherwise refused as `illegal padding`), and one zero comes back when the high bit
 * is set, so that the number stays positive.
 */
export function derInteger (value: Buffer): Buffer {
  let start = 0
  while (start < value.length - 1 && value[start] === 0) start++
  const minimal = value.subarray(start)
  return tlv(0x02, minimal[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal)
}

function oid (dotted: string): Buffer {
  const parts = dotted.split('.').map(Number)
  const bytes = [40 * parts[0] + parts[1]]
  for (const part of parts.slice(2)) {
    const group = [part & 0x7f]
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128)) group.unshift(0x80 | (rest & 0x7f))
    bytes.push(...group)
  }
  return tlv(0x06, Buffer.from(bytes))
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time (at: Date): Buffer {
  const iso = at.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return at.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}

const name = (commonName: string): Buffer => sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))))
const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  sequence(oid(id), ...(critical ? [TRUE] : []), octets(value))

function altName (entry: string): Buffer {
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(entry)
  if (ipv4 !== null) return tlv(0x87, Buffer.from(ipv4.slice(1).map(Number)))
  return tlv(0x82, Buffer.from(entry, 'ascii'))
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'))

function keyIdentifier (publicKeyDer: Buffer): Buffer {
  return createHash('sha1').update(publicKeyDer).digest()
}

// ----------------------------------------------------------------------------------------------- certificates

/** A fresh key pair and a certificate for it, signed by `issuer` (or by itself). */
export function createCertificate (request: CertificateRequest): CertificateAndKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  let signer: KeyObject = privateKey
  let issuerName = name(request.commonName)
  let authorityKeyId = keyIdentifier(spki)
  if (request.issuer !== undefined) {
    const issuer = new X509Certificate(request.issuer.cert)
    signer = createPrivateKey(request.issuer.key)
    issuerName = name(commonNameOf(issuer))
    authorityKeyId = keyIdentifier(issuer.publicKey.export({ type: 'spki', format: 'der' }))
  }
  const now = Date.now()
  const serial = request.serial ?? randomBytes(16)
  if (request.serial === undefined) serial[0] &= 0x7f
  const extensions = request.authority === true
    ? [
        extension('2.5.29.19', true, sequence(TRUE)),
        // keyCertSign, cRLSign, digitalSignature
        extension('2.5.29.15', true, bits(Buffer.from([0x86]), 1)),
        extension('2.5.29.14', false, octets(keyIdentifier(spki)))
      ]
    : [
        extension('2.5.29.19', true, sequence()),
        // digitalSignature (ECDHE_ECDSA)
        extension('2.5.29.15', true, bits(Buffer.from([0x80]), 7)),
        // serverAuth
        extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
        ...(request.altNames !== undefined && request.altNames.length > 0
          ? [extension('2.5.29.17', false, sequence(...request.altNames.map(altName)))]
          : []),
        extension('2.5.29.14', false, octets(keyIdentifier(spki))),
        extension('2.5.29.35', false, sequence(tlv(0x80, authorityKeyId)))
      ]
  const tbs = sequence(
    explicit(0, derInteger(Buffer.from([2]))),
    derInteger(serial),
    ECDSA_WITH_SHA256,
    issuerName,
    // A minute back: a client whose clock is slightly behind still accepts a certificate made just now.
    sequence(time(new Date(now - 60_000)), time(new Date(now + request.validityMs))),
    name(request.commonName),
    spki,
    explicit(3, sequence(...extensions))
  )
  const signature = sign('sha256', tbs, signer)
  const der = sequence(tbs, ECDSA_WITH_SHA256, bits(signature))
  return {
    cert: pem('CERTIFICATE', der),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  }
}

function commonNameOf (cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? ''
}

function pem (label: string, der: Buffer): string {
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`
}

/** The certificate's SHA-256 fingerprint as Node prints it (`AB:CD:...`). */
export function fingerprint256 (certPem: string): string {
  return new X509Certificate(certPem).fingerprint256
}
