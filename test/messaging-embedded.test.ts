// The embedded endpoint's specifics: agent tokens, refused hellos, and agents that reconnect by themselves when the
// DM's endpoint goes away and comes back, losing nothing they sent meanwhile.
import test from 'ava'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { EMBEDDED_CLOSE_CODES, type AgentToDmMessage, type DmToAgentMessage } from '../protocol/messages.js'
import { AgentLinkRefusedError, createWebSocketLink } from '../agent/link/websocket.js'
import { EmbeddedListenError, createEmbeddedMessaging, embeddedAgentToken } from '../manager/messaging/embedded.js'
import { captureLogger, heartbeat, removeInstance } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

async function startDm (dmToken: string, port = 0): Promise<ReturnType<typeof createEmbeddedMessaging>> {
  const dm = createEmbeddedMessaging({ dmToken, port, logger: captureLogger() })
  await dm.start()
  return dm
}

test('agents authenticate with their application\'s token or the DM token; other tokens are refused', async t => {
  const dmToken = randomUUID()
  const dm = await startDm(dmToken)
  t.teardown(async () => { await dm.stop() })
  const endpoint = dm.agentEndpoint('app1')
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  t.is(endpoint.token, embeddedAgentToken(dmToken, 'app1'))
  t.not(endpoint.token, dmToken)
  const link = (application: string, token: string) => createWebSocketLink({ url: endpoint.url, token, application, scopedInstancePath: '/VM 1', logger: captureLogger() })

  const good = link('app1', endpoint.token)
  await good.start()
  t.true(good.connected())
  await good.stop()
  const withDmToken = link('app2', dmToken)
  await withDmToken.start()
  await withDmToken.stop()

  const otherApplication = await t.throwsAsync(link('app2', endpoint.token).start(), { instanceOf: AgentLinkRefusedError })
  t.regex(otherApplication.message, /4401.*token not valid for application 'app2'/)
  await t.throwsAsync(link('app1', 'guessed').start(), { instanceOf: AgentLinkRefusedError })
  t.is(dm.metrics().connections, 2)
})

test('a connection that does not start with a valid hello is closed', async t => {
  const dm = await startDm(randomUUID())
  t.teardown(async () => { await dm.stop() })
  const endpoint = dm.agentEndpoint()
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  for (const first of ['garbage', JSON.stringify({ t: 'msg', seq: 0, body: heartbeat('app1', '/VM 1') }), JSON.stringify({ t: 'hello', v: 9, application: 'a', scopedInstancePath: '/x', token: 't', epoch: 'e' })]) {
    const socket = new WebSocket(endpoint.url)
    const closed = new Promise<number>(resolve => socket.once('close', code => resolve(code)))
    socket.once('open', () => socket.send(first))
    t.is(await closed, EMBEDDED_CLOSE_CODES.badHello, first)
  }
  t.is(dm.metrics().rejected, 2)
})

test('an agent reconnects when the DM endpoint comes back, and what it sent meanwhile arrives', async t => {
  const dmToken = randomUUID()
  const first = await startDm(dmToken)
  const endpoint = first.agentEndpoint('app1')
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  const port = Number(new URL(endpoint.url).port)
  const logger = captureLogger()
  const link = createWebSocketLink({ url: endpoint.url, token: endpoint.token, application: 'app1', scopedInstancePath: '/VM 1', logger })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  await link.start()
  let second: ReturnType<typeof createEmbeddedMessaging> | undefined
  t.teardown(async () => {
    await link.stop()
    await first.stop()
    await second?.stop()
  })

  await first.stop()
  await waitFor('the agent to notice', () => !link.connected())
  const sending = [link.send(heartbeat('app1', '/VM 1')), link.send({ v: 1, kind: 'instanceRemoved', application: 'app1', instancePath: '/VM 1/Tomcat' })]

  second = await startDm(dmToken, port)
  const notifications: AgentToDmMessage[] = []
  second.onAgentMessage(msg => { notifications.push(msg) })
  await Promise.all(sending)
  await waitFor('both notifications', () => notifications.length === 2)
  t.deepEqual(notifications.map(m => m.kind), ['heartbeat', 'instanceRemoved'])
  // the new DM process numbers from 0 again: the agent must not take its messages for replays
  await second.sendToAgent('app1', '/VM 1', removeInstance('/VM 1/after restart'))
  await waitFor('the message of the new DM', () => received.length === 1)
  t.deepEqual(received, [removeInstance('/VM 1/after restart')])
  t.true(logger.lines.some(line => line.includes('reconnected to the DM')))
  t.is((second.agentEndpoint() as { url: string }).url, `ws://127.0.0.1:${port}/agents`)
})

test('the endpoint listens on the configured port and refuses a port in use with a clear error', async t => {
  const dm = await startDm(randomUUID())
  t.teardown(async () => { await dm.stop() })
  const port = Number(new URL((dm.agentEndpoint() as { url: string }).url).port)
  t.true(port > 0)
  const clash = createEmbeddedMessaging({ dmToken: 'x', port })
  const error = await t.throwsAsync(clash.start(), { instanceOf: EmbeddedListenError })
  t.regex(error.message, new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE.*another port`))
})
