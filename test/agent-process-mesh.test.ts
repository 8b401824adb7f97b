// The compiled agent process (`npx tsc -p . && node scripts/bundle-agent.mjs` first) and its mesh, as an operator
// runs it: `meshconf agent --params FILE` with the mesh's params (meshDebounceMs), the test playing the DM (embedded
// messaging) and a MySQL owner (a libp2p mesh in the test's process); then `meshconf agent view` asking that agent
// for its view.
import test, { type ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa, type ResultPromise } from 'execa'
import { STATE_FILE_NAME } from '../agent/constants.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { HeldExportView, MeshServiceHandle, MeshView } from '../agent/mesh/service.js'
import type { AgentToDmMessage } from '../protocol/messages.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import { changeState, createMeshApp } from '../fixtures/mesh-app.js'
import { freePort } from '../common/net.js'
import { captureLogger } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'
import { validateCliDocument } from './helpers/cli-schema.js'

/** `meshconf agent view -o json`: the agent's view in the CLI's JSON convention. */
interface ViewDocument {
  ok: boolean
  pid: number
  writtenAt: string
  scopedInstancePath: string
  mesh: (Omit<MeshView, 'held'> & { held: Array<Omit<HeldExportView, 'since'> & { firstHeldAt: string }> }) | null
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'meshconf.js')
const PROBE = '/Probe VM/Probe'
const MYSQL = '/MySQL VM/MySQL'

interface ProbeAgent {
  stateDir: string
  paramsFile: string
  agent: ResultPromise
  /** The MySQL owner's mesh, which the agent's Probe imports (optionally: each change runs its `update`). */
  mysql: MeshServiceHandle
  /** `update` runs of the Probe so far, from the agent's log. */
  updates (): number
  /** The MySQL variables the Probe's engine was last told, from the agent's saved state. */
  probeSees (): Record<string, string | null> | undefined
}

/** A Probe agent process with these extra params, its model and start sent, and a MySQL owner it imports from. */
async function probeAgent (t: ExecutionContext, extraParams: Record<string, unknown>): Promise<ProbeAgent> {
  if (!existsSync(join(ROOT, 'dist', 'agent', 'main.js'))) throw new Error('dist/agent/main.js is missing: build first with `npx tsc -p .`')
  const directory = await mkdtemp(join(tmpdir(), 'agent-process-mesh-'))
  const app = createMeshApp()
  const dm = createDmMessaging({ kind: 'embedded', port: 0, dmToken: randomUUID() }, { logger: captureLogger() })
  const heard: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { heard.push(msg) })
  await dm.start()
  await dm.prepareAgent(app.application, '/Probe VM')
  const stateDir = join(directory, 'probe')
  const logFile = join(directory, 'probe.log')
  const paramsFile = join(directory, 'probe.json')
  await writeFile(paramsFile, JSON.stringify({
    application: app.application, scopedInstancePath: '/Probe VM', stateDir, messaging: dm.agentEndpoint({ application: app.application, scopedInstancePath: '/Probe VM' }),
    ipAddress: '127.0.0.1', meshListenHost: '127.0.0.1', meshListenPort: 0, heartbeatPeriodMs: 200, logFile, ...extraParams
  }))
  const agent = execa('node', [BIN, 'agent', '--params', paramsFile], { reject: false, all: true, forceKillAfterDelay: 30_000 })
  let mysql: MeshServiceHandle | undefined
  t.teardown(async () => {
    await mysql?.stop()
    agent.kill('SIGKILL')
    await agent
    await dm.stop()
    await rm(directory, { recursive: true, force: true })
  })
  const beat = (): Extract<AgentToDmMessage, { kind: 'heartbeat' }> | undefined =>
    heard.filter((m): m is Extract<AgentToDmMessage, { kind: 'heartbeat' }> => m.kind === 'heartbeat').at(-1)
  await waitFor('a heartbeat', () => beat()?.peerId !== undefined, { timeoutMs: 60_000 })
  await dm.sendToAgent(app.application, '/Probe VM', app.setScopedInstance('Probe VM', 'Probe', beat()?.peerId ?? ''))
  await waitFor('the mesh started', () => (beat()?.listenAddresses ?? []).length > 0, { timeoutMs: 60_000 })
  await dm.sendToAgent(app.application, '/Probe VM', changeState('Probe VM', 'Probe', 'DEPLOYED_STARTED'))
  await waitFor('the Probe started', () => heard.some(m => m.kind === 'instanceChanged' && m.instancePath === PROBE && m.status === 'DEPLOYED_STARTED'), { timeoutMs: 60_000 })

  const mysqlDir = join(directory, 'mysql')
  const identity = await loadOrCreatePeerIdentity(mysqlDir)
  const { model, parameters } = app.agent('MySQL VM', 'MySQL', identity.peerId, beat()?.listenAddresses)
  mysql = await startLibp2pMesh(model, parameters, new ImportRecorder(), { stateDir: mysqlDir, privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
  const read = (file: string): string => { try { return readFileSync(file, 'utf8') } catch { return '' } }
  return {
    stateDir,
    paramsFile,
    agent,
    mysql,
    updates: () => read(logFile).split('\n').filter(line => line.includes(`[${PROBE}] logger plug-in: update`)).length,
    probeSees: () => {
      const saved = read(join(stateDir, STATE_FILE_NAME))
      return saved === '' ? undefined : (JSON.parse(saved) as { imports: Record<string, Record<string, Array<{ variables: Record<string, string | null> }>>> }).imports[PROBE]?.MySQL?.[0]?.variables
    }
  }
}

test('an agent process started with meshDebounceMs runs `update` once for a burst of export changes', async t => {
  const probe = await probeAgent(t, { meshDebounceMs: 1500 })
  probe.mysql.announce(MYSQL, 'MySQL', { 'MySQL.ip': 'v0', 'MySQL.port': '3306' })
  await waitFor('the first value at the Probe', () => probe.probeSees()?.['MySQL.ip'] === 'v0', { timeoutMs: 60_000 })
  const before = probe.updates()
  t.true(before >= 1)
  // Five changes in one tick: all within the window, told to the engine at once.
  for (let i = 1; i <= 5; i++) probe.mysql.announce(MYSQL, 'MySQL', { 'MySQL.ip': `v${i}`, 'MySQL.port': '3306' })
  await waitFor('the last value at the Probe', () => probe.probeSees()?.['MySQL.ip'] === 'v5', { timeoutMs: 60_000 })
  await waitFor('the update logged', () => probe.updates() > before)
  t.is(probe.updates() - before, 1)
})

test('`meshconf agent view` asks the running agent for its view: what it holds, from which peer, since when; the mesh listens on the port of the params', async t => {
  const port = await freePort()
  const probe = await probeAgent(t, { meshListenPort: port })
  probe.mysql.announce(MYSQL, 'MySQL', { 'MySQL.ip': '127.0.0.9', 'MySQL.port': '3306' })
  await waitFor('MySQL at the Probe', () => probe.probeSees()?.['MySQL.ip'] === '127.0.0.9', { timeoutMs: 60_000 })

  const json = await execa('node', [BIN, 'agent', 'view', '--state-dir', probe.stateDir, '--json'], { reject: false })
  t.is(json.exitCode, 0, json.stderr)
  // the CLI's JSON convention: ok at the top, times ISO-8601 with their zone
  const document = JSON.parse(json.stdout) as ViewDocument
  t.true(validateCliDocument(document), JSON.stringify(validateCliDocument.errors))
  t.true(document.ok)
  t.is(document.pid, probe.agent.pid ?? -1)
  t.is(document.scopedInstancePath, '/Probe VM')
  t.deepEqual(document.mesh?.addresses.map(a => a.split('/p2p/')[0]), [`/ip4/127.0.0.1/tcp/${port}`])
  const held = document.mesh?.held.find(h => h.instancePath === MYSQL)
  t.like(held, { prefix: 'MySQL', peerId: probe.mysql.peerId, variables: { 'MySQL.ip': '127.0.0.9', 'MySQL.port': '3306' } })
  t.true(Date.parse(held?.firstHeldAt ?? '') <= Date.parse(document.writtenAt) && (held?.ageMs ?? -1) >= 0)
  t.is((await execa('node', [BIN, 'agent', 'view', '--state-dir', probe.stateDir, '-o', 'yaml'], { reject: false })).stdout.split('\n')[0], 'ok: true')

  // Readable: one row per held export, with the owner's peer id; a second request gets a fresh view.
  const table = await execa('node', [BIN, 'agent', 'view', '--params', probe.paramsFile], { reject: false })
  t.is(table.exitCode, 0, table.stderr)
  t.regex(table.stdout, /^agent \/Probe VM \(.*\), pid \d+, peer 12D3KooW\w+, epoch \d+$/m)
  t.regex(table.stdout, new RegExp(`^MySQL +/MySQL VM/MySQL +${probe.mysql.peerId} +\\d+/\\d+ +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z +\\d+\\.\\d s ago$`, 'm'))

  // Stopped: the agent removes its pid file, and the command says no agent runs there.
  probe.agent.kill('SIGTERM')
  t.is((await probe.agent).exitCode, 0)
  const none = await execa('node', [BIN, 'agent', 'view', '--state-dir', probe.stateDir], { reject: false })
  t.is(none.exitCode, 1)
  t.regex(none.stderr, /no agent runs on state folder .*probe \(no agent\.pid in it\): start it with `meshconf agent --params FILE`/)
  // A pid file left by a killed agent, its pid now another process's (this one): that process is not signalled.
  await writeFile(join(probe.stateDir, 'agent.pid'), JSON.stringify({ pid: process.pid, paramsFile: probe.paramsFile }))
  const stale = await execa('node', [BIN, 'agent', 'view', '--state-dir', probe.stateDir], { reject: false })
  t.is(stale.exitCode, 1)
  t.regex(stale.stderr, new RegExp(`no agent runs on state folder .*probe \\(process ${process.pid} of its agent\\.pid is gone\\)`))
  const usage = await execa('node', [BIN, 'agent', 'view'], { reject: false })
  t.is(usage.exitCode, 2)
  t.regex(usage.stderr, /give either --state-dir <dir> or --params <file>/)
})
