// The embedded agents' endpoint before authentication: a frame over the size limit closes its socket as soon as its
// header arrives (a 50 MiB frame with no hello is never buffered), a socket without a hello is closed after the
// deadline, an address may hold only a few such sockets, hello fields have length limits, and what an agent sent
// reaches the log escaped. Every refusal is counted by reason.
import test, { type ExecutionContext } from 'ava'
import { randomBytes, randomUUID } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { EMBEDDED_CLOSE_CODES } from '../protocol/embedded-frames.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { EMBEDDED_MAX_FRAME_BYTES, EMBEDDED_MAX_HELLO_PATH_CHARS } from '../manager/messaging/limits.js'
import { captureLogger } from './messaging-helpers.js'

async function startDm (t: ExecutionContext, options: { helloDeadlineMs?: number, maxUnauthenticatedPerAddress?: number } = {}) {
  const logger = captureLogger()
  const dmToken = randomUUID()
  const dm = createEmbeddedMessaging({ dmToken, port: 0, logger, ...options })
  await dm.start()
  t.teardown(async () => { await dm.stop() })
  const endpoint = dm.agentEndpoint()
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  return { dm, logger, dmToken, url: new URL(endpoint.url) }
}

/** A raw TCP client that completes the WebSocket upgrade; resolves with its socket. */
async function upgraded (url: URL): Promise<Socket> {
  const socket = connect(Number(url.port), url.hostname)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  await new Promise<void>((resolve, reject) => {
    let head = ''
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      if (head.startsWith('HTTP/1.1 101')) resolve()
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`))
    }
    socket.on('data', onData)
  })
  return socket
}

test('a 50 MiB frame before hello: the socket is closed (1009) at its header, the DM buffers nothing of it', async t => {
  const { dm, url } = await startDm(t)
  const socket = await upgraded(url)
  const frameBytes = 50 * 1024 * 1024
  // FIN + binary opcode, masked, 64-bit length: the header announces 50 MiB.
  const header = Buffer.alloc(14)
  header[0] = 0x82
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(frameBytes), 2)
  randomBytes(4).copy(header, 10)
  let closedFrame: Buffer | undefined
  socket.on('data', (chunk: Buffer) => { closedFrame ??= chunk })
  const ended = new Promise<void>(resolve => { socket.once('close', () => resolve()) })
  socket.on('error', () => {})
  const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  socket.write(header)
  // Stream the payload in 1 MiB chunks until the DM hangs up (never all of it).
  const chunk = Buffer.alloc(1024 * 1024)
  let sent = 0
  let closed = false
  void ended.then(() => { closed = true })
  while (!closed && sent < frameBytes) {
    if (!socket.write(chunk)) await new Promise(resolve => setTimeout(resolve, 5))
    sent += chunk.byteLength
    await new Promise(resolve => setImmediate(resolve))
  }
  await ended
  t.true(sent < frameBytes, `the DM hung up after ${sent} of ${frameBytes} bytes`)
  // The server's close frame: opcode 8, status 1009 (message too big).
  t.truthy(closedFrame)
  t.is((closedFrame as Buffer)[0] & 0x0f, 8)
  t.is((closedFrame as Buffer).readUInt16BE(2), 1009)
  const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heapBefore
  t.true(grown < 2 * EMBEDDED_MAX_FRAME_BYTES + 16 * 1024 * 1024, `memory grew by ${grown} bytes`)
  t.like(dm.metrics().refused, { 'frame-too-large': 1 })
})

test('a socket that says no hello is closed after the deadline; an address holds only a few such sockets', async t => {
  // The deadline leaves time for four sockets to open on a busy host: a first one closed before the fourth opened
  // would free its slot (a fourth 'no-hello' instead of the refusal).
  const { dm, url } = await startDm(t, { helloDeadlineMs: 1500, maxUnauthenticatedPerAddress: 3 })
  const open = async (): Promise<{ socket: WebSocket, closed: Promise<number> }> => {
    const socket = new WebSocket(url)
    const closed = new Promise<number>(resolve => socket.once('close', code => resolve(code)))
    await new Promise(resolve => socket.once('open', resolve))
    return { socket, closed }
  }
  const silent = await Promise.all([open(), open(), open()])
  const fourth = await open()
  t.is(await fourth.closed, 1013, 'the fourth silent socket of one address is refused at once')
  for (const { closed } of silent) t.is(await closed, EMBEDDED_CLOSE_CODES.badHello)
  t.like(dm.metrics().refused, { 'too-many-unauthenticated': 1, 'no-hello': 3 })
  // Their slots are free again.
  const fifth = await open()
  t.is(await fifth.closed, EMBEDDED_CLOSE_CODES.badHello)
})

test('hello fields have length limits; an agent\'s fields reach the log escaped; a long application does not crash the close', async t => {
  const { dm, logger, dmToken, url } = await startDm(t)
  const hello = async (fields: Record<string, string>): Promise<number> => {
    const socket = new WebSocket(url)
    const closed = new Promise<number>(resolve => socket.once('close', code => resolve(code)))
    socket.once('open', () => socket.send(JSON.stringify({ t: 'hello', v: 1, application: 'app', scopedInstancePath: '/VM', token: 'x', epoch: 'e', ...fields })))
    return await closed
  }
  t.is(await hello({ scopedInstancePath: `/${'x'.repeat(EMBEDDED_MAX_HELLO_PATH_CHARS)}`, token: dmToken }), EMBEDDED_CLOSE_CODES.badHello)
  t.is(await hello({ token: 'y'.repeat(10_000) }), EMBEDDED_CLOSE_CODES.badHello, 'a first frame over the hello size is refused')
  // A bad token for an application whose name is longer than a close reason may be (123 bytes).
  t.is(await hello({ application: 'é'.repeat(200) }), EMBEDDED_CLOSE_CODES.unauthorized)
  t.is(await hello({ scopedInstancePath: '/VM\n[error] forged log line\u001b[2J' }), EMBEDDED_CLOSE_CODES.unauthorized)
  const lines = logger.lines.join('\n')
  t.false(lines.includes('\n[error] forged log line'), 'no line break from the agent reaches the log')
  t.false(lines.includes('\u001b'))
  t.true(lines.includes('"/VM\\n[error] forged log line\\u001b[2J"'))
  t.like(dm.metrics().refused, { 'field-too-long': 1, 'frame-too-large': 1, 'no-machine': 2 })
  // The endpoint still serves agents.
  const good = new WebSocket(url)
  const welcome = new Promise<string>(resolve => good.once('message', data => resolve(String(data))))
  good.once('open', () => good.send(JSON.stringify({ t: 'hello', v: 1, application: 'app', scopedInstancePath: '/VM', token: dmToken, epoch: 'e' })))
  t.regex(await welcome, /"t":"welcome"/)
  good.close()
})
