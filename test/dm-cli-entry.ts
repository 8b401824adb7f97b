// The meshconf CLI from the sources (tests): `node --import tsx test/dm-cli-entry.ts <args>`.
import '../agent/polyfill.js'
import { main } from '../manager/cli.js'

process.exitCode = await main(process.argv)
