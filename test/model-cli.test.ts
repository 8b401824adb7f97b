// `meshconf validate` through the real CLI entry (manager/cli.ts main), in a child process.
import test from 'ava'
import { execa } from 'execa'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { puppetSyntaxErrors } from '../manager/puppet-syntax.js'
import { ROBOCONF_FIXTURES } from './helpers/corpus.js'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

// A script file like bin/meshconf.js, but running the TypeScript sources
let runner = ''
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-cli-runner-'))
  runner = join(dir, 'meshconf.mts')
  await writeFile(runner, `import { main } from ${JSON.stringify(join(repoRoot, 'manager', 'cli.ts'))}\nprocess.exitCode = await main(process.argv)\n`)
})
test.after.always(async () => { if (runner !== '') await rm(dirname(runner), { recursive: true, force: true }) })

async function meshconf (...args: string[]): Promise<{ stdout: string, stderr: string, exitCode: number }> {
  const result = await execa('node', ['--import=tsx', '--import=./agent/polyfill.ts', runner, ...args],
    { cwd: repoRoot, reject: false, timeout: 60_000 })
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 }
}

test('a loadable template exits 0 and lists warnings compiler style', async t => {
  const { stdout, exitCode } = await meshconf('validate', join(ROBOCONF_FIXTURES, 'valid/applications/lamp'))
  t.is(exitCode, 0)
  t.regex(stdout, /^graph\/lamp\.graph:16: WARNING PROJ_NO_RESOURCE_DIRECTORY: component 'MySQL' /m)
  t.regex(stdout, /loadable \(0 errors, 4 warnings\)/)
})

test('a SEVERE error exits 1 with file:line: SEVERE CODE: message', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await mkdir(join(dir, 'descriptor')); await mkdir(join(dir, 'graph'))
  await writeFile(join(dir, 'descriptor/application.properties'), 'name = A\nversion = 1.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\n')
  await writeFile(join(dir, 'graph/main.graph'), 'VM {\n\tinstaller: target\n}\n')
  const { stdout, exitCode } = await meshconf('validate', dir)
  t.is(exitCode, 1)
  t.regex(stdout, /^graph\/main\.graph:2: SEVERE P_PROPERTY_ENDS_WITH_SEMI_COLON: .*semicolon/m)
  const json = await meshconf('validate', dir, '--json')
  t.is(json.exitCode, 1)
  const report = JSON.parse(json.stdout)
  t.false(report.loadable)
  t.like(report.errors[0], { code: 'P_PROPERTY_ENDS_WITH_SEMI_COLON', level: 'SEVERE', file: 'graph/main.graph', line: 2 })
})

test('--json prints one document with the resolved components and instances', async t => {
  const { stdout, exitCode } = await meshconf('validate', join(ROBOCONF_FIXTURES, 'valid/applications/component-extensions'), '--json')
  t.is(exitCode, 0)
  const report = JSON.parse(stdout)
  t.true(report.loadable)
  t.deepEqual(Object.keys(report).sort(), ['components', 'errors', 'instances', 'loadable', 'ok'])
  t.true(report.ok)
  const petalsSL = report.components.find((c: { name: string }) => c.name === 'PetalsSL')
  t.deepEqual(petalsSL, {
    name: 'PetalsSL', installer: 'script', imports: [],
    exports: { 'PetalsJBIComponent.componentId': 'my-component-id', 'PetalsSL.componentId': 'my-component-id', 'PetalsSL.componentType': 'SL' }
  })
  const superInstance = report.instances.find((i: { path: string }) => i.path === '/container-bootstrap-vm/superInstance')
  t.deepEqual(superInstance.exports, { 'PetalsJBIComponent.componentId': 'my-sl', 'PetalsSL.componentId': 'my-sl', componentId: 'my-sl', 'PetalsSL.componentType': 'SL' })
  t.true(report.errors.every((e: { level: string }) => e.level === 'WARNING'))
})

test('one .graph, .instances, .commands or .drl file is checked as what it is; any other file is a clear error', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const app = join(dir, 'app')
  for (const folder of ['descriptor', 'graph/App/scripts', 'instances', 'commands', 'rules.autonomic']) await mkdir(join(app, folder), { recursive: true })
  await writeFile(join(app, 'descriptor/application.properties'), 'name = A\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n')
  await writeFile(join(app, 'graph/main.graph'), 'VM {\n  installer: target;\n  children: App;\n}\nApp {\n  installer: script;\n}\n')
  await writeFile(join(app, 'graph/App/scripts/deploy.sh'), 'true\n')
  await writeFile(join(app, 'instances/main.instances'), 'instance of VM {\n  name: vm1;\n  instance of App {\n    name: app;\n  }\n}\n')
  await writeFile(join(app, 'commands/fix.commands'), 'deploy and start all /vm1\nstop all /vm9\n')
  await writeFile(join(app, 'rules.autonomic/up.drl'), 'rule "up"\nwhen\n  load-high\nthen\n  fix\nend\n')

  const graph = await meshconf('validate', join(app, 'graph/main.graph'))
  t.is(graph.exitCode, 0, graph.stdout)
  t.regex(graph.stdout, /main\.graph: a valid graph file \(0 errors, 1 warning\)$/m)
  const instances = await meshconf('validate', join(app, 'instances/main.instances'), '-o', 'json')
  t.like(JSON.parse(instances.stdout), { ok: true, loadable: true, input: { kind: 'instances' }, errors: [] })
  // a commands file inside its template is checked against its instances: line 2 names none
  const commands = await meshconf('validate', join(app, 'commands/fix.commands'))
  t.is(commands.exitCode, 1, commands.stdout)
  t.regex(commands.stdout, /fix\.commands:2: SEVERE CMD_NO_MATCHING_INSTANCE: /)
  t.notRegex(commands.stdout, /fix\.commands:1:/)
  const rule = await meshconf('validate', join(app, 'rules.autonomic/up.drl'))
  t.is(rule.exitCode, 0, rule.stdout)
  t.regex(rule.stdout, /up\.drl: a valid rules file/)

  // alone: a broken graph, with its line
  await writeFile(join(dir, 'alone.graph'), 'VM {\n  installer: target\n}\n')
  const alone = await meshconf('validate', join(dir, 'alone.graph'))
  t.is(alone.exitCode, 1)
  t.regex(alone.stdout, /alone\.graph:2: SEVERE P_PROPERTY_ENDS_WITH_SEMI_COLON: /)
  // neither a template nor one of the kinds
  await writeFile(join(dir, 'notes.md'), '# notes\n')
  const other = await meshconf('validate', join(dir, 'notes.md'))
  t.is(other.exitCode, 1)
  t.regex(other.stderr, /cannot validate .*notes\.md: a \.md file is none of the kinds validate checks \(give a template folder or \.zip, or one \.graph, \.instances, \.commands or \.drl file\)/)
  const json = await meshconf('validate', join(dir, 'notes.md'), '-o', 'json')
  t.like(JSON.parse(json.stdout), { ok: false, code: 'CLI_VALIDATE_INPUT' })
})

test('puppet recipes: `puppet parser validate` finds syntax errors (REC_PUPPET_SYNTAX_ERROR with its line); without Puppet the check is skipped', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const manifests = join(dir, 'graph/Web/roboconf_web/manifests')
  for (const folder of [join(dir, 'descriptor'), manifests]) await mkdir(folder, { recursive: true })
  await writeFile(join(dir, 'descriptor/application.properties'), 'name = P\nversion = 1.0\ngraph-entry-point = main.graph\n')
  await writeFile(join(dir, 'graph/main.graph'), 'VM {\n  installer: target;\n  children: Web;\n}\nWeb {\n  installer: puppet;\n}\n')
  const good = 'class roboconf_web($runningState = undef, $importDiff = undef) {\n  notify { "web": }\n}\n'
  await writeFile(join(manifests, 'init.pp'), good)
  await writeFile(join(manifests, 'start.pp'), 'class roboconf_web::start($runningState = undef) {\n  notify { "start": \n}\n')
  const { stdout, exitCode } = await meshconf('validate', dir)
  t.is(exitCode, 1, stdout)
  t.regex(stdout, /^graph\/Web\/roboconf_web\/manifests\/start\.pp(:\d+)?: SEVERE REC_PUPPET_SYNTAX_ERROR: 'puppet parser validate' finds errors: .*Syntax error/m)
  t.notRegex(stdout, /init\.pp.*REC_PUPPET_SYNTAX_ERROR/)
  t.regex(stdout, /NOT loadable \(1 error, 2 warnings\)/)

  // the same manifests, one by one, straight to the checker; and a host without Puppet skips the check
  const start = { path: 'graph/Web/roboconf_web/manifests/start.pp', text: 'class x {\n  notify { "start": \n}\n' }
  t.deepEqual(await puppetSyntaxErrors([{ path: 'init.pp', text: good }]), [])
  t.deepEqual((await puppetSyntaxErrors([start, { path: 'init.pp', text: good }])).map(e => [e.code, e.file]),
    [['REC_PUPPET_SYNTAX_ERROR', start.path]])
  t.deepEqual(await puppetSyntaxErrors([start], join(dir, 'no-puppet-here')), [])
})
