// Every row of reference §3.2's table, and the preconditions of deploy / start / stop / undeploy / add / remove,
// driven on a real agent with recording scripts in a temporary folder.
import test from 'ava'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { plannedActions, INSTANCE_STATUSES } from '../protocol/lifecycle.js'
import { AgentStateStore } from '../agent/state.js'
import { createAgent } from '../agent/agent.js'
import {
  base64Files, instance, mysqlImport, recorded, recordingRecipes, RecordingLogger, RecordingNotifier, startTestAgent,
  type TestAgent
} from './lifecycle-fixtures.js'
import { waitFor } from './helpers/wait.js'

/** Tomcat started with its MySQL import, its War started: then MySQL goes away -> Tomcat UNRESOLVED, War WAITING. */
async function tomcatUnresolvedWarWaiting (agent: TestAgent): Promise<void> {
  await agent.addImport('MySQL', mysqlImport())
  await agent.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await agent.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  await agent.removeImport('MySQL', '/VM 2/MySQL')
}

test('row NOT_DEPLOYED -> DEPLOYED_STOPPED: deploy', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL'])
  t.deepEqual(a.notifier.statuses('/VM/MySQL'), ['NOT_DEPLOYED', 'DEPLOYING', 'DEPLOYED_STOPPED'])
  t.true(existsSync(join(a.stateDir, 'instances', 'VM_MySQL', 'scripts', 'deploy.sh')), 'recipe files written')
  t.deepEqual(a.publisher.of('announce').filter(c => c.path === '/VM/MySQL'), [])
})

test('row NOT_DEPLOYED -> DEPLOYED_STARTED: deploy, then start', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL'])
  t.deepEqual(a.notifier.statuses('/VM/MySQL'),
    ['NOT_DEPLOYED', 'DEPLOYING', 'DEPLOYED_STOPPED', 'STARTING', 'DEPLOYED_STARTED'])
  t.deepEqual(a.publisher.of('announce').filter(c => c.path === '/VM/MySQL'),
    [{ call: 'announce', path: '/VM/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.1', 'MySQL.port': '3306' } }])
})

test('row NOT_DEPLOYED -> NOT_DEPLOYED: nothing', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'NOT_DEPLOYED')
  t.deepEqual(await recorded(a.recordDir), [])
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')
})

test('row DEPLOYED_STOPPED -> DEPLOYED_STOPPED: nothing', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL'])
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STOPPED')
})

test('row DEPLOYED_STOPPED -> DEPLOYED_STARTED: start', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL'])
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
})

test('row DEPLOYED_STOPPED -> NOT_DEPLOYED: undeploy', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  await a.request('/VM/MySQL', 'NOT_DEPLOYED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'undeploy /VM/MySQL'])
  t.deepEqual(a.notifier.statuses('/VM/MySQL').slice(-2), ['UNDEPLOYING', 'NOT_DEPLOYED'])
  t.false(existsSync(join(a.stateDir, 'instances', 'VM_MySQL')), 'files deleted')
})

test('row DEPLOYED_STARTED -> DEPLOYED_STOPPED: stop', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL', 'stop /VM/MySQL'])
  t.deepEqual(a.notifier.statuses('/VM/MySQL').slice(-2), ['STOPPING', 'DEPLOYED_STOPPED'])
  t.deepEqual(a.publisher.of('withdraw'), [{ call: 'withdraw', path: '/VM/MySQL' }])
})

test('row DEPLOYED_STARTED -> DEPLOYED_STARTED: nothing', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL'])
})

test('row DEPLOYED_STARTED -> NOT_DEPLOYED: stop, then undeploy', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  await a.request('/VM/MySQL', 'NOT_DEPLOYED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL', 'stop /VM/MySQL', 'undeploy /VM/MySQL'])
  t.deepEqual(a.notifier.statuses('/VM/MySQL').slice(-4), ['STOPPING', 'DEPLOYED_STOPPED', 'UNDEPLOYING', 'NOT_DEPLOYED'])
})

test('row UNRESOLVED -> DEPLOYED_STOPPED: state set without script, WAITING_FOR_ANCESTOR descendants DEPLOYED_STOPPED', async t => {
  const a = await startTestAgent(t)
  await tomcatUnresolvedWarWaiting(a)
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'WAITING_FOR_ANCESTOR')
  const before = await recorded(a.recordDir)
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), before, 'no script ran')
  t.is(a.notifier.last('/VM/Tomcat')?.status, 'DEPLOYED_STOPPED')
  t.is(a.notifier.last('/VM/Tomcat/War')?.status, 'DEPLOYED_STOPPED')
})

test('row UNRESOLVED -> DEPLOYED_STARTED: nothing (it already waits for its imports)', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  const before = await recorded(a.recordDir)
  const reports = a.notifier.changes.length
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), before)
  t.is(a.notifier.changes.length, reports)
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
})

test('row UNRESOLVED -> NOT_DEPLOYED: undeploy', async t => {
  const a = await startTestAgent(t)
  await tomcatUnresolvedWarWaiting(a)
  await a.request('/VM/Tomcat', 'NOT_DEPLOYED')
  t.deepEqual((await recorded(a.recordDir)).slice(-1), ['undeploy /VM/Tomcat'], 'plug-in called for the instance only')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'NOT_DEPLOYED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'NOT_DEPLOYED')
  t.false(existsSync(join(a.stateDir, 'instances', 'VM_Tomcat_War')), 'files of the whole subtree deleted')
})

test('row WAITING_FOR_ANCESTOR -> DEPLOYED_STOPPED: state set without script (and reported, unlike Roboconf)', async t => {
  const a = await startTestAgent(t)
  await tomcatUnresolvedWarWaiting(a)
  const before = await recorded(a.recordDir)
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), before)
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STOPPED')
  t.is(a.notifier.last('/VM/Tomcat/War')?.status, 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
})

test('row WAITING_FOR_ANCESTOR -> DEPLOYED_STARTED: start (waits while the parent is UNRESOLVED, starts with it)', async t => {
  const a = await startTestAgent(t)
  await tomcatUnresolvedWarWaiting(a)
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'WAITING_FOR_ANCESTOR')
  await a.addImport('MySQL', mysqlImport())
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STARTED')
  t.deepEqual((await recorded(a.recordDir)).slice(-2), ['start /VM/Tomcat', 'start /VM/Tomcat/War'])
})

test('row WAITING_FOR_ANCESTOR -> NOT_DEPLOYED: undeploy', async t => {
  const a = await startTestAgent(t)
  await tomcatUnresolvedWarWaiting(a)
  await a.request('/VM/Tomcat/War', 'NOT_DEPLOYED')
  t.deepEqual((await recorded(a.recordDir)).slice(-1), ['undeploy /VM/Tomcat/War'])
  t.deepEqual(a.notifier.statuses('/VM/Tomcat/War').slice(-2), ['UNDEPLOYING', 'NOT_DEPLOYED'])
})

test('rows DEPLOYING, STARTING, STOPPING, UNDEPLOYING: a request during an action is queued behind it, never interleaved', async t => {
  const a = await startTestAgent(t, {
    recipes: dir => recordingRecipes(dir, ['MySQL'], {
      'MySQL.deploy': `touch "${dir}/deploying"; while [ ! -e "${dir}/release" ]; do sleep 0.05; done`
    })
  })
  await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STARTED' })
  await waitFor('the deploy script to run', () => existsSync(join(a.recordDir, 'deploying')))
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYING')
  await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'NOT_DEPLOYED' })
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYING')
  await writeFile(join(a.recordDir, 'release'), '')
  await a.agent.settled()
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL', 'stop /VM/MySQL', 'undeploy /VM/MySQL'])
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')
})

test('row PROBLEM (and every unstable state): requests are ignored and reported', async t => {
  for (const status of INSTANCE_STATUSES.filter(s => !['NOT_DEPLOYED', 'DEPLOYED_STOPPED', 'DEPLOYED_STARTED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR'].includes(s))) {
    for (const requested of ['NOT_DEPLOYED', 'DEPLOYED_STOPPED', 'DEPLOYED_STARTED'] as const) {
      t.is(plannedActions(status, requested), 'ignored', `${status} -> ${requested}`)
    }
  }
  // An instance saved in PROBLEM (written by hand into the state file) is restored as such; requests are ignored.
  const a = await startTestAgent(t)
  await a.agent.stop()
  const store = new AgentStateStore(a.stateDir)
  const saved = store.load().state
  if (saved === undefined) throw new Error('no saved state')
  saved.model.instance.children[0].status = 'PROBLEM'
  await store.save(saved)
  const notifier = new RecordingNotifier()
  const agent = createAgent({ stateDir: a.stateDir, notifier, log: new RecordingLogger() })
  await agent.start()
  t.teardown(() => agent.stop())
  await agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STARTED' })
  await agent.settled()
  t.is(agent.instanceStatus('/VM/MySQL'), 'PROBLEM')
  t.regex(notifier.problems('/VM/MySQL').join('\n'), /DEPLOYED_STARTED requested while PROBLEM: ignored/)
  t.deepEqual(await recorded(a.recordDir), [])
})

test('deploy: refused (and reported) while the parent is not deployed', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'NOT_DEPLOYED')
  t.regex(a.notifier.problems('/VM/Tomcat/War')[0] ?? '', /parent \/VM\/Tomcat is NOT_DEPLOYED/)
  t.deepEqual(await recorded(a.recordDir), [])
})

test('deploy: allowed under a DEPLOYED_STOPPED, UNRESOLVED or WAITING_FOR_ANCESTOR parent', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat/War', 'NOT_DEPLOYED')
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STOPPED')
})

test('start: under a DEPLOYED_STOPPED parent nothing happens (reported); under an UNRESOLVED one it waits', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STOPPED')
  t.regex(a.notifier.problems('/VM/Tomcat/War')[0] ?? '', /parent \/VM\/Tomcat is DEPLOYED_STOPPED/)
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'WAITING_FOR_ANCESTOR')
  t.false((await recorded(a.recordDir)).includes('start /VM/Tomcat/War'))
})

test('start: a missing mandatory import makes the instance UNRESOLVED and asks the mesh for its prefixes', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  t.false((await recorded(a.recordDir)).includes('start /VM/Tomcat'))
  t.deepEqual(a.publisher.of('request').at(-1), { call: 'request', prefixes: ['MySQL'] })
})

test('stop: the subtree stops deepest first, the plug-in runs for the instance acted on only', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport())
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  a.notifier.clear()
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  t.deepEqual((await recorded(a.recordDir)).filter(l => l.startsWith('stop')), ['stop /VM/Tomcat'])
  t.deepEqual(a.notifier.changes.map(c => `${c.path} ${c.status}`), [
    '/VM/Tomcat/War STOPPING', '/VM/Tomcat STOPPING', '/VM/Tomcat/War DEPLOYED_STOPPED', '/VM/Tomcat DEPLOYED_STOPPED'])
  t.deepEqual(a.publisher.of('withdraw').map(c => c.path), ['/VM/Tomcat/War', '/VM/Tomcat'])
})

test('undeploy: the subtree is undeployed, the plug-in runs for the instance acted on only', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STOPPED')
  await a.request('/VM/Tomcat', 'NOT_DEPLOYED')
  t.deepEqual((await recorded(a.recordDir)).filter(l => l.startsWith('undeploy')), ['undeploy /VM/Tomcat'])
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'NOT_DEPLOYED')
  t.false(existsSync(join(a.stateDir, 'instances', 'VM_Tomcat_War')))
  t.false(existsSync(join(a.stateDir, 'instances', 'VM_Tomcat')))
})

test('actions on the scoped instance itself are refused and reported', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM', 'NOT_DEPLOYED')
  t.is(a.agent.instanceStatus('/VM'), 'DEPLOYED_STARTED')
  t.regex(a.notifier.problems('/VM')[0] ?? '', /managed by the DM/)
})

test('add: the instance joins its parent (graph checked), its imports are requested; remove: only when NOT_DEPLOYED', async t => {
  const a = await startTestAgent(t)
  await a.agent.handle({
    v: 1, kind: 'addInstance', parentPath: '/VM', instance: instance('/VM/Apache 2', 'Apache'),
    recipes: { Apache: base64Files({ 'scripts/deploy.sh': `#!/bin/bash\necho "deploy $ROBOCONF_INSTANCE_PATH" >> "${a.recordDir}/record.log"\n` }) }
  })
  t.is(a.agent.instanceStatus('/VM/Apache 2'), 'NOT_DEPLOYED')
  t.deepEqual(a.publisher.of('request').at(-1), { call: 'request', prefixes: ['Tomcat'] })
  t.deepEqual(a.notifier.last('/VM/Apache 2')?.status, 'NOT_DEPLOYED')
  // The graph is checked: a War cannot live under the VM.
  await a.agent.handle({ v: 1, kind: 'addInstance', parentPath: '/VM', instance: instance('/VM/War', 'War') })
  t.is(a.agent.instanceStatus('/VM/War'), undefined)
  t.true(a.log.lines.some(l => /cannot hold a "War"/.test(l)))

  await a.request('/VM/Apache 2', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Apache 2'], 'the recipes sent with addInstance are used')
  await a.agent.handle({ v: 1, kind: 'removeInstance', instancePath: '/VM/Apache 2' })
  await a.agent.settled()
  t.is(a.agent.instanceStatus('/VM/Apache 2'), 'DEPLOYED_STOPPED')
  t.regex(a.notifier.problems('/VM/Apache 2')[0] ?? '', /undeploy first/)
  await a.request('/VM/Apache 2', 'NOT_DEPLOYED')
  await a.agent.handle({ v: 1, kind: 'removeInstance', instancePath: '/VM/Apache 2' })
  await a.agent.settled()
  t.is(a.agent.instanceStatus('/VM/Apache 2'), undefined)
  t.deepEqual(a.notifier.removed, ['/VM/Apache 2'])
})
