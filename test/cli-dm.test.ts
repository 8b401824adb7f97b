// The CLI against the real DM: REST server, embedded WebSocket messaging and in-process agents running the
// template's bash recipes, all in this test's process.
import test from 'ava'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, runCliInProcess, runCliOnTerminal, spawnCli, waitForOutput } from './cli-helpers.js'
import { startDm } from './cli-dm-helpers.js'
import { statuses, writeShopTemplate } from './dm-helpers.js'

test('app load uploads the folder and creates the application; app list --json is one document; templates', async t => {
  const { cli, template, dir } = await startDm(t)
  const load = await cli('app', 'load', template, '--name', 'shop-a')
  t.is(load.exitCode, 0, load.stderr)
  t.regex(load.stdout, /^loaded template Shop 1\.0/m)
  t.regex(load.stdout, /^created application shop-a/m)
  const list = await cli('app', 'list', '--json')
  t.is(list.exitCode, 0, list.stderr)
  t.like(JSON.parse(list.stdout), { ok: true, applications: [{ name: 'shop-a', template: { name: 'Shop', version: '1.0' } }] })
  t.regex(JSON.parse(list.stdout).applications[0].createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  const text = await cli('app', 'list')
  t.regex(text.stdout, /^NAME +TEMPLATE +CREATED/m)
  t.regex(text.stdout, /^shop-a +Shop 1\.0 /m)

  const again = await cli('app', 'load', template)
  t.is(again.exitCode, 1)
  t.regex(again.stderr, /already loaded: change the version/)
  const deleted = await cli('app', 'delete', 'shop-a')
  t.is(deleted.exitCode, 0, deleted.stderr)
  t.deepEqual(JSON.parse((await cli('app', 'list', '--json')).stdout), { ok: true, applications: [] })

  // the template stays until deleted with an application that used it; the DM can also read a folder itself
  t.regex((await cli('app', 'templates')).stdout, /^Shop +1\.0 +a database and its clients$/m)
  const local = await cli('app', 'load', template, '--name', 'shop-local', '--on-dm-host')
  t.is(local.exitCode, 1, 'the same template version cannot be loaded twice')
  const other = writeShopTemplate(join(dir.path, 'shop-2'), { version: '2.0' })
  t.is((await cli('app', 'load', other, '--name', 'shop-local', '--on-dm-host')).exitCode, 0)
  const withTemplate = await cli('app', 'delete', 'shop-local', '--with-template')
  t.is(withTemplate.exitCode, 0, withTemplate.stderr)
  t.regex(withTemplate.stdout, /^deleted template Shop 2\.0$/m)
  t.deepEqual(JSON.parse((await cli('template', 'list', '--json')).stdout).templates.map((x: { version: string }) => x.version), ['1.0'])
})

test('a template with model errors is refused: each one printed as file:line: LEVEL CODE: message, exit 1', async t => {
  const { cli, dir } = await startDm(t)
  const broken = writeShopTemplate(join(dir.path, 'broken'), { version: '2.0' })
  writeFileSync(join(broken, 'graph', 'main.graph'), 'VM {\n  installer: target;\n  children: DB, Cache;\n}\nDB {\n  installer: script;\n}\n')
  const r = await cli('app', 'load', broken)
  t.is(r.exitCode, 1)
  t.regex(r.stderr, new RegExp(`^${broken}/graph/main\\.graph:\\d+: SEVERE [A-Z_]+: .*Cache`, 'm'))
  t.regex(r.stderr, /has \d+ errors?: fix (it|them) and load it again/)
  t.deepEqual(JSON.parse((await cli('app', 'list', '--json')).stdout), { ok: true, applications: [] })
})

test('deploy, then start --wait lists each instance as it reaches DEPLOYED_STARTED; status draws the tree; stop and undeploy follow', async t => {
  const { cli, template, dm } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-b')).exitCode, 0)

  // deploy without start: machines are created (DEPLOYED_STARTED), their instances deployed but stopped
  const deploy = await cli('deploy', 'shop-b', '--wait=90s')
  t.is(deploy.exitCode, 0, deploy.stderr + deploy.stdout)
  t.deepEqual(statuses(dm.instances('shop-b')), {
    '/vm1': 'DEPLOYED_STARTED', '/vm1/db': 'DEPLOYED_STOPPED', '/vm2': 'DEPLOYED_STARTED', '/vm2/app': 'DEPLOYED_STOPPED'
  })

  const start = await cli('start', 'shop-b', '--all', '--wait=90s')
  t.is(start.exitCode, 0, start.stderr + start.stdout)
  for (const path of ['/vm1', '/vm1/db', '/vm2', '/vm2/app']) t.regex(start.stdout, new RegExp(`^  ${path} +DEPLOYED_STARTED  \\d+\\.\\d s$`, 'm'))
  const progress = start.stdout.split('\n').filter(l => l.includes('DEPLOYED_STARTED  '))
  t.is(new Set(progress.map(l => l.indexOf('DEPLOYED_STARTED'))).size, 1, 'the states line up')
  t.regex(start.stdout, /done, 4 instance\(s\) reached their state/)

  const status = await cli('status', 'shop-b')
  t.is(status.exitCode, 0)
  t.regex(status.stdout, /^shop-b \(template Shop 1\.0\): 4 instances: 4 DEPLOYED_STARTED$/m)
  t.regex(status.stdout, /^\/vm1 \(VM\) +DEPLOYED_STARTED +127\.0\.0\.1$/m)
  t.regex(status.stdout, /^└─ app \(App\) +DEPLOYED_STARTED$/m)
  const json = await cli('status', 'shop-b', '--json')
  t.deepEqual(statuses(JSON.parse(json.stdout).application.instances), statuses(dm.instances('shop-b')))

  const stop = await cli('stop', 'shop-b', '/vm2/app', '--wait=90s')
  t.is(stop.exitCode, 0, stop.stderr)
  t.regex(stop.stdout, /^ {2}\/vm2\/app {2,}DEPLOYED_STOPPED/m)
  t.like(statuses(dm.instances('shop-b')), { '/vm2': 'DEPLOYED_STARTED', '/vm2/app': 'DEPLOYED_STOPPED' })

  const undeploy = await cli('undeploy', 'shop-b', '--wait=90s', '--json')
  t.is(undeploy.exitCode, 0, undeploy.stderr)
  const doc = JSON.parse(undeploy.stdout)
  t.like(doc, { application: 'shop-b', operation: 'undeploy', ok: true, timedOut: false, pending: [] })
  t.deepEqual(doc.requests, [{ kind: 'action', action: 'undeploy-all' }])
  t.true(Object.values(statuses(dm.instances('shop-b'))).every(s => s === 'NOT_DEPLOYED'))
})

test('status --watch --until follows the DM events while another command deploys and starts', async t => {
  const { cli, template, env, home, dm } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-c')).exitCode, 0)
  const watching = spawnCli(['status', 'shop-c', '--watch', '--until', 'DEPLOYED_STARTED', '--wait=90s'], { home, env, timeoutMs: 100_000 })
  const json = spawnCli(['status', 'shop-c', '--watch', '--until', 'DEPLOYED_STARTED', '--wait=90s', '--json'], { home, env, timeoutMs: 100_000 })
  await waitForOutput(watching, /^shop-c \(template Shop 1\.0\): 4 instances: 4 NOT_DEPLOYED$/m)

  const deploy = await cli('deploy', 'shop-c', '/vm1', '--wait=90s')
  t.is(deploy.exitCode, 0, deploy.stderr)
  t.regex(deploy.stdout, /^ {2}\/vm1 {2,}DEPLOYED_STARTED/m)
  const start = await cli('start', 'shop-c', '--no-wait')
  t.is(start.exitCode, 0, start.stderr)
  t.regex(start.stdout, /follow it with `meshconf status "shop-c" --watch`/)

  const r = await watching
  t.is(r.exitCode, 0, String(r.stderr))
  // the tree first, then one line per change, as the events came
  t.regex(String(r.stdout), /^\d\d:\d\d:\d\d \/vm1 DEPLOYING$/m)
  t.regex(String(r.stdout), /^\d\d:\d\d:\d\d \/vm2\/app DEPLOYED_STARTED$/m)
  const last = await json
  t.is(last.exitCode, 0, String(last.stderr))
  t.true(Object.values(statuses(JSON.parse(String(last.stdout)).application.instances)).every(s => s === 'DEPLOYED_STARTED'))
  t.true(Object.values(statuses(dm.instances('shop-c'))).every(s => s === 'DEPLOYED_STARTED'))
})

test('Ctrl-C ends status --watch with exit 0', async t => {
  const { cli, template, env, home } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-d')).exitCode, 0)
  const watching = spawnCli(['status', 'shop-d', '--watch'], { home, env })
  await waitForOutput(watching, /^└─ app \(App\) +NOT_DEPLOYED$/m)
  watching.kill('SIGINT')
  const r = await watching
  t.is(r.exitCode, 0, String(r.stderr))
  t.is(String(r.stderr), '')

  // the one wait flag bounds a watch: exit 0 without --until, 1 with an --until not reached
  const bounded = await cli('status', 'shop-d', '--watch', '--wait=1s')
  t.is(bounded.exitCode, 0, bounded.stderr)
  t.regex(bounded.stdout, /^shop-d \(template Shop 1\.0\): 4 instances: 4 NOT_DEPLOYED$/m)
  const notReached = await cli('status', 'shop-d', '--until', 'DEPLOYED_STARTED', '--wait=1s', '-o', 'json')
  t.is(notReached.exitCode, 1)
  t.like(JSON.parse(notReached.stdout), { ok: false, code: 'CLI_WATCH_ENDED', message: 'timeout after 1s: 4 instance(s) not DEPLOYED_STARTED' })
})

test('scale replicates the machine carrying a component, starts it, then removes the highest-numbered', async t => {
  const { cli, template, dm } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-e')).exitCode, 0)
  // the copies' App imports the DB: it must run for them to start
  t.is((await cli('start', 'shop-e', '--wait=90s')).exitCode, 0)
  const up = await cli('scale', 'shop-e', 'App', '--to', '3', '--wait=90s')
  t.is(up.exitCode, 0, up.stderr + up.stdout)
  t.regex(up.stdout, /replicating \/vm2 as vm2 2, vm2 3/)
  t.regex(up.stdout, /^ {2}\/vm2 3\/app {2,}DEPLOYED_STARTED/m)
  t.like(statuses(dm.instances('shop-e')), {
    '/vm2': 'DEPLOYED_STARTED', '/vm2 2': 'DEPLOYED_STARTED', '/vm2 2/app': 'DEPLOYED_STARTED', '/vm2 3/app': 'DEPLOYED_STARTED'
  })

  const down = await cli('scale', 'shop-e', 'App', '--to', '1', '--json')
  t.is(down.exitCode, 0, down.stderr)
  t.like(JSON.parse(down.stdout), { ok: true, from: 3, to: 1, removed: ['/vm2 3', '/vm2 2'], waited: true, timedOut: false })
  t.deepEqual(Object.keys(statuses(dm.instances('shop-e'))), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])

  const none = await cli('scale', 'shop-e', 'Cache', '--to', '2')
  t.is(none.exitCode, 1)
  t.regex(none.stderr, /component "Cache" is not in the graph of shop-e/)
  const dry = await cli('scale', 'shop-e', 'App', '--to', '2', '--dry-run', '--json')
  t.is(dry.exitCode, 0, dry.stderr)
  t.like(JSON.parse(dry.stdout), { from: 1, to: 2, added: ['/vm2 2'], dryRun: true })
  t.deepEqual(Object.keys(statuses(dm.instances('shop-e'))), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])
})

test('instance add, replicate and delete; deleting a deployed instance says to undeploy first', async t => {
  const { cli, template, dm } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-f')).exitCode, 0)
  t.is((await cli('instance', 'add', 'shop-f', '/vm3', '--component', 'VM')).exitCode, 0)
  const add = await cli('instance', 'add', 'shop-f', '/vm3/db2', '--component', 'DB', '--export', 'port=6543', '--json')
  t.is(add.exitCode, 0, add.stderr)
  t.like(JSON.parse(add.stdout), { ok: true, instance: { path: '/vm3/db2', component: 'DB' } })
  const replicate = await cli('instance', 'replicate', 'shop-f', '/vm3', 'vm4')
  t.is(replicate.exitCode, 0, replicate.stderr)
  t.like(statuses(dm.instances('shop-f')), { '/vm4': 'NOT_DEPLOYED', '/vm4/db2': 'NOT_DEPLOYED' })
  const bad = await cli('instance', 'add', 'shop-f', '/vm3/x', '--component', 'Nope')
  t.is(bad.exitCode, 1)
  t.regex(bad.stderr, /Nope/)

  t.is((await cli('start', 'shop-f', '/vm4', '--wait=90s')).exitCode, 0)
  const refused = await cli('instance', 'delete', 'shop-f', '/vm4')
  t.is(refused.exitCode, 1)
  t.regex(refused.stderr, /undeploy it first: meshconf undeploy "shop-f" "\/vm4" --all --wait/)
  t.is((await cli('undeploy', 'shop-f', '/vm4', '--all', '--wait=90s')).exitCode, 0)
  t.is((await cli('instance', 'delete', 'shop-f', '/vm4')).exitCode, 0)
  t.is((await cli('instance', 'delete', 'shop-f', '/vm3')).exitCode, 0)
  t.deepEqual(Object.keys(statuses(dm.instances('shop-f'))), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])
})

test('a wrong token exits 1 and says how to pass it (REST and events); ~/.meshconf/config.json gives URL and token', async t => {
  const { url, home, token } = await startDm(t)
  const rest = await runCliInProcess(['app', 'list', '--dm', url, '--token', 'wrong'], { home })
  t.is(rest.exitCode, 1)
  t.regex(rest.stderr, /refused the token \(401\): pass it with --token T, the MESHCONF_TOKEN environment variable/)
  const none = await runCliInProcess(['status', 'x', '--watch', '--dm', url], { home })
  t.is(none.exitCode, 1)
  t.regex(none.stderr, /needs a token \(401\)/)
  const unknown = await runCliInProcess(['status', 'nope', '--watch', '--dm', url, '--token', token], { home })
  t.is(unknown.exitCode, 1)
  t.regex(unknown.stderr, /nope.*`meshconf app list` lists the applications/)

  mkdirSync(join(home, '.meshconf'), { recursive: true })
  writeFileSync(join(home, '.meshconf', 'config.json'), JSON.stringify({ dm: url, token }))
  const fromFile = await runCliInProcess(['app', 'list', '--json'], { home })
  t.is(fromFile.exitCode, 0, fromFile.stderr)
  t.deepEqual(JSON.parse(fromFile.stdout), { ok: true, applications: [] })
  // a flag still wins over the file
  t.is((await runCliInProcess(['app', 'list', '--token', 'wrong'], { home })).exitCode, 1)
})

test('on a terminal, start waits by default and states are coloured; piped, they are plain', async t => {
  const { cli, template, home, env } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-t')).exitCode, 0)
  const start = await runCliOnTerminal(['start', 'shop-t'], { home, env })
  t.is(start.exitCode, 0, start.stdout)
  // the live line: counts by state and the elapsed time, redrawn in place
  t.regex(start.stdout, /\r\u001b\[2Kstart shop-t: 4 instances, [^\r\n]*\d+\.\d s/)
  start.stdout = start.stdout.replace(/\r\u001b\[2K[^\r\n]*(?=\r)/g, '').replaceAll('\r\u001b[2K', '')
  t.regex(start.stdout, /^ {2}\/vm2\/app +\u001b\[32mDEPLOYED_STARTED\u001b\[0m {2}\d+\.\d s$/m)
  const status = await runCliOnTerminal(['status', 'shop-t'], { home, env })
  t.regex(status.stdout, /^└─ db \(DB\) +\u001b\[32mDEPLOYED_STARTED\u001b\[0m$/m)
  // piped (NO_COLOR unset all the same): plain text
  const piped = await runCli(['status', 'shop-t'], { home, env: { ...env, NO_COLOR: '' } })
  t.regex(piped.stdout, /^└─ db \(DB\) +DEPLOYED_STARTED$/m)
  t.false(piped.stdout.includes('\u001b['))
})
