// A DM in its own process (so a test can kill -9 it): `node --import tsx test/dm-process-fixture.ts '<options JSON>'`.
// Prints one JSON line { url, token } once listening; stops cleanly on SIGTERM.
import '../agent/polyfill.js'
import { startDmService, type DmServiceOptions } from '../manager/commands/dm.js'
import { lineLogger } from '../common/log.js'

const options = JSON.parse(process.argv[2] ?? '{}') as DmServiceOptions
const service = await startDmService({ ...options, log: lineLogger((level, message) => { if (level !== 'debug') console.error(message) }) })
console.log(JSON.stringify({ url: service.url, token: service.token }))
process.once('SIGTERM', () => { void service.stop().then(() => process.exit(0)) })
