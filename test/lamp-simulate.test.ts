// `meshconf simulate lamp` end to end: a DM of its own, agent processes (the build, else the sources) on the local
// target, the embedded endpoint. Every step of the seed's story must pass: requests through Apache served in turn
// by both Tomcats reading MySQL, one Tomcat removed without restarting Apache, the Tomcat machine killed -9 and
// its agent restarted with the DM down (Apache UNRESOLVED, then serving again), the DM restarted with true states.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { main } from '../manager/cli.js'
import { runLampSimulation } from '../manager/commands/simulate.js'
import { LAMP_DIR, processesMentioning } from './lamp-helpers.js'

test('every step of the LAMP story passes, and the simulation leaves no process behind', async t => {
  t.timeout(15 * 60_000)
  // the compiled agent, as `meshconf simulate` runs it (npm ci builds dist/); the sources through tsx otherwise
  const root = join(LAMP_DIR, '..', '..')
  const compiled = join(root, 'dist', 'agent', 'main.js')
  const report = await runLampSimulation({
    agentCommand: existsSync(compiled) ? [process.execPath, compiled] : [process.execPath, '--import', 'tsx', join(root, 'agent', 'main.ts')],
    stepTimeoutMs: 240_000
  })
  const table = report.steps.map(s => `${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.ms} ms) ${s.detail ?? ''}`).join('\n')
  t.true(report.ok, table)
  t.deepEqual(report.steps.map(s => s.name), [
    'start the DM',
    'load the LAMP template and create the application',
    'deploy and start all',
    'requests through Apache, answered by Tomcat with data from MySQL',
    'add Tomcat VM 2: both Tomcats answer in turn',
    'remove Tomcat VM 2: only Tomcat VM 1 answers, Apache never restarted',
    'stop the DM',
    'kill -9 Tomcat VM 1\'s agent and its services',
    'without the DM: Apache goes UNRESOLVED',
    'start Tomcat VM 1\'s agent again: Apache started, requests flow, no DM',
    'start the DM again: it shows the true states',
    'clean up'
  ])
  for (const s of report.steps) t.true(Number.isInteger(s.ms) && s.ms >= 0)
  // agents and services run from the simulation's data folder (meshconf-simulate-*): none may be left
  t.deepEqual(processesMentioning('/meshconf-simulate-'), [])
})

test('an unknown scenario or target is a usage error (exit 2)', async t => {
  const stderr = process.stderr.write
  process.stderr.write = () => true
  try {
    t.is(await main(['node', 'meshconf', 'simulate', 'wordpress']), 2)
    t.is(await main(['node', 'meshconf', 'simulate', 'lamp', '--target', 'cloud']), 2)
  } finally {
    process.stderr.write = stderr
  }
})
