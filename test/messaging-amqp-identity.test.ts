// RabbitMQ with one broker user per machine (the DM makes them through the management API): against the real broker,
// in a virtual host of its own. A machine's credential reads only its own queue, publishes only with its own routing
// key and user id, and the DM takes from it only messages about its own machine; a revoked or replaced credential no
// longer connects, and its open connections are closed. Without the management API (the fallback), each machine signs
// what it sends the DM with a key of its own.
import test, { type ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import { createAgentLink } from '../agent/link/index.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import type { DmMessaging } from '../manager/messaging/types.js'
import {
  AGENT_SIGNATURE_HEADERS, signAgentMessage, agentQueueName, dmExchangeName, machineDmRoutingKey
} from '../protocol/broker-names.js'
import { toDm, type AgentToDmMessage, type DmToAgentMessage } from '../protocol/messages.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import { AMQP_URL, captureLogger, deleteAmqpNames } from './messaging-helpers.js'
import { memoryCredentialStore } from '../manager/messaging/credentials.js'
import { createDmSigningKey } from '../protocol/mesh.js'
import { waitFor } from './helpers/wait.js'

const MANAGEMENT = 'http://127.0.0.1:15672/api'
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`

async function management (method: string, path: string, body?: unknown): Promise<Response> {
  return await fetch(`${MANAGEMENT}${path}`, {
    method, headers: { authorization: GUEST, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
}

/** A DM over a virtual host of its own (deleted at the end, with the machines' users left). */
async function dmInOwnVhost (t: ExecutionContext): Promise<{ dm: DmMessaging, vhost: string, domain: string, received: AgentToDmMessage[], logs: string[] }> {
  const id = randomUUID().slice(0, 8)
  const vhost = `meshconf-trust-${id}`
  const domain = `trust-${id}`
  t.is((await management('PUT', `/vhosts/${vhost}`)).status, 201)
  t.true((await management('PUT', `/permissions/${vhost}/guest`, { configure: '.*', write: '.*', read: '.*' })).ok)
  const logger = captureLogger()
  const dm = createDmMessaging({ kind: 'amqp', url: `amqp://guest:guest@127.0.0.1:5672/${vhost}`, domain }, { logger })
  const received: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { received.push(msg) })
  await dm.start()
  t.teardown(async () => {
    await dm.stop()
    const users = await (await management('GET', '/users')).json() as Array<{ name: string }>
    for (const user of users.filter(u => u.name.startsWith(`${domain}/`))) await management('DELETE', `/users/${encodeURIComponent(user.name)}`)
    await management('DELETE', `/vhosts/${vhost}`)
  })
  return { dm, vhost, domain, received, logs: logger.lines }
}

async function machine (dm: DmMessaging, scopedInstancePath: string): Promise<Extract<AgentEndpoint, { kind: 'amqp' }>> {
  await dm.provisionAgent?.({ application: 'shop', scopedInstancePath })
  const endpoint = dm.agentEndpoint({ application: 'shop', scopedInstancePath })
  if (endpoint.kind !== 'amqp') throw new Error('expected an amqp endpoint')
  return endpoint
}

const userOf = (endpoint: { url: string }): string => decodeURIComponent(new URL(endpoint.url).username)

/** What the broker answers to `operation` on a fresh channel of `url`: 'ok', or the AMQP reply code that closed it. */
async function attempt (url: string, operation: (channel: amqp.ConfirmChannel) => Promise<unknown>): Promise<'ok' | number> {
  const connection = await amqp.connect(url, { noDelay: true })
  connection.on('error', () => {})
  try {
    const channel = await connection.createConfirmChannel()
    const closed = new Promise<number>(resolve => channel.on('close', () => resolve(-1)))
    let code: number | undefined
    channel.on('error', (err: { code?: number }) => { code = err.code })
    try {
      await operation(channel)
      await channel.waitForConfirms()
      await channel.close()
      return 'ok'
    } catch {
      await Promise.race([closed, new Promise(resolve => setTimeout(resolve, 1000))])
      return code ?? -1
    }
  } finally {
    await connection.close().catch(() => {})
  }
}

const heartbeat = (path: string): AgentToDmMessage => toDm({ kind: 'heartbeat', application: 'shop', scopedInstancePath: path, ipAddress: '10.0.0.1', modelRequired: true })

test('each machine has its own broker user: it reads only its own queue, and cannot speak for another machine', async t => {
  const { dm, domain, received } = await dmInOwnVhost(t)
  const vm1 = await machine(dm, '/VM 1')
  const vm2 = await machine(dm, '/VM 2')
  t.true(vm1.ownUser)
  t.not(userOf(vm1), userOf(vm2))
  t.false(vm1.url.includes('guest'), 'not the DM\'s user')

  // The machine's agent works with its own credential, both ways.
  const link = createAgentLink({ endpoint: vm1, application: 'shop', scopedInstancePath: '/VM 1', logger: captureLogger() })
  const commands: DmToAgentMessage[] = []
  link.onMessage(msg => { commands.push(msg) })
  await link.start()
  t.teardown(async () => { await link.stop() })
  await dm.sendToAgent('shop', '/VM 1', { v: 1, kind: 'resendStates' })
  await link.send(heartbeat('/VM 1'))
  await waitFor('both ways', () => commands.length === 1 && received.length === 1)

  // Reading another machine's queue: refused by the broker (403 ACCESS_REFUSED).
  t.is(await attempt(vm1.url, async channel => await channel.consume(agentQueueName(domain, 'shop', '/VM 2'), () => {})), 403)
  // Declaring anything: refused too.
  t.is(await attempt(vm1.url, async channel => await channel.assertQueue(`${domain}.made-up`)), 403)
  // Publishing with another machine's routing key (topic permissions), or another machine's user id: refused.
  t.is(await attempt(vm1.url, async channel => channel.publish(dmExchangeName(domain), machineDmRoutingKey('shop', '/VM 2'),
    Buffer.from(JSON.stringify(heartbeat('/VM 2'))), { userId: userOf(vm1) })), 403)
  t.is(await attempt(vm1.url, async channel => channel.publish(dmExchangeName(domain), machineDmRoutingKey('shop', '/VM 1'),
    Buffer.from(JSON.stringify(heartbeat('/VM 2'))), { userId: userOf(vm2) })), 406)
  // Its own key and user id, but about /VM 2: the broker passes it, the DM refuses it (the user is /VM 1's) and counts it.
  const before = dm.metrics().rejected
  t.is(await attempt(vm1.url, async channel => channel.publish(dmExchangeName(domain), machineDmRoutingKey('shop', '/VM 1'),
    Buffer.from(JSON.stringify(heartbeat('/VM 2'))), { userId: userOf(vm1) })), 'ok')
  // And a message with no user id (the DM's own user, or any shared one): refused the same way.
  t.is(await attempt(`amqp://guest:guest@127.0.0.1:5672/${new URL(vm1.url).pathname.slice(1)}`, async channel => channel.publish(
    dmExchangeName(domain), machineDmRoutingKey('shop', '/VM 2'), Buffer.from(JSON.stringify(heartbeat('/VM 2'))))), 'ok')
  await waitFor('both refused by the DM', () => dm.metrics().rejected === before + 2)
  t.deepEqual(received.map(m => m.kind === 'heartbeat' ? m.scopedInstancePath : m.kind), ['/VM 1'], 'nothing reached the DM\'s handlers')
})

test('a revoked credential (machine undeployed) and a replaced one (machine made again) no longer connect, and their sessions are closed', async t => {
  t.timeout(60_000)
  const { dm } = await dmInOwnVhost(t)
  const vm1 = await machine(dm, '/VM 1')
  const old2 = await machine(dm, '/VM 2')
  const link = createAgentLink({ endpoint: vm1, application: 'shop', scopedInstancePath: '/VM 1', logger: captureLogger() })
  await link.start()
  t.teardown(async () => { await link.stop() })
  t.true(link.connected())
  const open = await amqp.connect(old2.url, { noDelay: true })
  const openClosed = new Promise<void>(resolve => open.on('close', () => resolve()))
  open.on('error', () => {})

  await dm.forgetAgent('shop', '/VM 1')
  await t.throwsAsync(amqp.connect(vm1.url, { noDelay: true }), { message: /ACCESS_REFUSED|403/ }, 'the revoked credential is refused')
  await waitFor('the revoked machine\'s link cut', () => !link.connected())

  const new2 = await machine(dm, '/VM 2')
  t.not(new2.url, old2.url)
  await openClosed
  await t.throwsAsync(amqp.connect(old2.url, { noDelay: true }), { message: /ACCESS_REFUSED|403/ }, 'the previous generation\'s credential is refused')
  const connection = await amqp.connect(new2.url, { noDelay: true })
  t.truthy(connection.connection.serverProperties, 'the new credential connects')
  await connection.close()
})

test('without the management API, machines sign their messages: another machine\'s key, an unsigned message, a revoked or superseded key are refused', async t => {
  const id = randomUUID().slice(0, 8)
  const domain = `trust-sig-${id}`
  const logger = captureLogger()
  const credentials = memoryCredentialStore()
  const dm = createDmMessaging({ kind: 'amqp', url: AMQP_URL, domain, managementApi: false }, { logger, credentials, signingKey: createDmSigningKey() })
  const received: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { received.push(msg) })
  await dm.start()
  t.teardown(async () => {
    await dm.deleteApplication('shop')
    await dm.stop()
    await deleteAmqpNames(AMQP_URL, domain, [['shop', '/VM 1'], ['shop', '/VM 2']])
  })
  const endpointOf = async (path: string): Promise<Extract<AgentEndpoint, { kind: 'amqp' }>> => {
    await dm.prepareAgent('shop', path)
    const endpoint = dm.agentEndpoint({ application: 'shop', scopedInstancePath: path })
    if (endpoint.kind !== 'amqp' || endpoint.messageKey === undefined) throw new Error('expected a signing amqp endpoint')
    return endpoint
  }
  const vm1 = await endpointOf('/VM 1')
  const vm2 = await endpointOf('/VM 2')
  t.not(vm1.messageKey?.key, vm2.messageKey?.key)
  const link = createAgentLink({ endpoint: vm1, application: 'shop', scopedInstancePath: '/VM 1', logger: captureLogger() })
  await link.start()
  t.teardown(async () => { await link.stop() })
  await link.send(heartbeat('/VM 1'))
  await waitFor('the signed heartbeat', () => received.length === 1)

  /** Publishes `msg` as a rogue with the shared user, signed with `key` and claiming `path`, `generation`. */
  const forge = async (msg: AgentToDmMessage, key: string | undefined, path: string, generation: number): Promise<void> => {
    const content = Buffer.from(JSON.stringify(msg))
    const headers = key === undefined ? {} : {
      [AGENT_SIGNATURE_HEADERS.path]: path, [AGENT_SIGNATURE_HEADERS.generation]: generation, [AGENT_SIGNATURE_HEADERS.signature]: signAgentMessage(key, content)
    }
    t.is(await attempt(AMQP_URL, async channel => channel.publish(dmExchangeName(domain), machineDmRoutingKey('shop', path), content, { headers })), 'ok')
  }
  const before = dm.metrics().rejected
  await forge(heartbeat('/VM 2'), vm1.messageKey?.key, '/VM 2', 1) // /VM 1's key, claiming /VM 2
  await forge(heartbeat('/VM 2'), vm1.messageKey?.key, '/VM 1', 1) // /VM 1's own signature, about /VM 2
  await forge(heartbeat('/VM 2'), undefined, '/VM 2', 1) // unsigned
  await waitFor('three refused', () => dm.metrics().rejected === before + 3, { state: () => logger.lines })
  t.true(logger.lines.some(l => /signature of "\/VM 2" refused \(bad-credential\)/.test(l)))
  t.true(logger.lines.some(l => /not signed with a machine's message key/.test(l)))
  // /VM 1 undeployed: its key is revoked; /VM 2 made again: its first key is superseded.
  await dm.forgetAgent('shop', '/VM 1')
  const vm2again = await endpointOf('/VM 2')
  await forge(heartbeat('/VM 1'), vm1.messageKey?.key, '/VM 1', 1)
  await forge(heartbeat('/VM 2'), vm2.messageKey?.key, '/VM 2', 1)
  await waitFor('both refused', () => dm.metrics().rejected === before + 5, { state: () => logger.lines })
  t.true(logger.lines.some(l => /refused \(no-machine\)/.test(l)))
  t.true(logger.lines.some(l => /refused \(superseded\)/.test(l)))
  await forge(heartbeat('/VM 2'), vm2again.messageKey?.key, '/VM 2', vm2again.messageKey?.generation ?? 0)
  await waitFor('the new key taken', () => received.length === 2)
  t.deepEqual(received.map(m => m.kind === 'heartbeat' ? m.scopedInstancePath : m.kind), ['/VM 1', '/VM 2'])
})
