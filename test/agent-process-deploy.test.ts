// The deployment files stay consistent with the agent: the user data's params file is valid for agent/params.ts,
// and the systemd unit runs `meshconf agent` on the file the user data writes, with the state and log folders the
// params name.
import test from 'ava'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseAgentParams } from '../protocol/agent-params.js'
import { assertSystemdAccepts, unitValue } from './helpers/systemd.js'
import { AGENT_ENVIRONMENT, AGENT_NODE_FLAGS } from '../manager/targets/process.js'

const UNIT = fileURLToPath(new URL('../deploy/meshconf-agent.service', import.meta.url))
const USER_DATA = fileURLToPath(new URL('../deploy/cloud-init-user-data.yaml', import.meta.url))

/** The `path` and dedented `content: |` block of the user data's write_files entry. */
async function writtenFile (): Promise<{ path: string, content: string }> {
  const lines = (await readFile(USER_DATA, 'utf8')).split('\n')
  const path = lines.find(l => /^\s+- path: /.test(l))?.replace(/^\s+- path: /, '').trim() ?? ''
  const start = lines.findIndex(l => /^\s+content: \|$/.test(l)) + 1
  const indent = /^\s*/.exec(lines[start])?.[0].length ?? 0
  const block: string[] = []
  for (const line of lines.slice(start)) {
    if (line.trim() !== '' && (/^\s*/.exec(line)?.[0].length ?? 0) < indent) break
    block.push(line.slice(indent))
  }
  return { path, content: block.join('\n') }
}

test('the user data writes a params file the agent accepts, where the unit reads it', async t => {
  const { path, content } = await writtenFile()
  t.is(path, '/etc/meshconf/agent.json')
  const params = parseAgentParams(JSON.parse(content), path)
  t.like(params, { application: 'Legacy LAMP', scopedInstancePath: '/Apache VM', meshListenPort: 4001, heartbeatPeriodMs: 5000 })
  t.is(params.messaging.kind, 'embedded')
  // TLS by default: the agent dials wss:// and pins the DM's CA
  t.like(params.messaging, { url: 'wss://dm.example.internal:7401/agents' })
  t.regex((params.messaging as { ca?: string }).ca ?? '', /CA certificate/)

  const unit = await readFile(UNIT, 'utf8')
  t.regex(unitValue(unit, 'ExecStart') ?? '', new RegExp(` agent --params ${path.replaceAll('.', '\\.')}$`))
  t.is(unitValue(unit, 'ConditionPathExists'), path)
  t.true(params.stateDir.startsWith(`/var/lib/${unitValue(unit, 'StateDirectory') ?? '?'}/`))
  t.true(params.logFile?.startsWith(`/var/log/${unitValue(unit, 'LogsDirectory') ?? '?'}/`))
  t.is(unitValue(unit, 'KillSignal'), 'SIGTERM')
})

test('systemd accepts the unit (only the not yet installed meshconf binary may be missing)', async t => {
  await assertSystemdAccepts(t, UNIT)
})

test('the unit runs the agent with the Node flags and environment the local, netns and docker targets give it', async t => {
  const unit = await readFile(UNIT, 'utf8')
  const environment = new Map(unit.split('\n').filter(l => l.startsWith('Environment=')).flatMap(l => l.slice('Environment='.length).split(' '))
    .map(pair => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
  for (const [name, value] of Object.entries(AGENT_ENVIRONMENT)) t.is(environment.get(name), value, name)
  t.deepEqual(environment.get('NODE_OPTIONS')?.split(' '), [...AGENT_NODE_FLAGS])
})
