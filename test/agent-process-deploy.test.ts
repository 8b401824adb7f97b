// The deployment files stay consistent with the agent: the user data's params file is valid for agent/params.ts,
// and the systemd unit runs `meshconf agent` on the file the user data writes, with the state and log folders the
// params name.
import test from 'ava'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseAgentParams } from '../agent/params.js'

const run = promisify(execFile)
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

function unitValue (unit: string, key: string): string | undefined {
  return unit.split('\n').find(l => l.startsWith(`${key}=`))?.slice(key.length + 1)
}

test('the user data writes a params file the agent accepts, where the unit reads it', async t => {
  const { path, content } = await writtenFile()
  t.is(path, '/etc/meshconf/agent.json')
  const params = parseAgentParams(JSON.parse(content), path)
  t.like(params, { application: 'Legacy LAMP', scopedInstancePath: '/Apache VM', meshListenPort: 4001, heartbeatPeriodMs: 5000 })
  t.is(params.messaging.kind, 'embedded')

  const unit = await readFile(UNIT, 'utf8')
  t.regex(unitValue(unit, 'ExecStart') ?? '', new RegExp(` agent --params ${path.replaceAll('.', '\\.')}$`))
  t.is(unitValue(unit, 'ConditionPathExists'), path)
  t.true(params.stateDir.startsWith(`/var/lib/${unitValue(unit, 'StateDirectory') ?? '?'}/`))
  t.true(params.logFile?.startsWith(`/var/log/${unitValue(unit, 'LogsDirectory') ?? '?'}/`))
  t.is(unitValue(unit, 'KillSignal'), 'SIGTERM')
})

test('systemd accepts the unit (only the not yet installed meshconf binary may be missing)', async t => {
  const result = await run('systemd-analyze', ['verify', UNIT]).then(r => r.stderr, (err: { stderr?: string, code?: string }) => {
    if (err.code === 'ENOENT') return undefined
    return err.stderr ?? ''
  })
  if (result === undefined) {
    t.log('systemd-analyze is not installed: unit syntax not verified')
    t.truthy(await readFile(UNIT, 'utf8'))
    return
  }
  const problems = result.split('\n').filter(l => l.trim() !== '' && !/\/usr\/local\/bin\/meshconf is not executable/.test(l))
  t.deepEqual(problems, [])
})
