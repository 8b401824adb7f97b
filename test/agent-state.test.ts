// The agent's local state: atomic writes, and unreadable files (the agent starts, reports, keeps a copy).
import test from 'ava'
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createAgent } from '../agent/agent.js'
import { AgentStateStore, type StateFileWriter } from '../agent/state.js'
import { writeAtomically } from '../common/fs.js'
import { IMPORTS_SAVE_DELAY_MS, STATE_FILE_NAME } from '../agent/constants.js'
import { waitFor } from './helpers/wait.js'
import {
  lampComponents, lampInstances, MESH_PARAMETERS, mysqlImport, recordingRecipes, RecordingLogger, RecordingNotifier,
  scopedModel, startTestAgent, temporaryDir
} from './lifecycle-fixtures.js'

test('a corrupt state file: the agent starts, reports the problem, keeps a copy, asks for its model, does not crash', async t => {
  const stateDir = await temporaryDir(t, 'state')
  const garbage = '{"version":1,"model":{"applic'
  await writeFile(join(stateDir, 'agent-state.json'), garbage)
  await mkdir(join(stateDir, 'recipes'))
  await writeFile(join(stateDir, 'recipes', 'MySQL.json'), '[1, 2')
  const notifier = new RecordingNotifier()
  const log = new RecordingLogger()
  const agent = createAgent({ stateDir, notifier, log })
  await t.notThrowsAsync(agent.start())
  t.teardown(() => agent.stop())
  t.true(agent.modelRequired())
  const errors = log.lines.filter(l => l.startsWith('ERROR'))
  t.is(errors.length, 2)
  t.regex(errors[0], /state file .*agent-state.json is unreadable \(.*JSON.*\); a copy was kept at .*agent-state.json.corrupt-/)
  t.regex(errors[1], /recipes\/MySQL.json is unreadable/)
  const copies = (await readdir(stateDir)).filter(n => n.startsWith('agent-state.json.corrupt-'))
  t.is(copies.length, 1)
  t.is(await readFile(join(stateDir, copies[0]), 'utf8'), garbage)

  // The DM answers the heartbeat with the model: the problem is reported with the scoped instance.
  await agent.handle({ v: 1, kind: 'setScopedInstance', model: scopedModel(lampInstances(), lampComponents()), mesh: MESH_PARAMETERS, recipes: {} })
  t.false(agent.modelRequired())
  t.regex(notifier.problems('/VM')[0] ?? '', /agent-state.json is unreadable/)
  JSON.parse(await readFile(join(stateDir, 'agent-state.json'), 'utf8')) // replaced by a good one
})

test('a state file of another format version is kept aside the same way', async t => {
  const stateDir = await temporaryDir(t, 'state')
  await writeFile(join(stateDir, 'agent-state.json'), JSON.stringify({ version: 99 }))
  const log = new RecordingLogger()
  const agent = createAgent({ stateDir, notifier: new RecordingNotifier(), log })
  await agent.start()
  t.teardown(() => agent.stop())
  t.true(agent.modelRequired())
  t.regex(log.lines.join('\n'), /format version 99, expected 1/)
})

test('restarted in-process: states and imports come back from the state directory', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport())
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await a.request('/VM/Apache', 'DEPLOYED_STARTED')
  await a.agent.stop()
  const notifier = new RecordingNotifier()
  const again = createAgent({ stateDir: a.stateDir, notifier, log: new RecordingLogger() }, { ipAddress: '10.0.0.1' })
  await again.start()
  t.teardown(() => again.stop())
  await again.settled()
  t.is(again.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  t.is(again.instanceStatus('/VM/Apache'), 'UNRESOLVED', 'still waiting for a Tomcat import')
  t.deepEqual(again.importsOf('/VM/Tomcat'), a.agent.importsOf('/VM/Tomcat'))
  t.deepEqual(notifier.statuses('/VM/Tomcat').slice(-3), ['DEPLOYED_STOPPED', 'STARTING', 'DEPLOYED_STARTED'])
})

test('changed imports are saved a moment after the change, and at the latest when the agent stops', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  const file = join(a.stateDir, STATE_FILE_NAME)
  const savedImports = async (): Promise<string[]> => {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { imports: Record<string, Record<string, Array<{ instancePath: string }>>> }
    return (saved.imports['/VM/Tomcat']?.MySQL ?? []).map(i => i.instancePath).sort()
  }
  t.deepEqual(await savedImports(), [])
  const first = mysqlImport()
  await a.addImport('MySQL', first)
  await a.addImport('MySQL', { ...first, instancePath: '/VM 3/MySQL' })
  // The engine has both; the file gets them within IMPORTS_SAVE_DELAY_MS, in one save.
  t.deepEqual(Object.keys(a.agent.importsOf('/VM/Tomcat')), ['MySQL'])
  const both = [first.instancePath, '/VM 3/MySQL'].sort()
  await waitFor('both imports saved', async () => JSON.stringify(await savedImports()) === JSON.stringify(both), { timeoutMs: IMPORTS_SAVE_DELAY_MS * 5 })
  t.deepEqual(await savedImports(), both)
  a.agent.importRemoved('MySQL', '/VM 3/MySQL')
  await a.agent.stop()
  t.deepEqual(await savedImports(), [first.instancePath])
})

test('restored after a crash mid-action: DEPLOYING and UNDEPLOYING fall back to NOT_DEPLOYED (files removed), STOPPING to DEPLOYED_STOPPED', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  await a.request('/VM/Apache', 'DEPLOYED_STOPPED')
  await a.agent.stop()
  const store = new AgentStateStore(a.stateDir)
  const saved = store.load().state
  if (saved === undefined) throw new Error('no saved state')
  const [mysql, tomcat, apache] = saved.model.instance.children
  mysql.status = 'DEPLOYING'
  tomcat.status = 'UNDEPLOYING'
  apache.status = 'STOPPING'
  await store.save(saved)
  const again = createAgent({ stateDir: a.stateDir, notifier: new RecordingNotifier(), log: new RecordingLogger() })
  await again.start()
  t.teardown(() => again.stop())
  await again.settled()
  t.is(again.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')
  t.is(again.instanceStatus('/VM/Tomcat'), 'NOT_DEPLOYED')
  t.is(again.instanceStatus('/VM/Apache'), 'DEPLOYED_STOPPED')
  const folders = await readdir(join(a.stateDir, 'instances'))
  t.deepEqual(folders, ['VM_Apache'])
})

test('atomic writes: the new content replaces the old one whole, no temporary file is left', async t => {
  const dir = await temporaryDir(t, 'atomic')
  const file = join(dir, 'nested', 'state.json')
  await writeAtomically(file, 'first')
  await writeAtomically(file, 'second')
  t.is(await readFile(file, 'utf8'), 'second')
  t.deepEqual(await readdir(join(dir, 'nested')), ['state.json'])
  const store = new AgentStateStore(dir)
  await store.saveRecipes('My Component', recordingRecipes(dir, ['X']).X)
  t.deepEqual(Object.keys(store.load().recipes), ['My Component'])
})

test('saves are asynchronous but ordered: a script sees on disk the state it runs under, and the file ends with the last state', async t => {
  const a = await startTestAgent(t, {
    recipes: recordDir => recordingRecipes(recordDir, ['MySQL', 'Tomcat', 'War', 'Apache'], {
      // The start script copies the state file as it is on disk while the script runs.
      'MySQL.start': `d=$PWD; while [ ! -e "$d/${STATE_FILE_NAME}" ] && [ "$d" != / ]; do d=$(dirname "$d"); done; cp "$d/${STATE_FILE_NAME}" "${recordDir}/seen-by-start.json"`
    })
  })
  const statusIn = (saved: { model: { instance: { path: string, status?: string, children: unknown[] } } }, path: string): string | undefined => {
    const walk = (i: { path: string, status?: string, children: unknown[] }): string | undefined =>
      i.path === path ? i.status : (i.children as Array<typeof i>).map(walk).find(s => s !== undefined)
    return walk(saved.model.instance)
  }
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  const seen = JSON.parse(await readFile(join(a.recordDir, 'seen-by-start.json'), 'utf8'))
  t.is(statusIn(seen, '/VM/MySQL'), 'STARTING')
  // A burst of changes without waiting between them: the file ends with the state the agent ends in.
  for (const state of ['DEPLOYED_STOPPED', 'DEPLOYED_STARTED', 'DEPLOYED_STOPPED', 'NOT_DEPLOYED', 'DEPLOYED_STARTED'] as const) {
    await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: state })
  }
  await a.agent.settled()
  const saved = JSON.parse(await readFile(join(a.stateDir, STATE_FILE_NAME), 'utf8'))
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
  t.is(statusIn(saved, '/VM/MySQL'), 'DEPLOYED_STARTED')
})

/** A disk many agents share (docs/tuning.md, the fsync storm): each write of the state file takes `ms`; writes counted. */
function slowStateDisk (ms: number): { writer: StateFileWriter, stateWrites: () => number } {
  let stateWrites = 0
  return {
    writer: async (file, content) => {
      if (file.endsWith(STATE_FILE_NAME)) {
        stateWrites++
        await new Promise(resolve => setTimeout(resolve, ms))
      }
      await writeAtomically(file, content)
    },
    stateWrites: () => stateWrites
  }
}

test('on a slow disk, a step waits for the write in flight and its own, never for the changes that keep coming after it', async t => {
  const slowWriteMs = 150
  const disk = slowStateDisk(slowWriteMs)
  const a = await startTestAgent(t, { stateWriter: disk.writer })
  await a.addImport('MySQL', mysqlImport())
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  // A stream of changes, one every 30 ms for 3 s (here the probe period the DM sends; any change would do).
  const streamMs = 3000
  let streaming = true
  const stream = (async () => {
    for (let i = 0; streaming; i++) {
      void a.agent.handle({ v: 1, kind: 'setProbePeriod', probePeriodMs: 10_000 + i })
      await new Promise(resolve => setTimeout(resolve, 30))
    }
  })()
  const streamEnd = setTimeout(() => { streaming = false }, streamMs)
  t.teardown(() => { clearTimeout(streamEnd); streaming = false })
  await new Promise(resolve => setTimeout(resolve, 300))
  const asked = performance.now()
  await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/Tomcat', newState: 'DEPLOYED_STOPPED' })
  await waitFor('Tomcat stopped', () => a.notifier.statuses('/VM/Tomcat').at(-1) === 'DEPLOYED_STOPPED', { timeoutMs: 10_000 })
  const stopMs = performance.now() - asked
  t.true(streaming, `the stop ended only after the stream of changes (${Math.round(stopMs)} ms)`)
  // STOPPING's save: the write in flight, then its own (with every change made meanwhile), and some slack.
  t.true(stopMs < 5 * slowWriteMs, `stopped ${Math.round(stopMs)} ms after the request`)
  streaming = false
  await stream
  await a.agent.settled()
  const saved = new AgentStateStore(a.stateDir).load().state
  t.is(saved?.model.probePeriodMs, a.agent.probePeriodMs(), 'the last change is on disk')
})

test('a state equal to the one on disk is not written again: an import withdrawn and announced again before its save', async t => {
  const disk = slowStateDisk(0)
  const a = await startTestAgent(t, { stateWriter: disk.writer })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  // Two MySQLs (as the benchmark's Apaches hold two Tomcats): one toggled, the Tomcat stays started with the other.
  const toggled = mysqlImport('/VM 3/MySQL', '10.0.0.3')
  await a.addImport('MySQL', mysqlImport())
  await a.addImport('MySQL', toggled)
  const before = disk.stateWrites()
  a.agent.importRemoved('MySQL', toggled.instancePath)
  a.agent.importAdded('MySQL', toggled)
  await new Promise(resolve => setTimeout(resolve, IMPORTS_SAVE_DELAY_MS * 1.5))
  await a.agent.settled()
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  t.is(a.agent.importsOf('/VM/Tomcat').MySQL?.length, 2)
  t.is(disk.stateWrites(), before, 'nothing changed on disk: nothing written')
})
