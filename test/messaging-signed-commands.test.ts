// Commands from the DM are signed with its key, and an agent given that key (its params) handles only what the DM
// signed: a man in the middle (a plain TCP proxy that rewrites the DM's frames on the way) is detected, counted, and
// nothing of the changed command reaches the agent's handler; an unsigned command is refused the same way. Over TLS
// (the default of `dm start`: the DM's own CA, pinned by the agent), the same proxy breaks the TLS records instead:
// detected before any command, and the agent's credential never crosses it in clear; an impostor with a certificate
// of another authority gets no hello.
import test, { type ExecutionContext } from 'ava'
import { X509Certificate, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls'
import { createCertificate } from '../common/x509.js'
import { DmTlsError, loadOrCreateEndpointTls, type EndpointTls } from '../manager/messaging/tls.js'
import { TLS_SERVER_RENEW_BEFORE_MS } from '../manager/constants.js'
import { createWebSocketLink } from '../agent/link/websocket.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createDmSigningKey } from '../protocol/mesh.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import type { DmToAgentMessage } from '../protocol/messages.js'
import { captureLogger } from './messaging-helpers.js'
import { rewritingProxy as proxy } from './helpers/proxy.js'
import { waitFor } from './helpers/wait.js'

function embedded (endpoint: AgentEndpoint): { url: string, token: string, dmKey?: string, ca?: string } {
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  return endpoint
}

const start: DmToAgentMessage = { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STARTED' }

/** The DM's TLS files, made in a temporary data directory as `dm start` makes them. */
function dmTls (t: ExecutionContext): EndpointTls {
  const dir = mkdtempSync(join(tmpdir(), 'meshconf-trust-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return loadOrCreateEndpointTls(dir)
}

/**
 * An embedded endpoint (TLS when `tls` is given) and an agent link to it through a proxy; with `connected` false the
 * link is started without waiting for a first connection (a link that never gets one).
 */
async function agentThrough (t: ExecutionContext, signed: boolean, rewrite: (chunk: Buffer) => Buffer,
  options: { tls?: EndpointTls, connected?: boolean, seen?: (chunk: Buffer) => void } = {}) {
  const signingKey = createDmSigningKey()
  const dm = createEmbeddedMessaging({
    dmToken: randomUUID(), port: 0, logger: captureLogger(), ...(signed ? { signingKey } : {}), ...(options.tls !== undefined ? { tls: options.tls } : {})
  })
  await dm.start()
  t.teardown(async () => { await dm.stop() })
  const endpoint = embedded(dm.agentEndpoint({ application: 'app', scopedInstancePath: '/VM 1' }))
  const port = await proxy(t, Number(new URL(endpoint.url).port), rewrite, options.seen)
  const logger = captureLogger()
  const link = createWebSocketLink({
    url: endpoint.url.replace(/:\d+\//, `:${port}/`), token: endpoint.token, dmKey: signingKey.publicKey, ca: endpoint.ca,
    application: 'app', scopedInstancePath: '/VM 1', logger
  })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  const started = link.start()
  t.teardown(async () => { await link.stop(); await started })
  if (options.connected !== false) await started
  return { dm, link, received, endpoint, logger }
}

test('the machine\'s endpoint carries the DM key, and a signed command through an honest proxy is handled', async t => {
  const { dm, link, received, endpoint } = await agentThrough(t, true, chunk => chunk)
  t.truthy(endpoint.dmKey)
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('the command', () => received.length === 1)
  t.deepEqual(received, [start])
  t.is(link.metrics().rejected, 0)
})

test('a man in the middle that rewrites a command (STARTED -> STOPPED) is detected: refused, counted, nothing handled', async t => {
  let rewritten = 0
  const { dm, link, received } = await agentThrough(t, true, chunk => {
    const text = chunk.toString('latin1')
    if (!text.includes('DEPLOYED_STARTED')) return chunk
    rewritten++
    return Buffer.from(text.replace('DEPLOYED_STARTED', 'DEPLOYED_STOPPED'), 'latin1')
  })
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('the rewritten command refused', () => link.metrics().rejected === 1)
  t.is(rewritten, 1)
  t.deepEqual(received, [], 'no changed command reaches the agent')
})

test('an agent given the DM key refuses an unsigned command', async t => {
  const { dm, link, received } = await agentThrough(t, false, chunk => chunk)
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('the unsigned command refused', () => link.metrics().rejected === 1)
  t.deepEqual(received, [])
})

test('over TLS: the endpoint is wss:// with the DM\'s CA in the machine\'s endpoint, and a command through an honest proxy is handled', async t => {
  const tls = dmTls(t)
  const { dm, link, received, endpoint } = await agentThrough(t, true, chunk => chunk, { tls })
  t.regex(endpoint.url, /^wss:\/\/127\.0\.0\.1:\d+\/agents$/)
  t.is(endpoint.ca, tls.ca)
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('the command', () => received.length === 1)
  t.deepEqual(received, [start])
  t.is(link.metrics().tlsFailures, 0)
})

test('over TLS, a man in the middle that rewrites the DM\'s bytes is detected: the link fails TLS, no command is handled, the credential never crosses in clear', async t => {
  let rewritten = 0
  const fromAgent: Buffer[] = []
  const { dm, link, received, endpoint, logger } = await agentThrough(t, true, chunk => {
    rewritten++
    const changed = Buffer.from(chunk)
    changed[changed.length - 1] ^= 0x01
    return changed
  }, { tls: dmTls(t), connected: false, seen: chunk => fromAgent.push(chunk) })
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('TLS failures, again at each attempt', () => (link.metrics().tlsFailures ?? 0) >= 2, { state: () => ({ metrics: link.metrics(), log: logger.lines }) })
  t.true(rewritten > 0)
  t.false(link.connected())
  t.deepEqual(received, [], 'no command reaches the agent')
  t.is(link.metrics().connections, 0)
  t.true(logger.lines.some(line => /TLS: not the DM of this agent's params, or the connection was tampered with/.test(line)))
  t.false(Buffer.concat(fromAgent).includes(Buffer.from(endpoint.token)), 'the credential never crossed the proxy in clear')
})

test('over TLS, an impostor with a certificate of another authority is refused before the hello: it never gets the credential', async t => {
  const { dm, endpoint } = await agentThrough(t, true, chunk => chunk, { tls: dmTls(t) })
  // The impostor terminates TLS with its own authority's certificate, and would relay to the DM.
  const authority = createCertificate({ commonName: 'meshconf DM authority', validityMs: 86_400_000, authority: true })
  const forged = createCertificate({ commonName: 'meshconf DM', validityMs: 86_400_000, altNames: ['127.0.0.1'], issuer: authority })
  const heard: Buffer[] = []
  const impostor = createTlsServer({ cert: forged.cert, key: forged.key }, client => {
    client.on('data', chunk => heard.push(chunk))
    client.on('error', () => {})
    const upstream = tlsConnect({ port: Number(new URL(endpoint.url).port), host: '127.0.0.1', rejectUnauthorized: false })
    client.pipe(upstream).pipe(client)
    upstream.on('error', () => {})
  })
  impostor.on('tlsClientError', () => {})
  await new Promise<void>(resolve => impostor.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { impostor.close() })
  const logger = captureLogger()
  const link = createWebSocketLink({
    url: `wss://127.0.0.1:${(impostor.address() as AddressInfo).port}/agents`, token: endpoint.token, ca: endpoint.ca,
    application: 'app', scopedInstancePath: '/VM 1', logger
  })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  const started = link.start()
  t.teardown(async () => { await link.stop(); await started })
  await dm.sendToAgent('app', '/VM 1', start)
  await waitFor('the impostor refused', () => (link.metrics().tlsFailures ?? 0) >= 1, { state: () => logger.lines })
  t.true(logger.lines.some(line => /self.signed|unable to (get|verify)|certificate/i.test(line)), logger.lines.join('\n'))
  t.is(Buffer.concat(heard).length, 0, 'the impostor heard nothing: no hello, no credential')
  t.deepEqual(received, [])
})

test('the DM\'s TLS files: made once (keys 0600 in a 0700 folder), the same authority at every start, the server certificate made again near its end', t => {
  const dir = mkdtempSync(join(tmpdir(), 'meshconf-trust-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const first = loadOrCreateEndpointTls(dir, ['10.0.0.2'])
  for (const file of ['ca-key.pem', 'server-key.pem']) t.is(statSync(join(dir, 'tls', file)).mode & 0o777, 0o600, file)
  t.is(statSync(join(dir, 'tls')).mode & 0o777, 0o700)
  const again = loadOrCreateEndpointTls(dir)
  t.deepEqual(again, first, 'kept across starts')
  const server = new X509Certificate(first.cert)
  t.true(server.verify(new X509Certificate(first.ca).publicKey), 'signed by the DM\'s authority')
  t.regex(server.subjectAltName ?? '', /IP Address:10\.0\.0\.2/)
  // A server certificate with a day left (less than TLS_SERVER_RENEW_BEFORE_MS) is made again by the same authority.
  const ending = createCertificate({ commonName: 'meshconf DM', validityMs: 86_400_000, issuer: { cert: first.ca, key: readFileSync(join(dir, 'tls', 'ca-key.pem'), 'utf8') } })
  writeFileSync(join(dir, 'tls', 'server.pem'), ending.cert)
  writeFileSync(join(dir, 'tls', 'server-key.pem'), ending.key)
  const renewed = loadOrCreateEndpointTls(dir)
  t.is(renewed.ca, first.ca)
  t.not(renewed.cert, ending.cert)
  t.true(Date.parse(new X509Certificate(renewed.cert).validTo) - Date.now() > TLS_SERVER_RENEW_BEFORE_MS)
  // An authority without its key cannot sign: said, with what to do.
  rmSync(join(dir, 'tls', 'ca-key.pem'))
  t.throws(() => loadOrCreateEndpointTls(dir), { instanceOf: DmTlsError, message: /ca-key\.pem is missing.*--insecure/ })
})
