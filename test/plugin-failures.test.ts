// Failures of plug-ins: missing script, non-zero exit, a script hanging past its timeout (killed with its children),
// a plug-in that throws, an installer with no plug-in. The agent reports each to the DM and keeps running.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Plugin } from '../agent/plugins/types.js'
import { base64Files, component, instance, recorded, startTestAgent } from './lifecycle-fixtures.js'
import { waitFor } from './helpers/wait.js'

/** True while the process exists and is not a zombie. */
function alive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

test('missing script: a warning in the log, nothing runs, the state change goes on (as Roboconf)', async t => {
  const a = await startTestAgent(t, { recipes: () => ({ MySQL: base64Files({ 'files/readme.txt': 'no scripts here' }) }) })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
  t.true(a.log.lines.some(l => l.startsWith('WARN [/VM/MySQL] script plug-in: no script or template for "deploy"')))
  t.true(a.log.lines.some(l => l.startsWith('WARN [/VM/MySQL] script plug-in: no script or template for "start"')))
})

test('exit 3: deploy fails, the instance is back to NOT_DEPLOYED, the report carries the last lines of stderr', async t => {
  const a = await startTestAgent(t, {
    recipes: () => ({
      MySQL: base64Files({ 'scripts/deploy.sh': '#!/bin/bash\nfor i in $(seq 1 15); do echo "error line $i" >&2; done\nexit 3\n' })
    })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')
  const problem = a.notifier.last('/VM/MySQL')?.problem ?? ''
  t.regex(problem, /deploy failed: script scripts\/deploy.sh for \/VM\/MySQL exited with code 3/)
  t.regex(problem, /error line 15$/)
  t.regex(problem, /error line 6\n/)
  t.notRegex(problem, /error line 5\n/, 'only the last 10 lines')
})

test('exit 3 on start: the instance goes back to its previous state; on stop: logged, the instance is stopped anyway', async t => {
  const a = await startTestAgent(t, {
    recipes: () => ({ MySQL: base64Files({ 'scripts/start.sh': 'echo no >&2; exit 3', 'scripts/stop.sh': 'exit 3' }) })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STOPPED')
  t.regex(a.notifier.last('/VM/MySQL')?.problem ?? '', /start failed: .*exited with code 3.*\nno$/s)
  // Now a start that works, then a failing stop.
  await a.agent.handle({
    v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'NOT_DEPLOYED'
  })
  await a.agent.settled()
  await a.agent.handle({
    v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STARTED',
    recipes: { MySQL: base64Files({ 'scripts/stop.sh': 'exit 3' }) }
  })
  await a.agent.settled()
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STOPPED')
  t.regex(a.notifier.last('/VM/MySQL')?.problem ?? '', /stop failed/)
})

test('a script that hangs past its timeout is killed with its children; the start fails', async t => {
  const a = await startTestAgent(t, {
    options: { recipeTimeoutMs: 1500 },
    recipes: dir => ({
      MySQL: base64Files({
        'scripts/start.sh': `#!/bin/bash\necho $$ > "${dir}/script.pid"\nsleep 300 &\necho $! > "${dir}/child.pid"\nsleep 300\n`
      })
    })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STOPPED')
  t.regex(a.notifier.last('/VM/MySQL')?.problem ?? '', /ran longer than 1500 ms and was killed/)
  const scriptPid = Number(await readFile(join(a.recordDir, 'script.pid'), 'utf8'))
  const childPid = Number(await readFile(join(a.recordDir, 'child.pid'), 'utf8'))
  await waitFor('the script and its child to be gone', () => !alive(scriptPid) && !alive(childPid))
  t.false(alive(scriptPid))
  t.false(alive(childPid))
})

test('a plug-in that throws: deploy fails to NOT_DEPLOYED with the error reported; the agent goes on', async t => {
  const throwing: Plugin = {
    name: 'throwing',
    initialize: async () => {},
    deploy: async () => { throw new TypeError('the plug-in broke') },
    start: async () => {},
    update: async () => {},
    stop: async () => {},
    undeploy: async () => {}
  }
  const components = {
    VM: component('VM', { installer: 'target', children: ['Bad', 'MySQL'] }),
    Bad: component('Bad', { installer: 'throwing' }),
    MySQL: component('MySQL')
  }
  const a = await startTestAgent(t, {
    components, plugins: [throwing], root: instance('/VM', 'VM', [instance('/VM/Bad', 'Bad'), instance('/VM/MySQL', 'MySQL')])
  })
  await a.request('/VM/Bad', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Bad'), 'NOT_DEPLOYED')
  t.deepEqual(a.notifier.statuses('/VM/Bad').slice(-2), ['DEPLOYING', 'NOT_DEPLOYED'])
  t.is(a.notifier.last('/VM/Bad')?.problem, 'deploy failed: the plug-in broke')
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/MySQL', 'start /VM/MySQL'])
})

test('an installer with no plug-in: the state change is refused with a clear error, reported to the DM', async t => {
  const components = {
    VM: component('VM', { installer: 'target', children: ['Human'] }),
    Human: component('Human', { installer: 'human' })
  }
  const a = await startTestAgent(t, { components, root: instance('/VM', 'VM', [instance('/VM/Human', 'Human')]) })
  await a.request('/VM/Human', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Human'), 'NOT_DEPLOYED')
  const problem = a.notifier.last('/VM/Human')?.problem ?? ''
  t.regex(problem, /component "Human" uses installer "human", for which this agent has no plug-in/)
  t.regex(problem, /known: .*script.*puppet/)
  t.deepEqual(a.notifier.statuses('/VM/Human').filter(s => s !== 'NOT_DEPLOYED'), [])
})

test('a recipe file name escaping the instance folder fails the deploy, nothing is written outside', async t => {
  const a = await startTestAgent(t, { recipes: () => ({ MySQL: base64Files({ '../../evil.sh': 'echo' }) }) })
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')
  t.regex(a.notifier.last('/VM/MySQL')?.problem ?? '', /recipe file "..\/..\/evil.sh" of component "MySQL" is not a relative path inside/)
})
