// Scaling done by the DM (POST /api/applications/:app/scale): a dry run plans and changes nothing, an ambiguous
// component is refused unless a root is named, a scale-up replicates and deploys, a scale-down undeploys first (the
// stop and undeploy recipes run and Apache drops the Tomcat) before the machine goes; each scale is in the history.
import test from 'ava'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRestServer } from '../manager/rest/server.js'
import { startInProcessDm, statuses, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

/** Apache imports every Tomcat; each recipe appends "<instance path> <step>" to the journal, Apache's update how many Tomcats it sees. */
function writeLampTemplate (root: string, journal: string): string {
  const recipes: Record<string, string> = {}
  for (const component of ['Tomcat', 'Apache']) {
    for (const step of ['deploy', 'start', 'stop', 'undeploy']) {
      recipes[`graph/${component}/scripts/${step}.sh`] = `#!/bin/bash\necho "$ROBOCONF_INSTANCE_PATH ${step}" >> '${journal}'\n`
    }
  }
  recipes['graph/Apache/scripts/update.sh'] = `#!/bin/bash\necho "apache sees \${Tomcat_size:-0}" >> '${journal}'\n`
  return writeTemplate(root, {
    'descriptor/application.properties': 'name = Lamp\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n',
    'graph/main.graph': [
      'VM {', '  installer: target;', '  children: Tomcat, Apache;', '}',
      'Tomcat {', '  installer: script;', '  exports: ip, port = 8080;', '}',
      'Apache {', '  installer: script;', '  imports: Tomcat.ip, Tomcat.port;', '}', ''
    ].join('\n'),
    'instances/initial.instances': [
      'instance of VM {', '  name: Apache VM;', '  instance of Apache {', '    name: Apache;', '  }', '}',
      'instance of VM {', '  name: Tomcat VM 1;', '  instance of Tomcat {', '    name: Tomcat;', '  }', '}', ''
    ].join('\n'),
    ...recipes
  })
}

async function lamp (t: Parameters<typeof startInProcessDm>[0], name: string) {
  const warnings: string[] = []
  const log = { debug: () => {}, info: () => {}, warn: (m: string) => { warnings.push(m) }, error: (m: string) => { process.stderr.write(`ERROR ${m}\n`) } }
  const started = await startInProcessDm(t, name, { log, autonomy: { drainWaitMs: 20_000 } })
  const journal = join(started.dir.path, 'journal.txt')
  await started.dm.loadTemplateFromPath(writeLampTemplate(join(started.dir.path, 'template'), journal))
  started.dm.createApplication({ name: 'lamp', template: { name: 'Lamp', version: '1.0' } })
  const readJournal = (): string[] => existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n') : []
  return { ...started, warnings, readJournal }
}

test('a dry run answers the plan and changes nothing; the history says so', async t => {
  const { dm } = await lamp(t, 'dm-scale-dry')
  const before = statuses(dm.instances('lamp'))
  const plan = await dm.autonomy.scale('lamp', { component: 'Tomcat', count: 3, dryRun: true })
  t.like(plan, { from: 1, to: 3, model: '/Tomcat VM 1', add: ['/Tomcat VM 2', '/Tomcat VM 3'], remove: [], dryRun: true })
  t.deepEqual(statuses(dm.instances('lamp')), before)
  const { total, entries } = dm.autonomy.history('lamp', { offset: 0, limit: 10 })
  t.is(total, 1)
  t.like(entries[0], { command: 'scale', instruction: 'scale Tomcat to 3 (dry run)', source: 'user', outcome: 'ok' })
  t.regex(entries[0].detail, /replicating \/Tomcat VM 1 as Tomcat VM 2, Tomcat VM 3/)
})

test('a component every machine carries is refused unless a root is named; so is one whose machines carry others', async t => {
  const { dm, store } = await lamp(t, 'dm-scale-ambiguous')
  const rest = createRestServer({ dm, token: 'secret' })
  await rest.ready()
  t.teardown(async () => { await rest.stop() })
  const post = async (body: object): Promise<{ status: number, json: any }> => {
    const r = await rest.fastify.inject({ method: 'POST', url: '/api/applications/lamp/scale', headers: { authorization: 'Bearer secret' }, payload: body })
    return { status: r.statusCode, json: r.json() }
  }
  const vm = await post({ component: 'VM', count: 3 })
  t.is(vm.status, 409)
  t.is(vm.json.error.code, 'REST_SCALE_AMBIGUOUS')
  t.regex(vm.json.error.message, /every machine carries it and they also carry Apache, Tomcat/)
  t.regex(vm.json.error.message, /root: one of \/Apache VM, \/Tomcat VM 1/)

  // a Tomcat added on the Apache machine: Tomcat's machines now carry Apache too
  dm.addInstance('lamp', { parentPath: '/Apache VM', name: 'Tomcat', component: 'Tomcat' })
  const tomcat = await post({ component: 'Tomcat', count: 3 })
  t.is(tomcat.status, 409)
  t.regex(tomcat.json.error.message, /every machine carries it and they also carry Apache,/)

  const named = await post({ component: 'VM', count: 2, root: '/Tomcat VM 1', dryRun: true })
  t.is(named.status, 200)
  t.like(named.json, { machines: ['/Tomcat VM 1'], from: 1, to: 2, add: ['/Tomcat VM 2'] })
  const wrongRoot = await post({ component: 'Tomcat', count: 2, root: '/Nope' })
  t.is(wrongRoot.status, 400)
  const zero = await post({ component: 'Tomcat', count: 0 })
  t.is(zero.status, 400)
  t.deepEqual(Object.keys(statuses(dm.instances('lamp'))).sort(), ['/Apache VM', '/Apache VM/Apache', '/Apache VM/Tomcat', '/Tomcat VM 1', '/Tomcat VM 1/Tomcat'])
  // newest first: the wrong root, the named root's dry run, the two refusals (a count of 0 never reached the DM)
  t.deepEqual(store.autonomy.history('lamp', { offset: 0, limit: 10 }).entries.map(e => e.outcome), ['error', 'ok', 'error', 'error'])
  const page = await rest.fastify.inject({ method: 'GET', url: '/api/applications/lamp/history?limit=2&offset=1', headers: { authorization: 'Bearer secret' } })
  t.like(page.json(), { total: 4, offset: 1, limit: 2 })
  t.deepEqual(page.json().entries.map((e: { instruction: string }) => e.instruction), ['scale VM to 2 replicating /Tomcat VM 1 (dry run)', 'scale Tomcat to 3'])
})

test('scale up replicates and deploys; scale down runs the stop recipes and Apache drops the Tomcat before the machine goes', async t => {
  const { dm, store, target, warnings, readJournal } = await lamp(t, 'dm-scale-down')
  dm.action('lamp', { action: 'deploy-and-start-all' })
  await waitFor('everything started', () => Object.values(statuses(dm.instances('lamp'))).every(s => s === 'DEPLOYED_STARTED'))

  const up = await dm.autonomy.scale('lamp', { component: 'Tomcat', count: 2 })
  t.deepEqual(up.add, ['/Tomcat VM 2'])
  await waitFor('the copy started', () => dm.instance('lamp', '/Tomcat VM 2/Tomcat').status === 'DEPLOYED_STARTED')
  await waitFor('Apache sees two Tomcats', () => readJournal().includes('apache sees 2'))
  const machineId = dm.instance('lamp', '/Tomcat VM 2').data['machine.id']
  t.true(await target.isRunning(machineId))

  const apacheImports = (): string[] => Object.values(store.getInstance('lamp', '/Apache VM/Apache')?.imports ?? {}).flat().map(i => i.instancePath)
  let atMachineGone: { journal: string[], imports: string[] } | undefined
  dm.onEvent(e => {
    if (e.type === 'instance' && e.path === '/Tomcat VM 2' && e.status === 'NOT_DEPLOYED') atMachineGone = { journal: readJournal(), imports: apacheImports() }
  })
  const down = await dm.autonomy.scale('lamp', { component: 'Tomcat', count: 1 })
  t.deepEqual(down.remove, ['/Tomcat VM 2'])
  t.truthy(atMachineGone)
  t.true(atMachineGone!.journal.includes('/Tomcat VM 2/Tomcat stop'))
  t.true(atMachineGone!.journal.includes('/Tomcat VM 2/Tomcat undeploy'))
  t.deepEqual(atMachineGone!.imports, ['/Tomcat VM 1/Tomcat'])
  t.false(await target.isRunning(machineId))
  t.deepEqual(Object.keys(statuses(dm.instances('lamp'))), ['/Apache VM', '/Apache VM/Apache', '/Tomcat VM 1', '/Tomcat VM 1/Tomcat'])
  t.is(dm.instance('lamp', '/Apache VM/Apache').status, 'DEPLOYED_STARTED')
  t.deepEqual(warnings.filter(w => w.includes('anyway')), [])
  const entries = dm.autonomy.history('lamp', { offset: 0, limit: 10 }).entries
  t.deepEqual(entries.map(e => `${e.instruction}: ${e.outcome}`), ['scale Tomcat to 1: ok', 'scale Tomcat to 2: ok'])
  t.regex(entries[0].detail, /undeploying then deleting \/Tomcat VM 2/)
})
