#!/usr/bin/env node
// Entry point of the meshconf CLI: runs the compiled sources (npm install builds them into dist/).
import '../dist/agent/polyfill.js'
import { main } from '../dist/manager/cli.js'

process.exitCode = await main(process.argv)
