// Ports for services started on this host: the DM and agents of a simulation, the tests' and benchmarks' services.
import { createServer } from 'node:net'

/** Lowest and highest port `freePort` draws from: below Linux's ephemeral range (32768+). */
const FREE_PORT_MIN = 20_000
const FREE_PORT_MAX = 32_000

/**
 * A TCP port on 127.0.0.1 free right now, for a service started a moment later. Drawn below Linux's ephemeral range,
 * where the outgoing connections of the processes running alongside take their source ports (a port the kernel
 * hands out for port 0 may be taken by one of them before the service binds it).
 */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FREE_PORT_MIN + Math.floor(Math.random() * (FREE_PORT_MAX - FREE_PORT_MIN))
    const server = createServer()
    const bound = await new Promise<boolean>(resolve => {
      server.once('error', () => { resolve(false) }).listen(port, '127.0.0.1', () => { resolve(true) })
    })
    if (bound) {
      await new Promise(resolve => server.close(resolve))
      return port
    }
  }
  throw new Error(`no free TCP port found between ${FREE_PORT_MIN} and ${FREE_PORT_MAX} after 50 attempts`)
}
