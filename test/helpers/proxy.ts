// A plain TCP proxy that rewrites what the server sends: the man in the middle of the signed-command tests (the
// embedded endpoint and RabbitMQ).
import type { ExecutionContext } from 'ava'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'

/**
 * A TCP proxy to `port` that passes the agent's bytes as they are (shown to `seen`) and the DM's through `rewrite`.
 */
export async function rewritingProxy (t: ExecutionContext, port: number, rewrite: (chunk: Buffer) => Buffer, seen: (chunk: Buffer) => void = () => {}): Promise<number> {
  const sockets: Socket[] = []
  const server = createServer(client => {
    const upstream = connect(port, '127.0.0.1')
    sockets.push(client, upstream)
    client.on('data', chunk => { seen(chunk); upstream.write(chunk) })
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
