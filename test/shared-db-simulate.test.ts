// `meshconf simulate shared-db` run as a user runs it (issue 21): `node bin/meshconf.js simulate shared-db --json` (the
// build), a DM of its own and agent processes. Every step must pass: the bound web application serves the database's
// value while the unbound one stays UNRESOLVED; bound, it starts; the database's machine replaced, both follow it with
// the DM stopped; the DM back shows the true states. Once with the stand-in, once with the host's MariaDB (--real).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { Ajv } from 'ajv'
import { execa } from 'execa'
import { LAMP_DIR, processesMentioning } from './lamp-helpers.js'

const ROOT = join(LAMP_DIR, '..', '..')
const BIN = join(ROOT, 'bin', 'meshconf.js')
const validate = new Ajv({ allErrors: true, allowUnionTypes: true })
  .compile(JSON.parse(readFileSync(join(ROOT, 'docs', 'cli-output.schema.json'), 'utf8')) as object)

interface Report { ok: boolean, startedAt: string, durationMs: number, steps: Array<{ name: string, ok: boolean, durationMs: number, detail?: string }> }

async function run (t: ExecutionContext, args: string[]): Promise<Report> {
  const result = await execa(process.execPath, [BIN, 'simulate', 'shared-db', '--json', '--wait=3m', ...args], {
    cwd: ROOT, reject: false, timeout: 10 * 60_000, stdin: 'ignore'
  })
  const report = JSON.parse(result.stdout) as Report
  t.true(validate(report), JSON.stringify(validate.errors))
  const table = report.steps.map(s => `${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.durationMs} ms) ${s.detail ?? ''}`).join('\n')
  t.true(report.ok, table)
  t.is(result.exitCode, 0, table)
  t.deepEqual(report.steps.map(s => s.name.replace(/-[0-9a-f]{6}/g, '')), [
    'start the DM',
    'load the templates; create shared-db (exports Db), shop-a and shop-b (import external Db); bind shop-a to shared-db',
    'deploy and start all three: the bound web application serves the database\'s value, the unbound one stays UNRESOLVED',
    'bind shop-b: its Tomcat starts and serves the same value',
    'undeploy the database\'s machine: both web applications lose their mandatory import (UNRESOLVED)',
    'deploy the database on a new machine, then stop the DM before the web applications follow',
    'without the DM, both web applications follow the new database: started, serving its value',
    'start the DM again: it shows the true states',
    'clean up'
  ])
  // nothing of the run outlives it
  const folder = /data in (\S*\/meshconf-simulate-[^\s,/]+)/.exec(report.steps[0].detail ?? '')?.[1] ?? 'no data folder'
  t.deepEqual(processesMentioning(folder + '/'), [])
  return report
}

test.serial('simulate shared-db: the stand-in database shared by two web applications, one bound; the DM stopped while they follow', async t => {
  t.timeout(11 * 60_000)
  const report = await run(t, [])
  t.regex(report.steps[2].detail ?? '', /^shop-a-\w+: "Hello from \/DB VM\/MySQL"; shop-b-\w+'s Tomcat UNRESOLVED, waits for Db/)
  t.regex(report.steps[6].detail ?? '', /\(UNRESOLVED ones when the DM stopped: 2 of 2\)$/)
})

test.serial('simulate shared-db --real: the host\'s MariaDB', async t => {
  t.timeout(11 * 60_000)
  const report = await run(t, ['--real'])
  t.regex(report.steps[2].detail ?? '', /^shop-a-\w+: "Hello from MariaDB [^"]+ via \/DB VM\/MariaDB"/)
})
