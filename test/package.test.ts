// The package as a user gets it: `npm pack` carries the build (dist/), the LAMP template and the units, and no
// tests; `npm install -g` of the tarball gives a `meshconf` that tells its version, starts and runs `simulate lamp`.
// The install reads its dependencies from a registry mirror on loopback (test/helpers/npm-mirror.ts): the lock's
// versions, npm's own cached tarballs, no network.
import test from 'ava'
import { execa } from 'execa'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNpmMirror } from './helpers/npm-mirror.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** The prefix holding node's headers (include/node), so that better-sqlite3 compiles without downloading them. */
function nodeHeadersPrefix (): string {
  const prefix = resolve(dirname(process.execPath), '..')
  if (!existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
    throw new Error(`node's headers are not in ${prefix}/include/node: install the headers matching ${process.version}, needed to build better-sqlite3`)
  }
  return prefix
}

test('npm pack carries dist/, the LAMP template and the units, no tests; the global install runs meshconf', async t => {
  t.timeout(15 * 60_000) // better-sqlite3 is compiled during the install, then a whole LAMP simulation
  // npm pack would rebuild dist/ (prepare) under the tests that run it alongside: the build of npm ci is packed
  t.true(existsSync(join(ROOT, 'dist', 'manager', 'cli.js')), 'dist/ is built (npm ci or npm run build)')
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-package-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT })
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = info.files.map(f => f.path)
  for (const expected of ['bin/meshconf.js', 'dist/manager/cli.js', 'dist/agent/main.bundle.js', 'dist/agent/polyfill.js',
    'dist/web/index.html', 'simulations/lamp/descriptor/application.properties', 'simulations/lamp-elastic/rules.autonomic/scale-up.drl',
    'simulations/shared-db/database/descriptor/application.properties', 'deploy/meshconf-agent.service', 'package.json', 'README.md']) {
    t.true(files.includes(expected), `${expected} is packed`)
  }
  t.deepEqual(files.filter(f => /^(dist\/)?(simulations\/)?test\//.test(f) || f.endsWith('.ts') || f.endsWith('.map')), [], 'no tests, sources or source maps')
  t.deepEqual(files.filter(f => f.startsWith('dist/simulations/')), [], 'no benchmarks, load generators nor their tests')
  t.is(info.filename, `meshconf-${VERSION}.tgz`)

  const mirror = await startNpmMirror(ROOT)
  t.teardown(mirror.close)
  const prefix = join(dir, 'global')
  await execa('npm', ['install', '-g', '--prefix', prefix, '--registry', mirror.url, '--cache', join(dir, 'npm-cache'),
    '--no-audit', '--no-fund', '--no-update-notifier', join(dir, info.filename)], {
    cwd: dir,
    // better-sqlite3 builds from source rather than fetching a prebuilt binary from GitHub
    env: { npm_config_build_from_source: 'true', npm_config_nodedir: nodeHeadersPrefix() }
  })
  const meshconf = join(prefix, 'bin', 'meshconf')
  t.true(existsSync(join(prefix, 'lib', 'node_modules', 'meshconf', 'dist', 'agent', 'main.bundle.js')))
  const installed = join(prefix, 'lib', 'node_modules', 'meshconf', 'node_modules')
  t.true(existsSync(join(installed, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')), 'better-sqlite3 built')
  t.deepEqual(['ava', 'typescript', 'execa'].filter(dev => existsSync(join(installed, dev))), [], 'no devDependency installed')

  const version = await execa(meshconf, ['--version'], { cwd: dir, reject: false })
  t.is(version.exitCode, 0, version.stderr)
  t.regex(version.stdout, new RegExp(`\\b${VERSION.replaceAll('.', '\\.')}\\b`))
  const help = await execa(meshconf, ['--help'], { cwd: dir, reject: false })
  t.is(help.exitCode, 0, help.stderr)
  t.regex(help.stdout, /simulate/)

  // outside the repository: the template and the agent come from the global install
  const run = await execa(meshconf, ['simulate', 'lamp', '--json', '--wait=4m'], { cwd: dir, reject: false, stdin: 'ignore', timeout: 10 * 60_000 })
  const report = JSON.parse(run.stdout) as { ok: boolean, steps: Array<{ name: string, ok: boolean, detail?: string }> }
  t.deepEqual(report.steps.filter(s => !s.ok), [], run.stderr)
  t.true(report.ok)
  t.is(run.exitCode, 0)
})
