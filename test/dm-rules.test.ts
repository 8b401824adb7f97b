// Autonomic rules on the DM: an event from an agent runs the rule's commands unless the rule sleeps, the event is
// older than the time window, the VM limit is reached, or (scale-down) the event has not held for the stabilization
// window; every decision is an event with its reason, and GET /rules shows the last one.
import test from 'ava'
import { join } from 'node:path'
import type { DmEvent } from '../manager/dm.js'
import { createRestServer } from '../manager/rest/server.js'
import { startInProcessDm, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function elastic (t: Parameters<typeof startInProcessDm>[0], name: string, rules: Record<string, string> = {
  'rules.autonomic/up.drl': 'rule "grow"\n  sleep period is 2s\n  time window is 5s\nwhen\n  load-high\nthen\n  up\nend\n',
  'rules.autonomic/down.drl': 'rule "shrink"\nwhen\n  load-low\nthen\n  down\nend\n'
}) {
  const started = await startInProcessDm(t, name, { autonomy: { maximumVmNumber: 3, scaleDownStabilizationMs: 2_000, eventStreakGapMs: 1_000 } })
  const { dm, dir } = started
  await dm.loadTemplateFromPath(writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Elastic\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Tomcat;\n}\nTomcat {\n  installer: script;\n}\n',
    'instances/main.instances': 'instance of VM {\n  name: tomcat vm 1;\n  instance of Tomcat {\n    name: tomcat;\n  }\n}\n',
    'commands/up.commands': 'define N = tomcat vm $(SMART_INDEX)\nreplicate /tomcat vm 1 as $(N)\n',
    'commands/down.commands': 'define LAST = tomcat vm $(EXISTING_INDEX MAX > 1)\ndelete /$(LAST)\n',
    ...rules
  }))
  dm.createApplication({ name: 'elastic', template: { name: 'Elastic', version: '1.0' } })
  const decisions: Array<Extract<DmEvent, { type: 'autonomic' }>> = []
  dm.onEvent(e => { if (e.type === 'autonomic') decisions.push(e) })
  const machines = (): string[] => dm.instances('elastic').map(r => r.path)
  const event = (eventName: string, ageMs = 0): void => {
    dm.autonomy.onAutonomicEvent({ v: 1, kind: 'autonomic', application: 'elastic', scopedInstancePath: '/tomcat vm 1', instancePath: '/tomcat vm 1/tomcat', eventName, measuredAt: new Date(Date.now() - ageMs).toISOString(), ageMs })
  }
  const idle = async (): Promise<void> => { await waitFor('the rules idle', () => !dm.autonomy.rules.busy('elastic')) }
  return { ...started, decisions, machines, event, idle }
}

test('sleep period, time window and the maximum number of VMs; an event from a real agent link fires a rule', async t => {
  const { dm, target, decisions, machines, event, idle } = await elastic(t, 'dm-rules-limits')
  dm.action('elastic', { action: 'deploy-and-start-all' })
  await waitFor('the machine started', () => dm.instance('elastic', '/tomcat vm 1/tomcat').status === 'DEPLOYED_STARTED')
  // the agent's own link carries the event to the DM
  const machineId = dm.instance('elastic', '/tomcat vm 1').data['machine.id']
  await target.agent(machineId)!.link.send({ v: 1, kind: 'autonomic', application: 'elastic', scopedInstancePath: '/tomcat vm 1', instancePath: '/tomcat vm 1/tomcat', eventName: 'load-high', measuredAt: new Date().toISOString(), ageMs: 0 })
  await waitFor('the rule fired', () => decisions.length >= 1)
  await idle()
  t.like(decisions[0], { rule: 'grow', eventName: 'load-high', path: '/tomcat vm 1/tomcat', fired: true, reason: 'running up' })
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2'])

  event('load-high')
  t.like(decisions[1], { rule: 'grow', fired: false })
  t.regex(decisions[1].reason, /^sleeping: it fired \d+ s ago, its sleep period is 2 s$/)
  event('load-high', 10_000)
  t.regex(decisions[2].reason, /^the event is 10 s old, older than the time window \(5 s\)$/)
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2'])

  await sleep(2_100)
  event('load-high')
  await idle()
  t.true(decisions[3].fired)
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2', '/tomcat vm 3'])

  // at the maximum (3): the rule fires, and its replicate is refused
  await sleep(2_100)
  event('load-high')
  await idle()
  t.true(decisions[4].fired)
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2', '/tomcat vm 3'])
  const refused = dm.autonomy.history('elastic', { offset: 0, limit: 5 }).entries.find(e => e.outcome === 'error')
  t.like(refused, { command: 'up', source: 'rule', sourceName: 'grow', instruction: 'replicate /tomcat vm 1 as tomcat vm 4' })
  t.regex(refused!.detail, /3 machine\(s\), the maximum its rules may reach \(autonomic.maximum.vm.number 3\)/)

  // GET /rules: the last decision of each rule, and why
  const rest = createRestServer({ dm, token: 'secret' })
  await rest.ready()
  t.teardown(async () => { await rest.stop() })
  const list = (await rest.fastify.inject({ method: 'GET', url: '/api/applications/elastic/rules', headers: { authorization: 'Bearer secret' } })).json()
  t.like(list.find((r: { name: string }) => r.name === 'grow'), { eventName: 'load-high', commands: ['up'], sleepPeriodSeconds: 2, timeWindowSeconds: 5, scaleDown: false, lastDecision: { fired: true } })
  t.like(list.find((r: { name: string }) => r.name === 'shrink'), { scaleDown: true, running: false })
  t.is(list.find((r: { name: string }) => r.name === 'shrink').lastFiredAt, undefined)
})

test('the stabilization window: a load that oscillates faster than the window causes no scale-down; one that holds does', async t => {
  const { dm, decisions, machines, event, idle } = await elastic(t, 'dm-rules-stabilize')
  await dm.autonomy.runCommands('elastic', 'up')
  await dm.autonomy.runCommands('elastic', 'up')
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2', '/tomcat vm 3'])

  // low for 0.8 s, then quiet for 1.5 s (longer than the 1 s streak gap), three times: never 2 s in a row
  for (let cycle = 0; cycle < 3; cycle++) {
    for (let k = 0; k < 8; k++) { event('load-low'); await sleep(100) }
    await sleep(1_500)
  }
  t.true(decisions.length >= 20)
  t.true(decisions.every(d => !d.fired && /^stabilizing: it scales down, and load-low has held for \d+ s of the 2 s window$/.test(d.reason)), JSON.stringify(decisions.filter(d => d.fired)))
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2', '/tomcat vm 3'])

  // held: fires once the window is over, and removes the highest-numbered machine
  await waitFor('the scale-down fired', async () => { event('load-low'); await sleep(100); return decisions.some(d => d.fired) }, { timeoutMs: 20_000 })
  await idle()
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2'])
  t.like(decisions.find(d => d.fired), { rule: 'shrink', reason: 'running down' })
})

test('a rule\'s own bounds: max instances of a component for a scale-up, min for a scale-down', async t => {
  const { dm, decisions, machines, event, idle } = await elastic(t, 'dm-rules-bounds', {
    'rules.autonomic/up.drl': 'rule "grow"\n  max instances of Tomcat is 2\nwhen load-high then up end\n',
    'rules.autonomic/down.drl': 'rule "shrink"\n  min instances of Tomcat is 2\nwhen load-low then down end\n'
  })
  event('load-high')
  await idle()
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2'])
  event('load-high')
  t.like(decisions[1], { rule: 'grow', fired: false, reason: 'at the rule\'s maximum: 2 instance(s) of Tomcat, max 2' })
  event('load-low')
  t.like(decisions[decisions.length - 1], { rule: 'shrink', fired: false, reason: 'at the rule\'s minimum: 2 instance(s) of Tomcat, min 2' })
  t.deepEqual(machines(), ['/tomcat vm 1', '/tomcat vm 2'])
  t.like(dm.autonomy.rules.list('elastic').find(r => r.name === 'grow'), { instanceLimits: { Tomcat: { max: 2 } } })
})
