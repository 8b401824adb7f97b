// The embedded endpoint's TLS: the DM is its own certificate authority. At its first start it makes a CA and a
// server certificate signed by it, kept in `<data dir>/tls/` (keys 0600 in a 0700 folder, written atomically);
// agents get the CA certificate in their params and accept no other server (manager/messaging/embedded.ts
// agentEndpoint, agent/link/websocket.ts). The server certificate is made again when it nears its end; the CA stays,
// so agents already deployed keep trusting the DM.
import { existsSync, readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { createCertificate, type CertificateAndKey } from '../../common/x509.js'
import { writePrivateFileSync } from '../../common/private-files.js'
import { TLS_CA_VALIDITY_MS, TLS_FOLDER, TLS_SERVER_RENEW_BEFORE_MS, TLS_SERVER_VALIDITY_MS } from '../constants.js'

/** What the embedded endpoint serves (cert, key) and what agents pin (ca), PEM encoded. */
export interface EndpointTls {
  cert: string
  key: string
  ca: string
}

const FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', cert: 'server.pem', key: 'server-key.pem' } as const

/** A TLS file of the data directory cannot be used (corrupt, or a certificate without its key). */
export class DmTlsError extends Error {
  constructor (folder: string, cause: string) {
    super(`the DM's TLS files in ${folder} cannot be used (${cause}): move the folder aside to make new ones ` +
      '(agents deployed since then must be deployed again: they pin the old authority), or start with --insecure')
    this.name = 'DmTlsError'
  }
}

function read (folder: string, file: string): string | undefined {
  const path = join(folder, file)
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined
}

/**
 * The DM's CA and server certificate from `<dataDirectory>/tls/`, made there at the first start; the server
 * certificate is made again (by the same CA) when less than TLS_SERVER_RENEW_BEFORE_MS of it is left.
 * `altNames`: the names and addresses the server certificate lists (agents check the CA, not the name).
 */
export function loadOrCreateEndpointTls (dataDirectory: string, altNames: string[] = []): EndpointTls {
  const folder = join(dataDirectory, TLS_FOLDER)
  let ca: CertificateAndKey
  const caCert = read(folder, FILES.ca)
  const caKey = read(folder, FILES.caKey)
  if (caCert !== undefined && caKey !== undefined) {
    ca = { cert: caCert, key: caKey }
  } else if (caCert === undefined && caKey === undefined) {
    ca = createCertificate({ commonName: 'meshconf DM authority', validityMs: TLS_CA_VALIDITY_MS, authority: true })
    // The key first: a crash between the two leaves no certificate without its key.
    writePrivateFileSync(join(folder, FILES.caKey), ca.key)
    writePrivateFileSync(join(folder, FILES.ca), ca.cert)
  } else {
    throw new DmTlsError(folder, `${caCert === undefined ? FILES.ca : FILES.caKey} is missing`)
  }
  let server: CertificateAndKey | undefined
  const cert = read(folder, FILES.cert)
  const key = read(folder, FILES.key)
  if (cert !== undefined && key !== undefined) {
    try {
      const parsed = new X509Certificate(cert)
      const authority = new X509Certificate(ca.cert)
      if (parsed.verify(authority.publicKey) && Date.parse(parsed.validTo) - Date.now() > TLS_SERVER_RENEW_BEFORE_MS) server = { cert, key }
    } catch (err) {
      throw new DmTlsError(folder, `${FILES.cert}: ${(err as Error).message}`)
    }
  }
  if (server === undefined) {
    server = createCertificate({ commonName: 'meshconf DM', validityMs: TLS_SERVER_VALIDITY_MS, altNames: ['localhost', ...altNames], issuer: ca })
    writePrivateFileSync(join(folder, FILES.key), server.key)
    writePrivateFileSync(join(folder, FILES.cert), server.cert)
  }
  return { cert: server.cert, key: server.key, ca: ca.cert }
}
