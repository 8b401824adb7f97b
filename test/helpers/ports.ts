// Ports for services a test starts itself.
import { createServer, type Server } from 'node:net'

/**
 * A port free right now for a service the test starts later. Drawn below Linux's ephemeral range (32768+), where
 * the outgoing connections of the tests running alongside take their source ports, so it stays free meanwhile.
 */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const server = createServer()
    const bound = await new Promise<boolean>(resolve => {
      server.once('error', () => { resolve(false) }).listen(port, '127.0.0.1', () => { resolve(true) })
    })
    if (bound) {
      await new Promise(resolve => server.close(resolve))
      return port
    }
  }
  throw new Error('no free TCP port found between 20000 and 32000')
}

/** Takes 127.0.0.1:`port` (an agent's old port) and drops every connection made to it: nothing answers there. */
export async function occupyPort (port: number): Promise<Server> {
  const server = createServer(socket => { socket.destroy() })
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(port, '127.0.0.1', resolve) })
  return server
}
