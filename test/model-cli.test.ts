// `meshconf validate` through the real CLI entry (manager/cli.ts main), in a child process.
import test from 'ava'
import { execa } from 'execa'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
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

async function meshconf (...args: string[]): Promise<{ stdout: string, exitCode: number }> {
  const result = await execa('node', ['--import=tsx', '--import=./agent/polyfill.ts', runner, ...args],
    { cwd: repoRoot, reject: false, timeout: 60_000 })
  return { stdout: result.stdout, exitCode: result.exitCode ?? -1 }
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
