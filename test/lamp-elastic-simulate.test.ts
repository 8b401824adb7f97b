// `meshconf simulate lamp-elastic` run as a user runs it (the build): the LAMP application scales its Tomcats by
// itself. A load generator raises the load: the probe on each Tomcat reads its requests per second, the scale-up rule
// adds Tomcat VM 2, which serves, then Tomcat VM 3; more load meets the VM limit (5 machines), which holds; the load
// drops and, after the scale-down window, the rule removes Tomcats back to one. Apache is never restarted and no request
// fails (each is counted). Once on the embedded endpoint, once through RabbitMQ (the shared broker: this story does
// not stop it). The defaults are already the short ones (probe period 1 s, window 5 s); the runs are serial.
import test, { type ExecutionContext } from 'ava'
import { execa } from 'execa'
import { LoadTargetRefusedError, startLoad } from '../manager/commands/load-generator.js'
import { BIN, leftOf, parseReport, ROOT, simulate, table, type Report } from './simulate-helpers.js'

const STEPS = [
  'start the DM',
  'load the LAMP template and create the application',
  'deploy and start all',
  'requests through Apache, answered by Tomcat with data from MySQL',
  'light load (2 requests/s): the probes run every 1000 ms, the scale-down rule keeps the last Tomcat',
  'load up to 20 requests/s (over 8 per Tomcat): the rule adds Tomcat VM 2, which serves',
  'still over 8 per Tomcat with two: the rule adds Tomcat VM 3, which serves',
  'load up to 36 requests/s: the rule wants a fourth Tomcat, the limit of 5 machines holds',
  'load drops to 2 requests/s: after the 5000 ms window the rule removes a Tomcat, then another: back to one',
  'no request failed during any change, and Apache was never restarted',
  'clean up'
]

interface ElasticReport extends Report {
  elastic: { thresholdToServingMs?: number, machineDeployMs?: number, probePeriodMs: number, requests: number, failedRequests: number, tomcatsAtMost: number, maxVms: number }
}

function checkRun (t: ExecutionContext, run: { stdout: string, stderr: string, exitCode?: number }): ElasticReport {
  const report = parseReport<ElasticReport>(t, run.stdout, ['elastic'])
  t.true(report.ok, table(report))
  t.deepEqual(report.steps.map(s => s.name), STEPS)
  t.is(run.exitCode, 0, run.stderr)
  const { elastic } = report
  t.is(elastic.failedRequests, 0)
  t.true(elastic.requests > 100, JSON.stringify(elastic))
  t.is(elastic.tomcatsAtMost, 3)
  t.is(elastic.maxVms, 5)
  t.is(elastic.probePeriodMs, 1_000)
  // the load crossed the threshold, then the rule fired, a machine was made and Apache took its Tomcat in
  t.true(elastic.machineDeployMs !== undefined && elastic.machineDeployMs > 0, JSON.stringify(elastic))
  t.true(elastic.thresholdToServingMs !== undefined && elastic.thresholdToServingMs > elastic.machineDeployMs!, JSON.stringify(elastic))
  t.regex(report.steps[7].detail ?? '', /^5 machines after \d+ ms of this load; .*autonomic\.maximum\.vm\.number 5/)
  t.regex(report.steps[8].detail ?? '', /^removals \+\d+ ms, \+\d+ ms after the drop; machines \/MySQL VM, \/Tomcat VM 1, \/Apache VM$/)
  t.regex(report.steps[9].detail ?? '', /^\d+ requests, \d+ answered, 0 failed \(Tomcat VM 1 \d+, Tomcat VM 2 \d+, Tomcat VM 3 \d+\); Apache pid \d+ since .*, \d+ graceful reloads$/)
  t.deepEqual(leftOf(t, report.steps[0].detail ?? ''), [])
  return report
}

test.serial('simulate lamp-elastic --json: the Tomcats follow the load, the VM limit holds, no request fails', async t => {
  t.timeout(11 * 60_000)
  checkRun(t, await simulate('lamp-elastic', ['--json']))
})

test.serial('simulate lamp-elastic --amqp: the same story through RabbitMQ', async t => {
  t.timeout(11 * 60_000)
  const report = checkRun(t, await simulate('lamp-elastic', ['--amqp', 'amqp://guest:guest@127.0.0.1:5672', '--json']))
  t.regex(report.steps[0].detail ?? '', /agents via RabbitMQ/)
})

test('lamp-elastic usage errors (exit 2): docker, and its options with lamp', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['simulate', 'lamp-elastic', '--target', 'docker'], /lamp-elastic runs on --target local or netns/],
    [['simulate', 'lamp', '--busy-rps', '10'], /--probe-period, --scale-down-window, --busy-rps and --idle-rps go with lamp-elastic/],
    [['simulate', 'lamp-elastic', '--busy-rps', 'many'], /"many" is not a number of requests per second/],
    [['simulate', 'lamp-elastic', '--probe-period', 'soon'], /"soon" is not a duration/]
  ]
  for (const [args, message] of cases) {
    const run = await execa(process.execPath, [BIN, ...args], { cwd: ROOT, reject: false, stdin: 'ignore' })
    t.is(run.exitCode, 2, args.join(' '))
    t.regex(run.stderr, message, args.join(' '))
    t.is(run.stdout, '', args.join(' '))
  }
})

test('the load generator targets only 127.0.0.1, or the run\'s own namespaces\' addresses under --target netns', async t => {
  const bounds = { expectedValue: 'v', maxRequests: 10, maxDurationMs: 1_000 }
  for (const url of ['http://10.214.7.2:80', 'http://localhost:80', 'http://example.com', 'https://127.0.0.1:443']) {
    t.throws(() => startLoad({ url, ...bounds }), { instanceOf: LoadTargetRefusedError }, url)
  }
  for (const url of ['http://10.214.77.2:80', 'http://10.214.7.2.example.com:80', 'http://10.214.70.2:80']) {
    t.throws(() => startLoad({ url, allowedSubnet: '10.214.7', ...bounds }), { instanceOf: LoadTargetRefusedError }, url)
  }
  t.throws(() => startLoad({ url: 'http://10.214.77.2:80', allowedSubnet: '10.214.7', ...bounds }), { instanceOf: LoadTargetRefusedError, message: 'the load generator only sends to 127.0.0.1 or 10.214.7.0/24, not to http://10.214.77.2:80' })
  for (const url of ['http://127.0.0.1:1', 'http://10.214.7.2:1']) {
    const load = startLoad({ url, allowedSubnet: '10.214.7', ...bounds })
    t.deepEqual(await load.stop(), { sent: 0, ok: 0, failed: 0, failures: [], byTomcat: {} })
  }
})
