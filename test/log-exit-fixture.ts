// A process logging through the process logger (common/log.ts) to a file, then ending as the test asks:
// `node --import tsx test/log-exit-fixture.ts <file> exit|throw|wait`. `exit`: process.exit(3) in the turn that logged;
// `throw`: an uncaught exception in that turn; `wait`: prints `logged` on stdout a turn later and waits (to be killed).
import { closeSync, openSync } from 'node:fs'
import { createProcessLogger } from '../common/log.js'

const [file, mode] = process.argv.slice(2)
const fd = openSync(file, 'a')
const log = createProcessLogger({ component: 'fixture', readable: false, fd })
log.info('first line')
log.warn('second line')
if (mode === 'exit') process.exit(3)
if (mode === 'throw') throw new Error('boom')
setTimeout(() => {
  process.stdout.write('logged\n')
  setInterval(() => { closeSync(openSync(file, 'r')) }, 60_000)
}, 0)
