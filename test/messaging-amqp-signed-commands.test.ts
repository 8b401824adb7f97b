// Commands from the DM over RabbitMQ are signed with the DM's key, as on the embedded endpoint: against the real
// broker at 127.0.0.1:5672 (a unique domain per test), with machines sharing the broker user (the fallback without
// the management API, where any machine may publish to any queue). An agent given the DM key in its endpoint handles
// only what the DM signed for it: a rogue publishing an unsigned command, a genuine signature on a changed body,
// another machine's genuine command, or a copy of a genuine command published again, is refused and counted, and
// nothing of it reaches the handler. A man in the middle of a plain amqp:// link (a TCP proxy that rewrites the
// broker's frames) is detected the same way.
import test, { type ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import { createAgentLink } from '../agent/link/index.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import { memoryCredentialStore } from '../manager/messaging/credentials.js'
import type { DmMessaging } from '../manager/messaging/types.js'
import { DM_COMMAND_HEADERS, agentRoutingKey, agentsExchangeName } from '../protocol/broker-names.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import type { DmToAgentMessage } from '../protocol/messages.js'
import { createDmSigningKey, signDmCommand, type DmSigningKey } from '../protocol/mesh.js'
import { AMQP_URL, captureLogger, deleteAmqpNames } from './messaging-helpers.js'
import { rewritingProxy } from './helpers/proxy.js'
import { waitFor } from './helpers/wait.js'

const start: DmToAgentMessage = { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STARTED' }
const stop: DmToAgentMessage = { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STOPPED' }

/** A DM over the shared broker user, signing its commands; its endpoints for /VM 1 and /VM 2. */
async function signingDm (t: ExecutionContext): Promise<{ dm: DmMessaging, domain: string, signingKey: DmSigningKey, endpoint: (path: string) => Promise<Extract<AgentEndpoint, { kind: 'amqp' }>> }> {
  const domain = `trust-cmd-${randomUUID().slice(0, 8)}`
  const signingKey = createDmSigningKey()
  const dm = createDmMessaging({ kind: 'amqp', url: AMQP_URL, domain, managementApi: false },
    { logger: captureLogger(), credentials: memoryCredentialStore(), signingKey })
  await dm.start()
  t.teardown(async () => {
    await dm.deleteApplication('shop')
    await dm.stop()
    await deleteAmqpNames(AMQP_URL, domain, [['shop', '/VM 1'], ['shop', '/VM 2']])
  })
  const endpoint = async (path: string): Promise<Extract<AgentEndpoint, { kind: 'amqp' }>> => {
    await dm.prepareAgent('shop', path)
    const found = dm.agentEndpoint({ application: 'shop', scopedInstancePath: path })
    if (found.kind !== 'amqp') throw new Error('expected an amqp endpoint')
    return found
  }
  return { dm, domain, signingKey, endpoint }
}

async function agent (t: ExecutionContext, endpoint: AgentEndpoint, path: string): Promise<{ received: DmToAgentMessage[], link: ReturnType<typeof createAgentLink>, logs: string[] }> {
  const logger = captureLogger()
  const link = createAgentLink({ endpoint, application: 'shop', scopedInstancePath: path, logger })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  await link.start()
  t.teardown(async () => { await link.stop() })
  return { received, link, logs: logger.lines }
}

test('a rogue sharing the broker user cannot make an agent run a command: unsigned, changed, another machine\'s, or replayed', async t => {
  const { dm, domain, endpoint } = await signingDm(t)
  const vm1 = await endpoint('/VM 1')
  await endpoint('/VM 2')
  t.truthy(vm1.dmKey, 'the endpoint carries the DM key')
  const { received, link, logs } = await agent(t, vm1, '/VM 1')

  // The rogue: the shared user, which may read and publish anywhere. It copies what the DM sends to both machines.
  const rogue = await amqp.connect(AMQP_URL, { noDelay: true })
  t.teardown(async () => { await rogue.close().catch(() => {}) })
  const channel = await rogue.createConfirmChannel()
  const exchange = agentsExchangeName(domain, 'shop')
  const { queue: copies } = await channel.assertQueue('', { exclusive: true, autoDelete: true })
  await channel.bindQueue(copies, exchange, '#')
  const captured: Array<{ routingKey: string, content: Buffer, headers: Record<string, unknown> }> = []
  await channel.consume(copies, m => { if (m !== null) captured.push({ routingKey: m.fields.routingKey, content: m.content, headers: m.properties.headers ?? {} }) }, { noAck: true })

  await dm.sendToAgent('shop', '/VM 1', start)
  await dm.sendToAgent('shop', '/VM 2', stop)
  await waitFor('the genuine command handled, and both copied', () => received.length === 1 && captured.length === 2)
  t.deepEqual(received, [start])
  const genuine1 = captured.find(c => c.routingKey === agentRoutingKey('/VM 1'))
  const genuine2 = captured.find(c => c.routingKey === agentRoutingKey('/VM 2'))
  if (genuine1 === undefined || genuine2 === undefined) throw new Error('copies missing')
  t.is(typeof genuine1.headers[DM_COMMAND_HEADERS.signature], 'string')

  const publish = async (content: Buffer, headers: Record<string, unknown>): Promise<void> => {
    channel.publish(exchange, agentRoutingKey('/VM 1'), content, { headers })
    await channel.waitForConfirms()
  }
  const before = link.metrics().rejected
  await publish(Buffer.from(JSON.stringify(stop)), {}) // unsigned
  await publish(Buffer.from(JSON.stringify(stop)), genuine1.headers) // a genuine signature on a changed body
  await publish(Buffer.from(JSON.stringify({ ...stop, instancePath: '/VM 1/App' })), genuine2.headers) // /VM 2's signature
  await publish(genuine2.content, genuine2.headers) // /VM 2's genuine command, sent to /VM 1
  await publish(genuine1.content, genuine1.headers) // the genuine command to /VM 1, published again
  await waitFor('five refused', () => link.metrics().rejected === before + 5, { state: () => logs })
  t.deepEqual(received, [start], 'nothing of the rogue\'s reached the agent')
  t.is(logs.filter(l => /is not signed/.test(l)).length, 1)
  t.is(logs.filter(l => /does not match its signature/.test(l)).length, 3)
  t.is(logs.filter(l => /a copy published again, dropped/.test(l)).length, 1)

  // and the DM's next command still goes through
  await dm.sendToAgent('shop', '/VM 1', stop)
  await waitFor('the next genuine command', () => received.length === 2)
  t.deepEqual(received, [start, stop])
})

test('a man in the middle of amqp:// that rewrites a command (STARTED -> STOPPED) is detected: refused, counted, nothing handled', async t => {
  const { dm, endpoint } = await signingDm(t)
  const vm1 = await endpoint('/VM 1')
  let rewritten = 0
  const port = await rewritingProxy(t, Number(new URL(AMQP_URL).port), chunk => {
    const text = chunk.toString('latin1')
    if (!text.includes('DEPLOYED_STARTED')) return chunk
    rewritten++
    return Buffer.from(text.replace('DEPLOYED_STARTED', 'DEPLOYED_STOPPED'), 'latin1')
  })
  const through = { ...vm1, url: vm1.url.replace(/:\d+(\/|$)/, `:${port}$1`) }
  t.not(through.url, vm1.url)
  const { received, link } = await agent(t, through, '/VM 1')
  await dm.sendToAgent('shop', '/VM 1', start)
  await waitFor('the rewritten command refused', () => link.metrics().rejected === 1)
  t.is(rewritten, 1)
  t.deepEqual(received, [], 'no changed command reaches the agent')
})

test('genuine commands arriving out of sequence order (a nacked one published again after a later one) are all handled', async t => {
  const { domain, signingKey, endpoint } = await signingDm(t)
  const vm1 = await endpoint('/VM 1')
  const { received, link } = await agent(t, vm1, '/VM 1')
  const connection = await amqp.connect(AMQP_URL, { noDelay: true })
  t.teardown(async () => { await connection.close().catch(() => {}) })
  const channel = await connection.createConfirmChannel()
  // as the DM's outbox does when the broker nacks the first and confirms the second: the later number arrives first
  for (const [seq, msg] of [[2_000, stop], [1_000, start]] as const) {
    channel.publish(agentsExchangeName(domain, 'shop'), agentRoutingKey('/VM 1'), Buffer.from(JSON.stringify(msg)), {
      headers: { [DM_COMMAND_HEADERS.seq]: seq, [DM_COMMAND_HEADERS.signature]: signDmCommand(signingKey, 'shop', '/VM 1', seq, msg) }
    })
  }
  await channel.waitForConfirms()
  await waitFor('both handled', () => received.length === 2)
  t.deepEqual(received, [stop, start])
  t.is(link.metrics().rejected, 0)
})
