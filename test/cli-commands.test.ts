// The CLI as a real child process: usage errors, an unreachable DM, and the commands against a test double of the
// DM's REST contract (the cases the real DM cannot produce on demand: exact transitions, an instance in PROBLEM).
import test from 'ava'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { instance, runCli, runCliInProcess, spawnCli, startDmDouble, type DmDouble } from './cli-helpers.js'

async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function lamp (): ReturnType<typeof instance>[] {
  return [
    instance('/Apache VM', 'VM', 'NOT_DEPLOYED', [instance('/Apache VM/Apache', 'Apache')]),
    instance('/Tomcat VM 1', 'VM', 'NOT_DEPLOYED', [instance('/Tomcat VM 1/Tomcat', 'Tomcat')])
  ]
}

async function double (t: { teardown: (fn: () => Promise<void>) => void }): Promise<DmDouble> {
  const dm = await startDmDouble({ lamp: lamp() })
  t.teardown(async () => { await dm.close() })
  return dm
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

test('usage errors exit 2 with a clear message (a real process too)', async t => {
  const home = await tempDir(t)
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['status'], /missing required argument 'app'/],
    [['scale', 'lamp', 'Tomcat', '--to', 'three'], /"three" is not a whole number >= 1/],
    [['scale', 'lamp', 'Tomcat'], /required option '--to <count>' not specified/],
    [['status', 'lamp', '--watch', '--until', 'RUNNING'], /"RUNNING" is not an instance state/],
    [['status', 'lamp', '--until', 'DEPLOYED_STARTED'], /--until and --timeout go with --watch/],
    [['start', 'lamp', '/Apache VM', '--wait', '-3'], /not a number of seconds > 0/],
    [['instance', 'add', 'lamp', '/Apache VM/PHP'], /required option '--component <name>'/]
  ]
  const dm = `http://127.0.0.1:${await closedPort()}`
  for (const [args, message] of cases) {
    const r = await runCliInProcess([...args, '--dm', dm], { home })
    t.is(r.exitCode, 2, args.join(' '))
    t.regex(r.stderr, message, args.join(' '))
  }
  const child = await runCli(['frobnicate'], { home })
  t.is(child.exitCode, 2)
  t.regex(child.stderr, /unknown command 'frobnicate'/)
})

test('a DM that cannot be reached exits 1 and says how to start it or where to point', async t => {
  const home = await tempDir(t)
  const url = `http://127.0.0.1:${await closedPort()}`
  const r = await runCli(['app', 'list'], { home, env: { MESHCONF_DM: url } })
  t.is(r.exitCode, 1)
  t.true(r.stderr.includes(`cannot reach the DM at ${url}`), r.stderr)
  t.true(r.stderr.includes('meshconf dm start'))
  t.true(r.stderr.includes('--dm'))
  t.is(r.stdout, '')
})

test('app load zips the folder, prints warnings like a compiler, creates the application; --json is one document', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const folder = join(await tempDir(t), 'lamp')
  await mkdir(join(folder, 'descriptor'), { recursive: true })
  await mkdir(join(folder, 'graph'))
  await writeFile(join(folder, 'descriptor', 'application.properties'), 'name = lamp\nversion = 1.0.0\n')
  await writeFile(join(folder, 'graph', 'lamp.graph'), 'VM { installer: target; }\n')

  const r = await runCliInProcess(['app', 'load', folder, '--name', 'shop', '--json', '--dm', dm.url, '--token', dm.token], { home })
  t.is(r.exitCode, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  t.like(doc, { template: { name: 'lamp', version: '1.0.0' }, application: { name: 'shop', template: { name: 'lamp', version: '1.0.0' } } })
  t.regex(r.stderr, new RegExp(`^${folder}/descriptor/application.properties: WARNING RM_MISSING_APPLICATION_DESC: no description$`, 'm'))
  t.deepEqual(dm.requests.filter(q => q.method === 'POST').map(q => q.path), ['/api/templates', '/api/applications'])
  t.deepEqual(dm.requests[1].body, { name: 'shop', template: { name: 'lamp', version: '1.0.0' } })
})

test('a refused template prints each SEVERE error as file:line and exits 1', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const folder = await tempDir(t)
  await mkdir(join(folder, 'descriptor'))
  await writeFile(join(folder, 'descriptor', 'application.properties'), 'name = lamp\n')
  const r = await runCliInProcess(['app', 'load', folder], { home, env: { MESHCONF_DM: dm.url, MESHCONF_TOKEN: dm.token } })
  t.is(r.exitCode, 1)
  t.true(r.stderr.includes(`${folder}/descriptor/application.properties:1: SEVERE RM_MISSING_APPLICATION_VERSION: no version`), r.stderr)
  t.regex(r.stderr, /has 1 error: fix it and load it again/)
  t.false(dm.requests.some(q => q.path === '/api/applications'), 'no application is created from a refused template')
})

test('a wrong token exits 1 and says how to pass the token; the config file gives URL and token', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const wrong = await runCliInProcess(['status', 'lamp', '--dm', dm.url, '--token', 'nope'], { home })
  t.is(wrong.exitCode, 1)
  t.regex(wrong.stderr, /refused the token \(401\): pass it with --token/)
  t.regex(wrong.stderr, /MESHCONF_TOKEN/)

  await mkdir(join(home, '.meshconf'))
  await writeFile(join(home, '.meshconf', 'config.json'), JSON.stringify({ dm: dm.url, token: dm.token }))
  const r = await runCliInProcess(['status', 'lamp'], { home })
  t.is(r.exitCode, 0, r.stderr)
  t.regex(r.stdout, /^\/Apache VM \(VM\) +NOT_DEPLOYED$/m)
  t.regex(r.stdout, /^└─ Apache \(Apache\) +NOT_DEPLOYED$/m)
})

test('start --wait lists each instance as it reaches DEPLOYED_STARTED; status --json is one document', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const env = { MESHCONF_DM: dm.url, MESHCONF_TOKEN: dm.token }
  const r = await runCliInProcess(['start', 'lamp', '--all', '--wait', '60'], { home, env })
  t.is(r.exitCode, 0, r.stderr)
  for (const path of ['/Apache VM', '/Apache VM/Apache', '/Tomcat VM 1', '/Tomcat VM 1/Tomcat']) {
    t.regex(r.stdout, new RegExp(`^  ${path}  DEPLOYED_STARTED  \\d+\\.\\d s$`, 'm'))
  }
  t.deepEqual(dm.requests.find(q => q.path === '/api/applications/lamp/actions')?.body, { action: 'deploy-and-start-all' })

  const status = await runCliInProcess(['status', 'lamp', '--json'], { home, env })
  t.is(status.exitCode, 0)
  const doc = JSON.parse(status.stdout)
  t.is(doc.name, 'lamp')
  t.deepEqual(doc.instances.map((n: { status: string }) => n.status), ['DEPLOYED_STARTED', 'DEPLOYED_STARTED'])
})

test('an instance going to PROBLEM ends the wait with exit 1 and its reason', async t => {
  const dm = await double(t)
  dm.failing.add('Tomcat')
  const home = await tempDir(t)
  const r = await runCliInProcess(['start', 'lamp', '/Tomcat VM 1', '--all', '--wait', '60', '--dm', dm.url, '--token', dm.token], { home })
  t.is(r.exitCode, 1)
  t.regex(r.stderr, /\/Tomcat VM 1\/Tomcat went to PROBLEM: Tomcat start.sh exited with 1/)
  t.regex(r.stdout, /^ {2}\/Tomcat VM 1 {2}DEPLOYED_STARTED/m)
})

test('status --watch --until follows events while another command starts the application', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const env = { MESHCONF_DM: dm.url, MESHCONF_TOKEN: dm.token }
  const watching = runCli(['status', 'lamp', '--watch', '--until', 'DEPLOYED_STARTED', '--timeout', '60', '--json'], { home, env })
  // the watcher subscribes before reading the tree; start once it has read it
  while (!dm.requests.some(q => q.method === 'GET' && q.path === '/api/applications/lamp')) await new Promise(resolve => setTimeout(resolve, 50))
  const start = await runCliInProcess(['start', 'lamp', '--no-wait'], { home, env })
  t.is(start.exitCode, 0, start.stderr)
  t.regex(start.stdout, /meshconf status "lamp" --watch/)
  const r = await watching
  t.is(r.exitCode, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  t.true(doc.instances.every((n: { status: string }) => n.status === 'DEPLOYED_STARTED'))

  const timeout = await runCliInProcess(['status', 'lamp', '--watch', '--until', 'NOT_DEPLOYED', '--timeout', '0.5'], { home, env })
  t.is(timeout.exitCode, 1)
  t.regex(timeout.stderr, /timeout after 0.5 s: 4 instance\(s\) not NOT_DEPLOYED/)
})

test('Ctrl-C ends status --watch with exit 0; with --json it prints the last state seen as one document', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const watching = spawnCli(['status', 'lamp', '--watch', '--json'], { home, env: { MESHCONF_DM: dm.url, MESHCONF_TOKEN: dm.token } })
  while (!dm.requests.some(q => q.method === 'GET' && q.path === '/api/applications/lamp')) await new Promise(resolve => setTimeout(resolve, 50))
  watching.kill('SIGINT')
  const r = await watching
  t.is(r.exitCode, 0, String(r.stderr))
  t.deepEqual(JSON.parse(String(r.stdout)).instances.map((n: { path: string }) => n.path), ['/Apache VM', '/Tomcat VM 1'])
})

test('scale replicates a machine carrying the component and starts it, then removes the highest-numbered', async t => {
  const dm = await double(t)
  const home = await tempDir(t)
  const env = { MESHCONF_DM: dm.url, MESHCONF_TOKEN: dm.token }
  const up = await runCliInProcess(['scale', 'lamp', 'Tomcat', '--to', '3', '--timeout', '60'], { home, env })
  t.is(up.exitCode, 0, up.stderr)
  t.regex(up.stdout, /replicating \/Tomcat VM 1 as Tomcat VM 2, Tomcat VM 3/)
  t.regex(up.stdout, /^ {2}\/Tomcat VM 3\/Tomcat {2}DEPLOYED_STARTED/m)
  const roots = (): string[] => (dm.trees.get('lamp') ?? []).map(n => `${n.path}=${n.status}`)
  t.deepEqual(roots(), ['/Apache VM=NOT_DEPLOYED', '/Tomcat VM 1=NOT_DEPLOYED', '/Tomcat VM 2=DEPLOYED_STARTED', '/Tomcat VM 3=DEPLOYED_STARTED'])

  const down = await runCliInProcess(['scale', 'lamp', 'Tomcat', '--to', '1', '--json'], { home, env })
  t.is(down.exitCode, 0, down.stderr)
  const doc = JSON.parse(down.stdout)
  t.like(doc, { from: 3, to: 1, added: [], removed: ['/Tomcat VM 3', '/Tomcat VM 2'], outcome: { ok: true } })
  t.deepEqual(roots(), ['/Apache VM=NOT_DEPLOYED', '/Tomcat VM 1=NOT_DEPLOYED'])

  const none = await runCliInProcess(['scale', 'lamp', 'PHP', '--to', '2'], { home, env })
  t.is(none.exitCode, 1)
  t.regex(none.stderr, /no root instance of lamp carries a PHP instance/)
})
