// The CLI's pure parts: where it finds the DM, the ZIP writer (read back with yauzl), the lifecycle plans,
// scale's naming and the tree drawing.
import test from 'ava'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigFileError, DEFAULT_DM_URL, InvalidDmUrlError, resolveDmConfig } from '../manager/config.js'
import { writeZip, zipFolder } from '../manager/zip.js'
import { planLifecycle, UnknownInstanceError } from '../manager/commands/lifecycle.js'
import { formatModelError, renderInstanceTree } from '../manager/commands/output.js'
import { nextFreeNames, splitNumberedName } from '../manager/autonomy/scale.js'
import type { InstanceNode } from '../manager/client.js'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import { readZip } from './cli-helpers.js'

async function tempHome (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'meshconf-cli-units-'))
  t.teardown(async () => { await rm(home, { recursive: true, force: true }) })
  return home
}

test('config: flags win over environment, environment over the config file, the file over the default', async t => {
  const home = await tempHome(t)
  await mkdir(join(home, '.meshconf'))
  await writeFile(join(home, '.meshconf', 'config.json'), JSON.stringify({ dm: 'http://10.0.0.9:7400/', token: 'from-file' }))
  const env = { MESHCONF_DM: 'http://127.0.0.2:7401', MESHCONF_TOKEN: 'from-env' }

  const flags = resolveDmConfig({ dm: 'http://127.0.0.3:9000/', token: 'from-flag', env, home })
  t.like(flags, { url: 'http://127.0.0.3:9000', urlSource: 'flag', token: 'from-flag', tokenSource: 'flag' })
  t.like(resolveDmConfig({ env, home }), { url: 'http://127.0.0.2:7401', urlSource: 'environment', token: 'from-env', tokenSource: 'environment' })
  t.like(resolveDmConfig({ env: {}, home }), { url: 'http://10.0.0.9:7400', urlSource: 'config file', token: 'from-file', tokenSource: 'config file' })
  const empty = await tempHome(t)
  const defaults = resolveDmConfig({ env: {}, home: empty })
  t.is(defaults.url, DEFAULT_DM_URL)
  t.is(defaults.token, undefined)
})

test('config: a broken config file or URL is a clear error naming what to fix', async t => {
  const home = await tempHome(t)
  await mkdir(join(home, '.meshconf'))
  const file = join(home, '.meshconf', 'config.json')
  await writeFile(file, '{ "dm": ')
  const broken = t.throws(() => resolveDmConfig({ env: {}, home }), { instanceOf: ConfigFileError })
  t.true(broken.message.includes(file))
  // flags make the file unnecessary: it is not read at all
  t.is(resolveDmConfig({ dm: 'http://127.0.0.1:1', token: 'x', env: {}, home }).url, 'http://127.0.0.1:1')
  await writeFile(file, JSON.stringify({ token: 42 }))
  t.throws(() => resolveDmConfig({ env: {}, home }), { instanceOf: ConfigFileError, message: /"token" is not a string/ })
  const bad = t.throws(() => resolveDmConfig({ dm: 'localhost:7400', env: {}, home }), { instanceOf: InvalidDmUrlError })
  t.regex(bad.message, /--dm/)
})

test('zip: a folder zipped in memory reads back identically (names, contents, CRC-32)', async t => {
  const folder = await tempHome(t)
  await mkdir(join(folder, 'descriptor'))
  await mkdir(join(folder, 'graph', 'Tomcat VM', 'scripts'), { recursive: true })
  await mkdir(join(folder, '.git'))
  await writeFile(join(folder, 'descriptor', 'application.properties'), 'name = lamp\nversion = 1.0.0\n')
  const big = 'deploy-line\n'.repeat(5000)
  await writeFile(join(folder, 'graph', 'Tomcat VM', 'scripts', 'déploy.sh'), big)
  await writeFile(join(folder, 'graph', 'empty.txt'), '')
  await writeFile(join(folder, '.git', 'HEAD'), 'ref: refs/heads/main\n')

  const zip = await zipFolder(folder)
  t.true(zip.length < big.length / 10, 'entries are deflated')
  const files = await readZip(zip)
  t.deepEqual([...files.keys()], ['descriptor/application.properties', 'graph/Tomcat VM/scripts/déploy.sh', 'graph/empty.txt'])
  t.is(files.get('descriptor/application.properties'), 'name = lamp\nversion = 1.0.0\n')
  t.is(files.get('graph/Tomcat VM/scripts/déploy.sh'), big)
  t.is(files.get('graph/empty.txt'), '')
  t.is((await readZip(await writeZip([]))).size, 0)
})

function node (path: string, component: string, status: InstanceStatus, children: InstanceNode[] = []): InstanceNode {
  return { name: path.slice(path.lastIndexOf('/') + 1), path, component, status, data: {}, overriddenExports: {}, children }
}

function lamp (): InstanceNode[] {
  return [
    node('/Apache VM', 'VM', 'DEPLOYED_STARTED', [node('/Apache VM/Apache', 'Apache', 'DEPLOYED_STARTED')]),
    node('/Tomcat VM 1', 'VM', 'NOT_DEPLOYED', [
      node('/Tomcat VM 1/Tomcat', 'Tomcat', 'NOT_DEPLOYED', [node('/Tomcat VM 1/Tomcat/war', 'WAR', 'NOT_DEPLOYED')])
    ])
  ]
}

const accepts = (plan: ReturnType<typeof planLifecycle>): Record<string, string[]> =>
  Object.fromEntries(plan.expectations.map(e => [e.path, [...e.accept].sort()]))

test('plans: start and undeploy of everything use the actions endpoint and follow every instance', t => {
  const start = planLifecycle('lamp', 'start', lamp(), undefined, false)
  t.deepEqual(start.requests, [{ kind: 'action', action: 'deploy-and-start-all' }])
  t.is(start.expectations.length, 5)
  t.true(start.expectations.every(e => e.accept.has('DEPLOYED_STARTED') && e.accept.size === 1))

  const undeploy = planLifecycle('lamp', 'undeploy', lamp(), '/Tomcat VM 1', true)
  t.deepEqual(undeploy.requests, [{ kind: 'action', action: 'undeploy-all', path: '/Tomcat VM 1' }])
  t.deepEqual(Object.keys(accepts(undeploy)), ['/Tomcat VM 1', '/Tomcat VM 1/Tomcat', '/Tomcat VM 1/Tomcat/war'])
})

test('plans: deploying a root creates its machine; deploy asks only undeployed instances, parents first', t => {
  const root = planLifecycle('lamp', 'deploy', lamp(), '/Tomcat VM 1', false)
  t.deepEqual(root.requests, [{ kind: 'state', path: '/Tomcat VM 1', state: 'DEPLOYED_STARTED' }])
  const all = planLifecycle('lamp', 'deploy', lamp(), undefined, false)
  t.deepEqual(all.requests.map(r => r.kind === 'state' ? `${r.path}=${r.state}` : r.action), [
    '/Tomcat VM 1=DEPLOYED_STARTED', '/Tomcat VM 1/Tomcat=DEPLOYED_STOPPED', '/Tomcat VM 1/Tomcat/war=DEPLOYED_STOPPED'
  ])
  t.deepEqual(accepts(all)['/Apache VM'], ['DEPLOYED_STARTED'])
  t.true(accepts(all)['/Tomcat VM 1/Tomcat'].includes('DEPLOYED_STOPPED'))
})

test('plans: stop leaves machines running; one instance is stopped through its state', t => {
  const one = planLifecycle('lamp', 'stop', lamp(), '/Apache VM/Apache', false)
  t.deepEqual(one.requests, [{ kind: 'state', path: '/Apache VM/Apache', state: 'DEPLOYED_STOPPED' }])
  const machine = planLifecycle('lamp', 'stop', lamp(), '/Apache VM', false)
  t.deepEqual(machine.requests, [{ kind: 'action', action: 'stop-all', path: '/Apache VM' }])
  t.deepEqual(Object.keys(accepts(machine)), ['/Apache VM/Apache'])
  t.throws(() => planLifecycle('lamp', 'start', lamp(), '/Nope', false), { instanceOf: UnknownInstanceError, message: /meshconf status/ })
})

test('scale naming: next free numbered names', t => {
  t.deepEqual(splitNumberedName('Tomcat VM 12'), { base: 'Tomcat VM', number: 12 })
  t.deepEqual(splitNumberedName('Tomcat VM'), { base: 'Tomcat VM', number: 1 })
  const roots = [node('/Tomcat VM 1', 'VM', 'NOT_DEPLOYED'), node('/Tomcat VM 3', 'VM', 'NOT_DEPLOYED'), node('/Other 9', 'VM', 'NOT_DEPLOYED')]
  t.deepEqual(nextFreeNames(roots, 'Tomcat VM', 2), ['Tomcat VM 4', 'Tomcat VM 5'])
  t.deepEqual(nextFreeNames([node('/Tomcat VM', 'VM', 'NOT_DEPLOYED')], 'Tomcat VM', 1), ['Tomcat VM 2'])
})

test('tree drawing: roots by path, children under glyphs, states in one column, colour only on request', t => {
  const tree = lamp()
  tree[1].children[0].status = 'PROBLEM'
  tree[1].children[0].data['last.problem'] = 'deploy.sh exited with 3'
  const lines = renderInstanceTree(tree, { color: false })
  t.deepEqual(lines.map(l => l.replace(/(\S) {2,}/g, '$1 ')), [
    '/Apache VM (VM) DEPLOYED_STARTED',
    '└─ Apache (Apache) DEPLOYED_STARTED',
    '/Tomcat VM 1 (VM) NOT_DEPLOYED',
    '└─ Tomcat (Tomcat) PROBLEM',
    '   │ ! deploy.sh exited with 3',
    '   └─ war (WAR) NOT_DEPLOYED'
  ])
  t.is(new Set(lines.filter(l => !l.includes('!')).map(l => l.search(/(DEPLOYED|NOT_|PROBLEM)/))).size, 1, 'states are aligned')
  t.false(lines.join('').includes('\u001b['))
  t.true(renderInstanceTree(tree, { color: true })[0].includes('\u001b[32mDEPLOYED_STARTED\u001b[0m'))
})

test('model errors print like a compiler', t => {
  t.is(formatModelError({ code: 'P_UNKNOWN_COMPONENT', level: 'SEVERE', file: 'graph/main.graph', line: 12, message: 'no component Tomcat2' }, 'apps/lamp/'),
    'apps/lamp/graph/main.graph:12: SEVERE P_UNKNOWN_COMPONENT: no component Tomcat2')
  t.is(formatModelError({ code: 'RM_NO_DESCRIPTION', level: 'WARNING', message: 'no description' }, 'lamp.zip'),
    'lamp.zip: WARNING RM_NO_DESCRIPTION: no description')
})
