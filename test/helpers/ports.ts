// A port a test occupies itself (freePort: common/net.ts).
import { createServer, type Server } from 'node:net'

/** Takes 127.0.0.1:`port` (an agent's old port) and drops every connection made to it: nothing answers there. */
export async function occupyPort (port: number): Promise<Server> {
  const server = createServer(socket => { socket.destroy() })
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(port, '127.0.0.1', resolve) })
  return server
}
