// `meshconf simulate lamp` run as a user runs it: `node bin/meshconf.js simulate lamp …` (the build, as after
// `npm install`), a DM of its own and agent processes. Every step of the seed's story must pass: requests through
// Apache served in turn by both Tomcats reading MySQL, one Tomcat removed without restarting Apache, the Tomcat
// machine killed -9 and its agent restarted with the DM down (Apache UNRESOLVED, then serving again), the DM
// restarted with true states. On the way, Tomcat VM 2's start fails on purpose (its port is taken): the step shows the
// recipe's stderr, the next one frees the port and starts it again. Once on the local target with --json, once on network namespaces with the table,
// once through a private RabbitMQ node that the simulation stops and starts (never the shared one on 5672).
// The runs are serial: each one is several agent processes and services on a shared host.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { execa } from 'execa'
import { createPrivateBroker } from '../fixtures/broker.js'
import { BIN, leftOf, parseReport, ROOT, simulate as simulateScenario, table, type Report } from './simulate-helpers.js'

const STEPS = [
  'start the DM',
  'load the LAMP template and create the application',
  'deploy and start all',
  'requests through Apache, answered by Tomcat with data from MySQL',
  'add Tomcat VM 2 with its port taken: its start fails, the DM shows the recipe\'s stderr',
  'free the port and start Tomcat VM 2 again: both Tomcats answer in turn',
  'remove Tomcat VM 2: only Tomcat VM 1 answers, Apache never restarted',
  'stop the DM',
  'kill -9 Tomcat VM 1\'s agent and its services',
  'without the DM: Apache goes UNRESOLVED',
  'start Tomcat VM 1\'s agent again: Apache started, requests flow, no DM',
  'start the DM again: it shows the true states',
  'clean up'
]

async function simulate (args: string[], options: { env?: Record<string, string> } = {}) {
  return await simulateScenario('lamp', args, options)
}

/** The step failing on purpose shows the start recipe's exit code and stderr: Tomcat could not listen. */
function checkFailureOnPurpose (t: ExecutionContext, report: Report): void {
  const failed = report.steps.find(s => s.name.startsWith('add Tomcat VM 2 with its port taken'))
  t.regex(failed?.detail ?? '', /^\/Tomcat VM 2\/Tomcat start failed \(script, exit code 1, after \d+ ms\); stderr: tomcat: cannot listen on [\d.]+:\d+: listen EADDRINUSE/)
}

test.serial('simulate lamp --json: one JSON document, every step ok, exit 0, no process left behind', async t => {
  t.timeout(11 * 60_000)
  const run = await simulate(['--json'])
  const report = parseReport(t, run.stdout)
  t.true(report.ok, table(report))
  t.deepEqual(report.steps.map(s => s.name), STEPS)
  t.true(report.steps.every(s => s.ok), table(report))
  t.is(run.exitCode, 0, run.stderr)
  checkFailureOnPurpose(t, report)
  // agents and services run from the simulation's data folder (meshconf-simulate-*): none may be left
  t.deepEqual(leftOf(t, report.steps[0].detail ?? ''), [])
})

test.serial('simulate lamp --target netns prints the table of the steps and exits 0', async t => {
  t.timeout(11 * 60_000)
  const run = await simulate(['--target', 'netns'])
  t.is(run.exitCode, 0, `${run.stdout}\n${run.stderr}`)
  const lines = run.stdout.trimEnd().split('\n')
  t.is(lines.length, STEPS.length + 1, run.stdout)
  STEPS.forEach((name, i) => { t.regex(lines[i], new RegExp(`^ok {4}${name.replace(/[()]/g, '\\$&')} +\\d+ ms`), lines[i]) })
  t.is(lines.at(-1), 'all steps passed')
  t.regex(lines[0], /target netns/)
  t.regex(lines[4], /start failed \(script, exit code 1, after \d+ ms\); stderr: tomcat: cannot listen on [\d.]+:\d+: listen EADDRINUSE/)
  t.deepEqual(leftOf(t, lines[0]), [])
})

test.serial('simulate lamp --amqp through a private RabbitMQ node, stopped and started by the simulation', async t => {
  t.timeout(15 * 60_000)
  const directory = mkdtempSync(join(tmpdir(), 'simulate-broker-'))
  const broker = await createPrivateBroker({ directory, name: 'meshconf-simulate' })
  t.teardown(async () => { await broker.stop(); rmSync(directory, { recursive: true, force: true }) })
  await broker.start()
  const run = await simulate(['--amqp', broker.url, '--rabbitmq-node', broker.nodeName, '--json'])
  const report = parseReport(t, run.stdout)
  t.true(report.ok, table(report))
  t.is(run.exitCode, 0, run.stderr)
  t.deepEqual(report.steps.map(s => s.name), STEPS.map(s => s === 'stop the DM' ? 'stop the DM and RabbitMQ' : s))
  t.regex(report.steps[0].detail ?? '', /agents via RabbitMQ/)
  t.is(report.steps.find(s => s.name === 'stop the DM and RabbitMQ')?.detail, 'RabbitMQ stopped')
  checkFailureOnPurpose(t, report)
  t.deepEqual(leftOf(t, report.steps[0].detail ?? ''), [])
})

test('when it cannot even start, --json still prints one document: a failed step saying what to fix, exit 1', async t => {
  const run = await simulate(['--json'], { env: { TMPDIR: '/nonexistent/meshconf-tmp' } })
  t.is(run.exitCode, 1, run.stderr)
  const report = parseReport(t, run.stdout)
  t.false(report.ok)
  t.is(report.steps.length, 1)
  t.like(report.steps[0], { name: 'prepare the simulation', ok: false })
  t.regex(report.steps[0].detail ?? '', /cannot make the simulation's data folder in \/nonexistent\/meshconf-tmp \(ENOENT.*\): set TMPDIR to a writable folder/)
})

test('malformed values are usage errors (exit 2) with a clear message', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['simulate', 'wordpress'], /unknown scenario "wordpress": use lamp, lamp-elastic or shared-db/],
    [['simulate', 'lamp', '--target', 'cloud'], /use local, netns or docker/],
    [['simulate', 'lamp', '--amqp', 'http://127.0.0.1:5672'], /is not an amqp:\/\/ or amqps:\/\/ URL/],
    [['simulate', 'lamp', '--amqp', 'guest@rabbit'], /is not a URL: expected amqp:\/\/user:password@host:port/],
    [['simulate', 'lamp', '--wait=soon'], /"soon" is not a duration > 0 and <= a week: write e\.g\. 90s, 2m/],
    [['simulate', 'lamp', '--no-wait'], /simulate waits at every step: --wait=DURATION sets how long one step may wait/],
    [['simulate', 'lamp', '--step-timeout', '240'], /unknown option '--step-timeout'/],
    [['simulate', 'lamp', '--rabbitmq-node', 'rabbit@elsewhere'], /--rabbitmq-node goes with --amqp/]
  ]
  for (const [args, message] of cases) {
    const run = await execa(process.execPath, [BIN, ...args], { cwd: ROOT, reject: false, stdin: 'ignore' })
    t.is(run.exitCode, 2, args.join(' '))
    t.regex(run.stderr, message, args.join(' '))
    t.is(run.stdout, '', args.join(' '))
  }
})
