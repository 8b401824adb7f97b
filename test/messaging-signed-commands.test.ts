// Commands from the DM are signed with its key, and an agent given that key (its params) handles only what the DM
// signed: a man in the middle (a plain TCP proxy that rewrites the DM's frames on the way) is detected, counted, and
// nothing of the changed command reaches the agent's handler; an unsigned command is refused the same way.
import test, { type ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { createWebSocketLink } from '../agent/link/websocket.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createDmSigningKey } from '../protocol/mesh.js'
import type { AgentEndpoint, DmToAgentMessage } from '../protocol/messages.js'
import { captureLogger } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

/** A TCP proxy to `port` that passes the agent's bytes as they are and the DM's through `rewrite`. */
async function proxy (t: ExecutionContext, port: number, rewrite: (chunk: Buffer) => Buffer): Promise<number> {
  const sockets: Socket[] = []
  const server = createServer(client => {
    const upstream = connect(port, '127.0.0.1')
    sockets.push(client, upstream)
    client.on('data', chunk => upstream.write(chunk))
    upstream.on('data', chunk => client.write(rewrite(chunk)))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => {})
    upstream.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return (server.address() as AddressInfo).port
}

function embedded (endpoint: AgentEndpoint): { url: string, token: string, dmKey?: string } {
  if (endpoint.kind !== 'embedded') throw new Error('expected an embedded endpoint')
  return endpoint
}

const start: DmToAgentMessage = { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STARTED' }

async function agentThrough (t: ExecutionContext, signed: boolean, rewrite: (chunk: Buffer) => Buffer) {
  const signingKey = createDmSigningKey()
  const dm = createEmbeddedMessaging({ dmToken: randomUUID(), port: 0, logger: captureLogger(), ...(signed ? { signingKey } : {}) })
  await dm.start()
  t.teardown(async () => { await dm.stop() })
  const endpoint = embedded(dm.agentEndpoint({ application: 'app', scopedInstancePath: '/VM 1' }))
  const port = await proxy(t, Number(new URL(endpoint.url).port), rewrite)
  const link = createWebSocketLink({
    url: endpoint.url.replace(/:\d+\//, `:${port}/`), token: endpoint.token, dmKey: signingKey.publicKey,
    application: 'app', scopedInstancePath: '/VM 1', logger: captureLogger()
  })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  await link.start()
  t.teardown(async () => { await link.stop() })
  return { dm, link, received, endpoint }
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
