// Probes on agents: probes/<Component>.measures travel with the model; every probe period each DEPLOYED_STARTED
// instance's checks run (file, script); a match reaches the DM's rules over the agent's link; events made while the
// DM is away wait on the agent and arrive with their age.
import test from 'ava'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager, type DmEvent } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createStore } from '../manager/store.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { createRestServer } from '../manager/rest/server.js'
import { DATA_MACHINE_ID } from '../manager/constants.js'
import { STATE_FILE_NAME } from '../protocol/agent-layout.js'
import { parseMeasures } from '../protocol/model/probes.js'
import { startInProcessDm, tempDir, writeTemplate } from './dm-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

function probedTemplate (root: string, trigger: string, rules: Record<string, string>): string {
  return writeTemplate(root, {
    'descriptor/application.properties': 'name = Probed\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Tomcat;\n}\nTomcat {\n  installer: script;\n}\n',
    'graph/Tomcat/scripts/start.sh': '#!/bin/bash\ntrue\n',
    'instances/main.instances': 'instance of VM {\n  name: tomcat vm 1;\n  instance of Tomcat {\n    name: tomcat;\n  }\n}\n',
    'probes/Tomcat.measures': '# a trigger file, and a program whose number is compared\n[EVENT file load-high]\nDelete if exists {{ trigger }}\n\n[EVENT script busy]\nCheck /bin/echo load 7 THAT value > 5\n[EVENT script idle]\nCheck /bin/echo 3 THAT value > 5\n',
    'probes/Tomcat.measures.properties': `trigger = ${trigger}\n`,
    'commands/up.commands': 'define N = tomcat vm $(SMART_INDEX)\nreplicate /tomcat vm 1 as $(N)\n',
    'commands/note.commands': 'append busy into /busy.txt\n',
    ...rules
  })
}

test('measures files: sections, properties, comments; what cannot be understood is reported', t => {
  const { checks, problems } = parseMeasures([
    '# comment', '[EVENT file a]', 'Delete if exists {{ dir }}/x', '[event FILE b]', 'Notify if not exists /y', '[EVENT file c]', '/z',
    '[EVENT rest d]', 'Check http://127.0.0.1:1/s THAT load >= 2.5', '[EVENT script e]', 'Check /usr/bin/uptime THAT value < 1',
    '[EVENT nagios f]', 'GET hosts', '[EVENT script g]', 'Check /bin/true THAT value > many'
  ].join('\n'), 'dir = /tmp/d\n')
  t.deepEqual(checks, [
    { handler: 'file', eventName: 'a', path: '/tmp/d/x', mode: 'delete-if-exists' },
    { handler: 'file', eventName: 'b', path: '/y', mode: 'notify-if-not-exists' },
    { handler: 'file', eventName: 'c', path: '/z', mode: 'notify-if-exists' },
    { handler: 'rest', eventName: 'd', url: 'http://127.0.0.1:1/s', field: 'load', operator: '>=', threshold: 2.5 },
    { handler: 'script', eventName: 'e', program: '/usr/bin/uptime', args: [], operator: '<', threshold: 1 }
  ])
  t.is(problems.length, 2)
  t.regex(problems[0], /unknown handler nagios/)
  // the instance's own exports, by full or local name; a property of the same name wins
  const own = parseMeasures('[EVENT rest busy]\nCheck http://{{ ip }}:{{ Tomcat.port }}/status THAT rps > {{ high }}\n', 'high = 8\nip = 10.0.0.9\n',
    { 'Tomcat.ip': '127.0.0.5', 'Tomcat.port': '8123', 'Tomcat.high': '1' })
  t.deepEqual(own, { checks: [{ handler: 'rest', eventName: 'busy', url: 'http://10.0.0.9:8123/status', field: 'rps', operator: '>', threshold: 8 }], problems: [] })
  t.regex(problems[1], /\[EVENT script g\]: write Check <program>/)
})

test('a file probe and a script probe on a started instance fire the DM rules; an unmatched probe sends nothing', async t => {
  const started = await startInProcessDm(t, 'dm-probes', { autonomy: { probePeriodMs: 1_000 } })
  const { dm, dir } = started
  const trigger = join(dir.path, 'trigger')
  await dm.loadTemplateFromPath(probedTemplate(join(dir.path, 'template'), trigger, {
    'rules.autonomic/up.drl': 'rule "grow"\nsleep period is 600s\nwhen load-high then up end\n',
    'rules.autonomic/busy.drl': 'rule "note"\nsleep period is 600s\nwhen busy then note end\n',
    'rules.autonomic/idle.drl': 'rule "never"\nwhen idle then note end\n'
  }))
  dm.createApplication({ name: 'probed', template: { name: 'Probed', version: '1.0' } })
  const decisions: Array<Extract<DmEvent, { type: 'autonomic' }>> = []
  dm.onEvent(e => { if (e.type === 'autonomic') decisions.push(e) })
  dm.action('probed', { action: 'deploy-and-start-all' })
  await waitFor('Tomcat started', () => dm.instance('probed', '/tomcat vm 1/tomcat').status === 'DEPLOYED_STARTED')

  // the script probe: its program prints 7 > 5, every second; the rule fires once, then sleeps
  await waitFor('the busy rule fired', () => existsSync(join(dir.path, 'command-files', 'busy.txt')), { timeoutMs: 20_000 })
  await waitFor('a second busy event (sleeping)', () => decisions.some(d => d.rule === 'note' && !d.fired), { timeoutMs: 20_000 })
  t.like(decisions.find(d => d.rule === 'note'), { eventName: 'busy', path: '/tomcat vm 1/tomcat', fired: true })
  t.false(decisions.some(d => d.rule === 'grow'))

  // the file probe: the trigger appears, the probe deletes it and the rule replicates the machine
  writeFileSync(trigger, '')
  await waitFor('the grow rule fired', () => decisions.some(d => d.rule === 'grow' && d.fired), { timeoutMs: 20_000 })
  await waitFor('the replica', () => dm.instances('probed').some(r => r.path === '/tomcat vm 2'))
  t.false(existsSync(trigger))
  t.is(decisions.filter(d => d.rule === 'grow').length, 1)
  t.false(decisions.some(d => d.rule === 'never'))
  t.is(readFileSync(join(dir.path, 'command-files', 'busy.txt'), 'utf8'), 'busy\n')
})

test('events made while the DM is away wait on the agent and arrive with their age', async t => {
  const dir = tempDir('dm-probes-away')
  t.teardown(() => dir.remove())
  const { token } = loadOrCreateToken(dir.path)
  const port = await freePort()
  const quiet = process.env.DEBUG_PROBES !== undefined ? { debug: () => {}, info: (m: string) => console.log('I', m), warn: (m: string) => console.log('W', m), error: (m: string) => console.log('E', m) } : { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  const target = createInProcessTarget({ machinesDirectory: join(dir.path, 'machines'), heartbeatIntervalMs: 200, logger: quiet })
  t.teardown(async () => { await target.close?.() })
  const startDm = async () => {
    const store = createStore({ file: join(dir.path, 'dm.sqlite') })
    const dm = createDeploymentManager({ store, messaging: createEmbeddedMessaging({ port, dmToken: token, logger: quiet, credentials: store }), targets: [target], log: quiet },
      { dataDirectory: dir.path, defaultTargetHandler: 'in-process', autonomy: { probePeriodMs: 1_000 } })
    const decisions: Array<Extract<DmEvent, { type: 'autonomic' }>> = []
    dm.onEvent(e => { if (e.type === 'autonomic') decisions.push(e) })
    await dm.start()
    return { dm, decisions, stop: async () => { await dm.stop(); store.close() } }
  }
  let first = await startDm()
  await first.dm.loadTemplateFromPath(probedTemplate(join(dir.path, 'template'), join(dir.path, 'trigger'), {
    // a 2 s time window: what waited longer on the agent is too old to act on
    'rules.autonomic/busy.drl': 'rule "fresh"\ntime window is 2s\nwhen busy then note end\n'
  }))
  first.dm.createApplication({ name: 'probed', template: { name: 'Probed', version: '1.0' } })
  first.dm.action('probed', { action: 'deploy-and-start-all' })
  await waitFor('Tomcat started', () => first.dm.instance('probed', '/tomcat vm 1/tomcat').status === 'DEPLOYED_STARTED')
  await waitFor('a busy event', () => first.decisions.some(d => d.rule === 'fresh' && d.fired), { timeoutMs: 20_000 })

  // the DM goes away for 4 s: the agent keeps probing, its events wait
  await first.stop()
  await new Promise(resolve => setTimeout(resolve, 4_000))
  const second = await startDm()
  t.teardown(second.stop)
  const late = await waitFor('a late event', () => second.decisions.find(d => !d.fired), { timeoutMs: 30_000 })
  t.like(late, { rule: 'fresh', eventName: 'busy', path: '/tomcat vm 1/tomcat' })
  t.regex(late.reason, /^the event is \d+ s old, older than the time window \(2 s\)$/)
  t.true(Number(/is (\d+) s old/.exec(late.reason)![1]) >= 2)
})

test('the probe period is the application\'s: it travels with the model, and a change reaches its running agents', async t => {
  // the DM's default is an hour: within the test, only an application's own period makes its agents probe
  const { dm, dir } = await startInProcessDm(t, 'dm-probes-period', { autonomy: { probePeriodMs: 3_600_000 } })
  const rest = createRestServer({ dm, token: 'secret' })
  await rest.ready()
  t.teardown(async () => { await rest.stop() })
  const call = async (method: 'POST' | 'PATCH', url: string, payload: object) =>
    await rest.fastify.inject({ method, url, headers: { authorization: 'Bearer secret' }, payload })
  await dm.loadTemplateFromPath(probedTemplate(join(dir.path, 'template'), join(dir.path, 'trigger'), {
    'rules.autonomic/busy.drl': 'rule "note"\nsleep period is 600s\nwhen busy then note end\n'
  }))
  const template = { name: 'Probed', version: '1.0' }
  const decisions: Array<Extract<DmEvent, { type: 'autonomic' }>> = []
  dm.onEvent(e => { if (e.type === 'autonomic') decisions.push(e) })
  /** The period the application's agent keeps with its model (its state file). */
  const kept = (application: string): number | undefined => {
    const machine = dm.instance(application, '/tomcat vm 1').data[DATA_MACHINE_ID]
    try {
      return JSON.parse(readFileSync(join(dir.path, 'machines', machine, 'state', STATE_FILE_NAME), 'utf8')).model?.probePeriodMs
    } catch { return undefined }
  }

  const tooShort = await call('POST', '/api/applications', { name: 'fast', template, probePeriodMs: 999 })
  t.is(tooShort.statusCode, 400)
  t.like(tooShort.json().error, { code: 'REST_INVALID_APPLICATION_SETTING' })
  t.regex(tooShort.json().error.message, /probePeriodMs of application fast: a probe period is a whole number of milliseconds from 1000 \(1 s\) to 3600000 \(1 h\), got 999/)
  const fast = await call('POST', '/api/applications', { name: 'fast', template, probePeriodMs: 1_000 })
  t.is(fast.statusCode, 201)
  t.like(fast.json(), { probePeriodMs: 1_000, probePeriodIsDefault: false })
  t.like(dm.createApplication({ name: 'slow', template }), { probePeriodMs: 3_600_000, probePeriodIsDefault: true })
  for (const application of ['fast', 'slow']) dm.action(application, { action: 'deploy-and-start-all' })
  await waitFor('both Tomcats started', () => ['fast', 'slow'].every(a => dm.instance(a, '/tomcat vm 1/tomcat').status === 'DEPLOYED_STARTED'))

  // with the model: fast's agent probes every second, slow's keeps the DM's hour
  await waitFor('fast\'s probe fired its rule', () => decisions.some(d => d.application === 'fast' && d.fired), { timeoutMs: 20_000 })
  t.is(kept('fast'), 1_000)
  t.is(kept('slow'), 3_600_000)
  t.false(decisions.some(d => d.application === 'slow'))

  // changed while slow runs: its agent's next round comes a second later, not an hour
  const patched = await call('PATCH', '/api/applications/slow', { probePeriodMs: 1_000 })
  t.is(patched.statusCode, 200)
  t.like(patched.json(), { name: 'slow', probePeriodMs: 1_000, probePeriodIsDefault: false })
  await waitFor('slow\'s probe fired its rule', () => decisions.some(d => d.application === 'slow' && d.fired), { timeoutMs: 20_000 })
  await waitFor('slow\'s agent keeps 1 s', () => kept('slow') === 1_000)
  t.like(dm.getApplication('slow'), { probePeriodMs: 1_000, probePeriodIsDefault: false })

  // null: back to the DM's default; bad values are refused and change nothing
  t.like((await call('PATCH', '/api/applications/slow', { probePeriodMs: null })).json(), { probePeriodMs: 3_600_000, probePeriodIsDefault: true })
  await waitFor('slow\'s agent keeps the DM\'s hour again', () => kept('slow') === 3_600_000)
  t.is((await call('PATCH', '/api/applications/slow', { probePeriodMs: 3_600_001 })).statusCode, 400)
  t.is((await call('PATCH', '/api/applications/slow', { probePeriodMs: 'fast' })).statusCode, 400)
  t.is((await call('PATCH', '/api/applications/slow', {})).statusCode, 400)
  t.is((await call('PATCH', '/api/applications/none', { probePeriodMs: 2_000 })).statusCode, 404)
  t.like(dm.getApplication('slow'), { probePeriodMs: 3_600_000, probePeriodIsDefault: true })
})

test('a rest probe reads a live HTTP server on loopback: a JSON field or a `key: value` line past its threshold fires, with its value', async t => {
  // the server a Tomcat's status page would be: what each path answers, and how often the probes asked
  const answers: Record<string, string> = {
    '/json': '{"load": 7.5, "queue": 1}',
    '/text': 'queue: 2\nload: 9\n',
    '/low': '{"load": 1}',
    '/words': 'load: high',
    '/gone': '{"load": 8}'
  }
  const hits = new Map<string, number>()
  const server = createServer((request, response) => {
    hits.set(request.url ?? '', (hits.get(request.url ?? '') ?? 0) + 1)
    const body = answers[request.url ?? '']
    // /gone has a body past the threshold, but an error status: no measure
    response.writeHead(body === undefined || request.url === '/gone' ? 404 : 200).end(body ?? 'no such page')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const closedPort = await freePort()
  const { dm, dir } = await startInProcessDm(t, 'dm-probes-rest', { autonomy: { probePeriodMs: 1_000 } })
  const events = ['hot-json', 'hot-text', 'cold', 'words', 'missing', 'gone', 'down']
  await dm.loadTemplateFromPath(writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Rested\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Tomcat;\n}\nTomcat {\n  installer: script;\n}\n',
    'graph/Tomcat/scripts/start.sh': '#!/bin/bash\ntrue\n',
    'instances/main.instances': 'instance of VM {\n  name: vm;\n  instance of Tomcat {\n    name: tomcat;\n  }\n}\n',
    'probes/Tomcat.measures': [
      '[EVENT rest hot-json]', 'Check {{ base }}/json THAT load > 5',
      '[EVENT rest hot-text]', 'Check {{ base }}/text THAT load >= 9',
      '[EVENT rest cold]', 'Check {{ base }}/low THAT load > 5',
      '[EVENT rest words]', 'Check {{ base }}/words THAT load > 5',
      '[EVENT rest missing]', 'Check {{ base }}/json THAT cpu > 5',
      '[EVENT rest gone]', 'Check {{ base }}/gone THAT load > 5',
      '[EVENT rest down]', `Check http://127.0.0.1:${closedPort}/ THAT load > 5`, ''
    ].join('\n'),
    'probes/Tomcat.measures.properties': `base = ${base}\n`,
    'commands/note.commands': 'append busy into /busy.txt\n',
    ...Object.fromEntries(events.map(e => [`rules.autonomic/${e}.drl`, `rule "on ${e}"\nsleep period is 600s\nwhen ${e} then note end\n`]))
  }))
  dm.createApplication({ name: 'rested', template: { name: 'Rested', version: '1.0' } })
  const decisions: Array<Extract<DmEvent, { type: 'autonomic' }>> = []
  dm.onEvent(e => { if (e.type === 'autonomic') decisions.push(e) })
  dm.action('rested', { action: 'deploy-and-start-all' })
  await waitFor('Tomcat started', () => dm.instance('rested', '/vm/tomcat').status === 'DEPLOYED_STARTED')

  await waitFor('both hot probes fired', () => ['hot-json', 'hot-text'].every(e => decisions.some(d => d.eventName === e && d.fired)), { timeoutMs: 20_000 })
  t.like(decisions.find(d => d.eventName === 'hot-json'), { rule: 'on hot-json', path: '/vm/tomcat', fired: true, value: 7.5 })
  t.like(decisions.find(d => d.eventName === 'hot-text'), { rule: 'on hot-text', path: '/vm/tomcat', fired: true, value: 9 })
  // two more rounds asked every page: under the threshold, not a number, absent, an error status or no server sent nothing
  const hit = (path: string): number => hits.get(path) ?? 0
  const asked = hit('/low')
  await waitFor('two more rounds', () => ['/low', '/words', '/gone'].every(p => hit(p) >= asked + 2), { timeoutMs: 20_000 })
  t.deepEqual([...new Set(decisions.map(d => d.eventName))].sort(), ['hot-json', 'hot-text'])
  t.true(hit('/json') >= 2 * hit('/low') - 2, `the two probes on /json (hot-json, missing) both asked it every round: ${hit('/json')} for ${hit('/low')} rounds`)
})
