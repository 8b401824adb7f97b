// The DM in a process of its own, so that the chaos runs can kill it with -9 and start it again on the same data.
// Usage: node dist/simulations/chaos/dm-process.js '<DmServiceOptions as JSON>'
// Prints one line `{"url": ..., "token": ...}` on stdout once the REST API listens; stops on SIGTERM.
import '../../agent/polyfill.js'
import { startDmService, type DmServiceOptions } from '../../manager/commands/dm.js'

let options: DmServiceOptions
try {
  options = JSON.parse(process.argv[2] ?? '') as DmServiceOptions
} catch {
  console.error('usage: node dm-process.js \'{"dataDirectory": "...", "port": 0, ...}\' (DmServiceOptions as JSON)')
  process.exit(2)
}
const service = await startDmService({
  ...options,
  log: {
    debug: () => {},
    info: () => {},
    warn: (message: string) => { process.stderr.write(`WARN ${message}\n`) },
    error: (message: string) => { process.stderr.write(`ERROR ${message}\n`) }
  }
})
process.stdout.write(`${JSON.stringify({ url: service.url, token: service.token })}\n`)
const stop = (): void => { void service.stop().finally(() => process.exit(0)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
