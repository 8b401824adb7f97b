// RabbitMQ over TLS (`amqps://`): a private node (fixtures/broker.ts) with a TLS listener whose certificate a
// private authority signed. A DM pinning that authority deploys and starts an application on agent processes that
// got the authority in their params, every connection of the node is TLS; a client pinning another authority, or
// none (the system's), is refused before it says a word of AMQP, and an impostor broker with a certificate of
// another authority never sees the credentials.
import test from 'ava'
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { createCertificate, type CertificateAndKey } from '../common/x509.js'
import { createAgentLink } from '../agent/link/index.js'
import { createDeploymentManager } from '../manager/dm.js'
import { AmqpCaWithoutTlsError, createAmqpMessaging } from '../manager/messaging/amqp.js'
import { createStore } from '../manager/store.js'
import { createLocalTarget } from '../manager/targets/local.js'
import { parseAgentEndpoint } from '../protocol/agent-endpoint.js'
import { createPrivateBroker, type PrivateBroker } from '../fixtures/broker.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { killAgents } from './dm-process-helpers.js'
import { captureLogger } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

const run = promisify(execFile)
const DAY_MS = 86_400_000
/** The Erlang VM of the private node boots in ~30 s on this machine, more under load. */
const BROKER_WAIT_MS = 120_000
/** How long a client pinning the wrong authority is watched: several reconnection attempts. */
const REFUSED_WATCH_MS = 3_000
const quiet = { debug: () => {}, info: () => {}, warn: (m: string) => { process.stderr.write(`${m}\n`) }, error: (m: string) => { process.stderr.write(`${m}\n`) } }

function authority (commonName: string): CertificateAndKey {
  return createCertificate({ commonName, authority: true, validityMs: DAY_MS })
}

function serverCertificate (issuer: CertificateAndKey): CertificateAndKey {
  return createCertificate({ commonName: '127.0.0.1', altNames: ['127.0.0.1', 'localhost'], issuer, validityMs: DAY_MS })
}

const brokerCa = authority('meshconf-trust test broker CA')
const otherCa = authority('meshconf-trust test other CA')

let broker: PrivateBroker
const brokerDir = tempDir('trust-amqps-node')

test.before(async () => {
  const server = serverCertificate(brokerCa)
  broker = await createPrivateBroker({ directory: brokerDir.path, name: 'meshconf-trust-amqps', tls: { cert: server.cert, key: server.key, ca: brokerCa.cert } })
  await broker.start()
})

test.after.always(async () => {
  await broker?.stop()
  brokerDir.remove()
})

test.serial('a DM and its agent processes over amqps:// with the broker\'s authority pinned: deployed and started, every connection TLS', async t => {
  t.timeout(300_000)
  const dir = tempDir('trust-amqps-dm')
  const url = broker.tlsUrl as string
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createAmqpMessaging({ url, ca: brokerCa.cert, domain: 'meshconf-trust-amqps', logger: quiet })
  const machines = join(dir.path, 'machines', 'local')
  const target = createLocalTarget({ machinesDirectory: machines, agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 500 })
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet },
    { dataDirectory: dir.path, defaultTargetHandler: 'local', machineSilenceMs: 120_000 })
  t.teardown(async () => {
    await dm.stop()
    killAgents(dir.path)
    store.close()
    dir.remove()
  })
  await dm.start()
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.action('shop', { action: 'deploy-and-start-all' })
  await waitFor('started over amqps://', () => Object.values(statuses(dm.instances('shop'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 120_000 })
    .catch(err => {
      // what the agents said, for the failure's report
      for (const file of (readdirSync(machines, { recursive: true }) as string[]).filter(f => f.endsWith('agent.log'))) t.log(file, readFileSync(join(machines, file), 'utf8').slice(-2000))
      throw err
    })
  t.deepEqual(store.getInstance('shop', '/vm2/app')?.imports.DB?.map(i => i.instancePath), ['/vm1/db'])

  // each agent was handed the amqps:// URL and the authority, and pins it
  const endpoint = messaging.agentEndpoint({ application: 'shop', scopedInstancePath: '/vm1' })
  t.like(endpoint, { kind: 'amqp', ca: brokerCa.cert })
  const paramsFiles = (readdirSync(machines, { recursive: true }) as string[]).filter(f => f.endsWith('params.json'))
  t.is(paramsFiles.length, 2)
  for (const file of paramsFiles) {
    const params = JSON.parse(readFileSync(join(machines, file), 'utf8')) as { messaging: unknown }
    const handed = parseAgentEndpoint(params.messaging)
    t.true(handed.kind === 'amqp' && handed.url.startsWith('amqps://') && handed.ca === brokerCa.cert, file)
  }

  // the node sees the DM and both agents, every one over TLS
  const { stdout } = await run('rabbitmqctl', ['-n', broker.nodeName, '-q', 'list_connections', 'client_properties', 'ssl', 'ssl_protocol'])
  const meshconf = stdout.split('\n').filter(line => line.includes('meshconf '))
  t.true(meshconf.length >= 3, stdout)
  for (const line of meshconf) t.regex(line, /\ttrue\t(tlsv1\.[23]|'tlsv1\.[23]')/, line)

  dm.action('shop', { action: 'undeploy-all' })
  await waitFor('undeployed', () => Object.values(statuses(dm.instances('shop'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
})

test.serial('a DM or an agent pinning another authority, or none, is refused by the broker\'s certificate: never connected', async t => {
  t.timeout(60_000)
  const url = broker.tlsUrl as string
  const attempts = [
    { who: 'agent, another authority', ca: otherCa.cert as string | undefined, kind: 'agent' },
    { who: 'agent, the system\'s authorities', ca: undefined, kind: 'agent' },
    { who: 'DM, another authority', ca: otherCa.cert, kind: 'dm' }
  ]
  for (const attempt of attempts) {
    const logger = captureLogger()
    const client = attempt.kind === 'agent'
      ? createAgentLink({ application: 'shop', scopedInstancePath: '/vm1', logger, endpoint: { kind: 'amqp', url, domain: 'meshconf-trust-amqps', ...(attempt.ca !== undefined ? { ca: attempt.ca } : {}) } })
      : createAmqpMessaging({ url, ca: attempt.ca as string, domain: 'meshconf-trust-amqps', logger })
    let started = false
    void client.start().then(() => { started = true }, () => {})
    await waitFor(`${attempt.who}: the refusal logged`, () => logger.lines.some(l => l.includes('cannot reach RabbitMQ')), { timeoutMs: 20_000 })
    await new Promise(resolve => setTimeout(resolve, REFUSED_WATCH_MS))
    await client.stop()
    t.false(started, attempt.who)
    const refusal = logger.lines.find(l => l.includes('cannot reach RabbitMQ')) ?? ''
    t.regex(refusal, /self[- ]signed|unable to verify|certificate/i, `${attempt.who}: ${refusal}`)
    // the password never shows in the log
    t.false(logger.lines.some(l => l.includes(new URL(url).password)), attempt.who)
  }
})

test('an impostor broker with a certificate of another authority never gets a byte of AMQP (no credentials)', async t => {
  const impostorCert = serverCertificate(otherCa)
  const received: Buffer[] = []
  const sockets: TLSSocket[] = []
  const impostor = createTlsServer({ cert: impostorCert.cert, key: impostorCert.key }, socket => {
    sockets.push(socket)
    socket.on('data', chunk => received.push(chunk))
    socket.on('error', () => {})
  })
  let handshakeErrors = 0
  impostor.on('tlsClientError', () => { handshakeErrors++ })
  await new Promise<void>(resolve => impostor.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); impostor.close() })
  const port = (impostor.address() as AddressInfo).port
  const logger = captureLogger()
  const link = createAgentLink({
    application: 'shop', scopedInstancePath: '/vm1', logger,
    endpoint: { kind: 'amqp', url: `amqps://machine-vm1:secret-of-vm1@127.0.0.1:${port}`, domain: 'meshconf-trust-amqps', ca: brokerCa.cert }
  })
  void link.start().catch(() => {})
  await waitFor('the handshake refused', () => handshakeErrors > 0 && logger.lines.some(l => l.includes('cannot reach RabbitMQ')), { timeoutMs: 20_000 })
  await link.stop()
  t.deepEqual(received, [])
  t.false(Buffer.concat(received).includes('secret-of-vm1'))
})

test('an authority given with a plain amqp:// URL is refused: the link would be clear', t => {
  t.throws(() => createAmqpMessaging({ url: 'amqp://guest:guest@127.0.0.1:5672', ca: brokerCa.cert, logger: quiet }), { instanceOf: AmqpCaWithoutTlsError })
  t.throws(() => createAmqpMessaging({ url: 'amqps://guest:guest@127.0.0.1:5671', agentUrl: 'amqp://guest:guest@10.0.0.1:5672', ca: brokerCa.cert, logger: quiet }), { instanceOf: AmqpCaWithoutTlsError })
})
