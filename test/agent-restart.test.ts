// The agent as a real process, killed with -9 and started again on the same state directory: it restores its
// model, states and imports and restarts what was started (a start cut short included), with no DM.
import test from 'ava'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import type { DmToAgentMessage } from '../protocol/messages.js'
import {
  lampComponents, lampInstances, MESH_PARAMETERS, mysqlImport, recorded, recordingRecipes, scopedModel, temporaryDir
} from './lifecycle-fixtures.js'
import { waitFor } from './helpers/wait.js'

const ROOT = resolve(import.meta.dirname, '..')

// The agent process: DM messages arrive as JSON lines on stdin, an `import` line stands for the mesh, and every
// state change is printed as a JSON line on stdout.
const AGENT_PROCESS = `
import { createAgent } from ${JSON.stringify(pathToFileURL(join(ROOT, 'agent/agent.ts')).href)}
import { createInterface } from 'node:readline'
const notifier = {
  instanceChanged: (path, status, imports, problem) => process.stdout.write(JSON.stringify({ path, status, problem }) + '\\n'),
  instanceRemoved: () => {}
}
const log = { info: () => {}, warn: () => {}, error: m => process.stderr.write(m + '\\n') }
const agent = createAgent({ stateDir: process.env.STATE_DIR, notifier, log }, { ipAddress: '10.0.0.1' })
await agent.start()
process.stdout.write(JSON.stringify({ ready: true, modelRequired: agent.modelRequired() }) + '\\n')
for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line)
  if (message.kind === 'import') agent.importAdded(message.prefix, message.exported)
  else await agent.handle(message)
}
`

interface AgentProcess {
  child: ChildProcessWithoutNullStreams
  lines: Array<Record<string, unknown>>
  send: (message: DmToAgentMessage | { kind: 'import', prefix: string, exported: unknown }) => void
  status: (path: string) => unknown
}

function startAgentProcess (t: { teardown: (fn: () => void) => void }, stateDir: string): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', AGENT_PROCESS], {
    cwd: ROOT, env: { ...process.env, STATE_DIR: stateDir }, stdio: ['pipe', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  createInterface({ input: child.stdout }).on('line', line => { lines.push(JSON.parse(line) as Record<string, unknown>) })
  child.stderr.on('data', (chunk: Buffer) => { process.stderr.write(chunk) })
  return {
    child,
    lines,
    send: message => { child.stdin.write(JSON.stringify(message) + '\n') },
    status: path => lines.filter(l => l.path === path).at(-1)?.status
  }
}

test('killed with -9 and started again: model, states and imports restored, started instances started again, with no DM', async t => {
  t.timeout(180_000)
  const stateDir = await temporaryDir(t, 'state')
  const recordDir = await temporaryDir(t, 'record')
  // Apache's first start hangs (the agent is killed during it); once `release` exists it completes.
  const recipes = recordingRecipes(recordDir, ['MySQL', 'Tomcat', 'War', 'Apache'], {
    'Apache.start': `echo $$ > "${recordDir}/apache.pid"; while [ ! -e "${recordDir}/release" ]; do sleep 0.05; done`
  })
  t.teardown(async () => {
    const pid = Number(await readFile(join(recordDir, 'apache.pid'), 'utf8').catch(() => '0'))
    if (pid > 0) try { process.kill(-pid, 'SIGKILL') } catch {}
  })
  const first = startAgentProcess(t, stateDir)
  await waitFor('the first agent to be ready', () => first.lines.some(l => l.ready === true))
  t.true(first.lines[0].modelRequired)
  first.send({ v: 1, kind: 'setScopedInstance', model: scopedModel(lampInstances(), lampComponents()), mesh: MESH_PARAMETERS, recipes })
  first.send({ kind: 'import', prefix: 'MySQL', exported: mysqlImport() })
  first.send({ kind: 'import', prefix: 'Tomcat', exported: { instancePath: '/VM 3/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.3', 'Tomcat.portAJP': '8009' } } })
  first.send({ v: 1, kind: 'changeState', instancePath: '/VM/Tomcat', newState: 'DEPLOYED_STARTED' })
  first.send({ v: 1, kind: 'changeState', instancePath: '/VM/Tomcat/War', newState: 'DEPLOYED_STARTED' })
  first.send({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STOPPED' })
  first.send({ v: 1, kind: 'changeState', instancePath: '/VM/Apache', newState: 'DEPLOYED_STARTED' })
  await waitFor('War started', () => first.status('/VM/Tomcat/War') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  await waitFor('MySQL deployed', () => first.status('/VM/MySQL') === 'DEPLOYED_STOPPED', { timeoutMs: 60_000 })
  await waitFor('Apache starting', () => first.status('/VM/Apache') === 'STARTING' && existsSync(join(recordDir, 'apache.pid')), { timeoutMs: 60_000 })
  first.child.kill('SIGKILL')
  await new Promise(resolve => first.child.once('exit', resolve))
  const before = await recorded(recordDir)
  t.deepEqual(before.filter(l => l.startsWith('start')).sort(), ['start /VM/Apache', 'start /VM/Tomcat', 'start /VM/Tomcat/War'])

  await writeFile(join(recordDir, 'release'), '')
  const second = startAgentProcess(t, stateDir)
  await waitFor('the second agent to be ready', () => second.lines.some(l => l.ready === true))
  t.false(second.lines.find(l => l.ready === true)?.modelRequired, 'the model was restored')
  await waitFor('Tomcat, War and Apache started again', () =>
    second.status('/VM/Tomcat') === 'DEPLOYED_STARTED' && second.status('/VM/Tomcat/War') === 'DEPLOYED_STARTED' &&
    second.status('/VM/Apache') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.is(second.status('/VM'), 'DEPLOYED_STARTED')
  t.is(second.status('/VM/MySQL'), 'DEPLOYED_STOPPED')
  const after = (await recorded(recordDir)).slice(before.length)
  t.deepEqual(after.filter(l => l.startsWith('start')).sort(), ['start /VM/Apache', 'start /VM/Tomcat', 'start /VM/Tomcat/War'])
  t.true(after.indexOf('start /VM/Tomcat') < after.indexOf('start /VM/Tomcat/War'), 'the parent starts first')
  t.false(after.some(l => l.startsWith('deploy')), 'deployed files are reused')
})
