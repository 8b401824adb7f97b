// The embedded endpoint's specifics: agent tokens, refused hellos, and agents that reconnect by themselves when the
// DM's endpoint goes away and comes back, losing nothing they sent meanwhile.
import test from 'ava'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { EMBEDDED_CLOSE_CODES } from '../protocol/embedded-frames.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { AgentLinkRefusedError, createWebSocketLink } from '../agent/link/websocket.js'
import { EmbeddedListenError, createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { memoryCredentialStore, type MachineCredentialStore } from '../manager/messaging/credentials.js'
import { captureLogger, heartbeat, removeInstance } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

async function startDm (dmToken: string, port = 0, credentials?: MachineCredentialStore): Promise<ReturnType<typeof createEmbeddedMessaging>> {
  const dm = createEmbeddedMessaging({ dmToken, port, logger: captureLogger(), credentials })
  await dm.start()
  return dm
}

function embedded (endpoint: AgentEndpoint): { url: string, token: string } {
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  return endpoint
}

test('each machine\'s agent says hello with its own credential: another machine\'s, a revoked or superseded one, or one for a path with no machine is refused and counted', async t => {
  const dmToken = randomUUID()
  const dm = await startDm(dmToken)
  t.teardown(async () => { await dm.stop() })
  const vm1 = embedded(dm.agentEndpoint({ application: 'app1', scopedInstancePath: '/VM 1' }))
  const vm2 = embedded(dm.agentEndpoint({ application: 'app1', scopedInstancePath: '/VM 2' }))
  t.not(vm1.token, vm2.token)
  t.not(vm1.token, dmToken)
  const link = (application: string, path: string, token: string) => createWebSocketLink({ url: vm1.url, token, application, scopedInstancePath: path, logger: captureLogger() })
  const refusal = async (application: string, path: string, token: string): Promise<string> =>
    (await t.throwsAsync(link(application, path, token).start(), { instanceOf: AgentLinkRefusedError })).message

  const good = link('app1', '/VM 1', vm1.token)
  await good.start()
  t.true(good.connected())
  await good.stop()
  const withDmToken = link('app2', '/anything', dmToken)
  await withDmToken.start()
  await withDmToken.stop()

  // /VM 1's agent tries to pass for /VM 2 (impersonation), for another application, and with a made-up credential.
  t.regex(await refusal('app1', '/VM 2', vm1.token), /4401.*credential not valid for \/VM 2 of application 'app1' \(bad-credential\)/)
  t.regex(await refusal('app2', '/VM 1', vm1.token), /no-machine/)
  t.regex(await refusal('app1', '/VM 1', 'm1.guessed'), /bad-credential/)
  t.regex(await refusal('app1', '/VM 3', vm1.token), /4401.*\(no-machine\)/)
  // /VM 1 is made again: its previous credential is superseded. /VM 2 is undeployed: its credential is revoked.
  const again = embedded(dm.agentEndpoint({ application: 'app1', scopedInstancePath: '/VM 1' }))
  t.regex(again.token, /^m2\./)
  t.regex(await refusal('app1', '/VM 1', vm1.token), /\(superseded\)/)
  await dm.forgetAgent('app1', '/VM 2')
  t.regex(await refusal('app1', '/VM 2', vm2.token), /\(no-machine\)/)
  const renewed = link('app1', '/VM 1', again.token)
  await renewed.start()
  await renewed.stop()
  t.is(dm.metrics().connections, 3)
  t.deepEqual(dm.metrics().refused, { 'bad-credential': 2, 'no-machine': 3, superseded: 1 })
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
  // The credentials outlive the DM process (the DM keeps them in its store).
  const credentials = memoryCredentialStore()
  const first = await startDm(dmToken, 0, credentials)
  const endpoint = embedded(first.agentEndpoint({ application: 'app1', scopedInstancePath: '/VM 1' }))
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

  second = await startDm(dmToken, port, credentials)
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

test('frames still in flight on a connection another one took over do not touch the new connection\'s sequence: its messages are all handled', async t => {
  const dmToken = randomUUID()
  const dm = await startDm(dmToken)
  t.teardown(async () => { await dm.stop() })
  const received: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { received.push(msg) })
  const { url } = embedded(dm.agentEndpoint({ application: 'app1', scopedInstancePath: '/VM 1' }))
  const open = async (): Promise<WebSocket> => {
    const socket = new WebSocket(url)
    t.teardown(() => { socket.terminate() })
    await new Promise<void>((resolve, reject) => { socket.once('open', () => resolve()); socket.once('error', reject) })
    return socket
  }
  const hello = async (socket: WebSocket): Promise<void> => {
    const welcomed = new Promise<void>(resolve => socket.once('message', () => resolve()))
    socket.send(JSON.stringify({ t: 'hello', v: 1, application: 'app1', scopedInstancePath: '/VM 1', token: dmToken, epoch: randomUUID() }))
    await welcomed
  }
  // Each round: the old connection writes a message of a high sequence number in the same turn as the new one says
  // hello, so the DM reads it after the takeover in some rounds; then the new connection's first message (seq 0).
  const rounds = 20
  let old = await open()
  await hello(old)
  for (let round = 0; round < rounds; round++) {
    const next = await open()
    const welcomed = new Promise<void>(resolve => next.once('message', () => resolve()))
    next.send(JSON.stringify({ t: 'hello', v: 1, application: 'app1', scopedInstancePath: '/VM 1', token: dmToken, epoch: randomUUID() }))
    old.send(JSON.stringify({ t: 'msg', seq: 1000 + round, body: heartbeat('app1', '/VM 1', { ipAddress: `10.0.0.${round}` }) }))
    await welcomed
    next.send(JSON.stringify({ t: 'msg', seq: 0, body: heartbeat('app1', '/VM 1', { ipAddress: `127.0.0.${round}` }) }))
    await waitFor(`round ${round}'s message from the new connection`, () => received.some(m => m.kind === 'heartbeat' && m.ipAddress === `127.0.0.${round}`), { timeoutMs: 10_000 })
    old = next
  }
  t.is(received.filter(m => m.kind === 'heartbeat' && m.ipAddress.startsWith('127.0.0.')).length, rounds)
})

test('messages that arrive together are acknowledged by one frame, the highest; each is handled, and a later one gets its own', async t => {
  const dmToken = randomUUID()
  const dm = await startDm(dmToken)
  t.teardown(async () => { await dm.stop() })
  const handled: number[] = []
  dm.onAgentMessage(async msg => { if (msg.kind === 'heartbeat') handled.push(Number(msg.ipAddress)) })
  const socket = new WebSocket(embedded(dm.agentEndpoint()).url)
  t.teardown(() => { socket.terminate() })
  const frames: Array<{ t: string, seq?: number }> = []
  socket.on('message', data => { frames.push(JSON.parse(String(data))) })
  await new Promise<void>(resolve => socket.once('open', () => resolve()))
  socket.send(JSON.stringify({ t: 'hello', v: 1, application: 'app1', scopedInstancePath: '/VM 1', token: dmToken, epoch: randomUUID() }))
  const msg = (seq: number): string => JSON.stringify({ t: 'msg', seq, body: heartbeat('app1', '/VM 1', { ipAddress: String(seq) }) })
  // three messages in one write: one read on the DM's side
  const burst = [0, 1, 2].map(msg)
  ;(socket as unknown as { _socket: { write: (b: Buffer) => void } })._socket.write(Buffer.concat(burst.map(text => {
    const payload = Buffer.from(text)
    const mask = Buffer.from([1, 2, 3, 4])
    // a masked text frame, as a client sends it
    return Buffer.concat([Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]), mask, payload.map((b, i) => b ^ mask[i % 4])])
  })))
  await waitFor('the acknowledgement of the burst', () => frames.some(f => f.t === 'ack'), { timeoutMs: 5_000 })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.deepEqual(handled, [0, 1, 2])
  t.deepEqual(frames.filter(f => f.t === 'ack'), [{ t: 'ack', seq: 2 }])
  socket.send(msg(3))
  await waitFor('the acknowledgement of the next message', () => frames.filter(f => f.t === 'ack').length === 2, { timeoutMs: 5_000 })
  t.deepEqual(frames.filter(f => f.t === 'ack'), [{ t: 'ack', seq: 2 }, { t: 'ack', seq: 3 }])
  t.deepEqual(handled, [0, 1, 2, 3])
})
