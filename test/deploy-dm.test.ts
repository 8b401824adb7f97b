// The DM's systemd unit stays consistent with `meshconf dm start` (every option of its ExecStart lines exists and
// takes the value given) and with systemd; existing machines' agents keep their state where the agent's unit says.
import test from 'ava'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { buildProgram } from '../manager/cli.js'
import { assertSystemdAccepts, unitValue } from './helpers/systemd.js'
import { EXISTING_AGENT_STATE_DIR } from '../manager/targets/existing.js'

const DM_UNIT = fileURLToPath(new URL('../deploy/meshconf-dm.service', import.meta.url))
const AGENT_UNIT = fileURLToPath(new URL('../deploy/meshconf-agent.service', import.meta.url))

test('the DM unit starts `meshconf dm start` with options it accepts, its data under the unit\'s state folder', async t => {
  const unit = await readFile(DM_UNIT, 'utf8')
  // the ExecStart line and the commented RabbitMQ variant
  const commands = unit.split('\n').filter(l => /^#? ?ExecStart=/.test(l)).map(l => l.replace(/^#? ?ExecStart=/, '').split(' '))
  t.is(commands.length, 2)
  for (const [binary, ...args] of commands) {
    t.is(binary, '/usr/local/bin/meshconf')
    t.deepEqual(args.slice(0, 2), ['dm', 'start'])
    const start = (await buildProgram(['dm'])).commands.find(c => c.name() === 'dm')?.commands.find(c => c.name() === 'start')
    if (start === undefined) return t.fail('no dm start command')
    // parsing runs each option's checks (they throw on a bad value) without starting a DM
    t.deepEqual(start.parseOptions(args.slice(2)), { operands: [], unknown: [] }, args.join(' '))
    const options = start.opts()
    t.like(options, { target: 'existing' })
    t.regex(options.agentsUrl, /^(wss|amqps):\/\//, 'TLS to the agents in both variants')
    t.false(/:\/\/[^/@\s]*:[^/@\s]*@/.test(args.join(' ')), `no password on the command line: ${args.join(' ')}`)
    t.true(String(options.dataDir).startsWith(`/var/lib/${unitValue(unit, 'StateDirectory') ?? '?'}/`), options.dataDir)
  }
  t.is(unitValue(unit, 'Environment')?.split(' ').find(v => v.startsWith('HOME=')), `HOME=/var/lib/${unitValue(unit, 'StateDirectory') ?? '?'}`)
})

test('systemd accepts the DM unit (only the not yet installed meshconf binary may be missing)', async t => {
  await assertSystemdAccepts(t, DM_UNIT)
})

test('an existing machine\'s agent keeps its state in the folder its unit makes', async t => {
  const unit = await readFile(AGENT_UNIT, 'utf8')
  t.true(EXISTING_AGENT_STATE_DIR.startsWith(`/var/lib/${unitValue(unit, 'StateDirectory') ?? '?'}/`))
})
