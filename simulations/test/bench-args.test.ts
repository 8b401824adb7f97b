// Command lines of `npm run bench` and `npm run chaos`: defaults, and a clear error for bad input.
import test from 'ava'
import { BenchUsageError, formatTable, parseBenchArgs, type BenchReport } from '../bench/bench.js'
import { ChaosUsageError, formatChaosReport, parseChaosArgs } from '../chaos/chaos.js'
import { inheritedNodeFlags } from '../bench/agents.js'

test('bench flags, and an unknown one refused with the usage', t => {
  t.deepEqual(parseBenchArgs([]), { json: false, quick: false })
  t.deepEqual(parseBenchArgs(['--json', '--quick']), { json: true, quick: true })
  t.throws(() => parseBenchArgs(['--agents', '5']), { instanceOf: BenchUsageError, message: /usage: npm run bench/ })
  t.deepEqual(parseBenchArgs(['--converge', '50,100', '--json']), { json: true, quick: false, convergeOnly: [50, 100] })
  t.throws(() => parseBenchArgs(['--converge', '50,x,3']), { instanceOf: BenchUsageError, message: /at least 4 agents.*"x", "3"/ })
  t.throws(() => parseBenchArgs(['--converge', '50', '--quick']), { instanceOf: BenchUsageError, message: /do not go together/ })
  t.deepEqual(parseBenchArgs(['--observability', '--quick']), { json: false, quick: true, observability: true })
  t.throws(() => parseBenchArgs(['--observability', '--converge', '50']), { instanceOf: BenchUsageError, message: /--converge and --observability do not go together/ })
})

test('--scale: one N runs the default sizes up to it, a list exactly those; --plots only with it', t => {
  t.deepEqual(parseBenchArgs(['--scale', '1000']), { json: false, quick: false, scale: [10, 100, 300, 1000], plotsDir: undefined })
  t.deepEqual(parseBenchArgs(['--scale', '200']).scale, [10, 100, 200])
  t.deepEqual(parseBenchArgs(['--scale', '10, 50', '--plots', '/tmp/p', '--json']), { json: true, quick: false, scale: [10, 50], plotsDir: '/tmp/p' })
  t.throws(() => parseBenchArgs(['--scale', '10,2']), { instanceOf: BenchUsageError, message: /--scale takes agent counts of at least 4.*"2"/ })
  t.throws(() => parseBenchArgs(['--scale', '100', '--converge', '50']), { instanceOf: BenchUsageError, message: /--converge and --scale do not go together/ })
  t.throws(() => parseBenchArgs(['--plots', '/tmp/p']), { instanceOf: BenchUsageError, message: /--plots goes with --scale/ })
  t.deepEqual(parseBenchArgs(['--scale', '300', '--no-peers']), { json: false, quick: false, scale: [10, 100, 300], plotsDir: undefined, scalePeers: false })
  t.throws(() => parseBenchArgs(['--no-peers']), { instanceOf: BenchUsageError, message: /--no-peers goes with --scale/ })
})

test('chaos flags: 20 trials by default, a given seed replays, bad numbers refused', t => {
  const defaults = parseChaosArgs([])
  t.is(defaults.trials, 20)
  t.true(Number.isInteger(defaults.seed))
  t.like(parseChaosArgs(['--trials', '3', '--seed', '42', '--json']), { trials: 3, seed: 42, json: true, keepData: false })
  t.throws(() => parseChaosArgs(['--trials', '0']), { instanceOf: ChaosUsageError, message: /--trials 0: expected a whole number >= 1/ })
  t.throws(() => parseChaosArgs(['--seed', 'x']), { instanceOf: ChaosUsageError })
})

test('the bench table shows n/a for what was not measured; the chaos report ends with failed traces', t => {
  const report: BenchReport = {
    reconfigure: { agents: 10, mesh: { p50_ms: 12.5, p99_ms: 40 }, amqp_hub: { p50_ms: null, p99_ms: null }, amqp_hub_nagle: { p50_ms: null, p99_ms: null }, ratio_p50: null },
    converge: [{ agents: 10, all_updated_ms: 41 }],
    failure: { crash_detect_ms: 600, partition_detect_ms: null },
    cost: { rss_mb_per_agent: 80, idle_cpu_pct_per_agent: 0.5, msgs_per_change: 12, bytes_per_change: 3000 },
    deploy: { one_machine_ms: null, hundred_machines_ms: null, ratio: null, docker_one_ms: null, docker_ten_ms: null, dm_cpu_ms_per_machine: 7.5, create_requests_spread_ms: null, wall_over_cpu_floor: 1.2, agent_start_cpu_ms: 250.5 },
    peers: {
      serf: { profile: 'local', flags: '', agents: 10, event_all_ms: 180, failure_all_ms: null, by_agents: [{ agents: 10, all_ms: 180, failure_all_ms: null }] },
      etcd: { all_ms: { 10: 20 }, by_agents: [{ agents: 10, all_ms: 20 }, { agents: 50, all_ms: null, note: 'not run: too big' }] }
    },
    elastic: { rounds: 5, rounds_ok: 5, threshold_to_serving_ms: 3900, probe_period_ms: 1000, machine_deploy_ms: 2100, goal_ms: 4100, failed_requests: 0 },
    inter_app: { agents_per_application: 10, reconfigure_p50_ms: 15, reconfigure_p99_ms: 48.5, ratio_to_internal_p50: 1.2, importer_cpu_ms_per_change: 1.5, exporter_cpu_ms_per_change: 3.1, missed: 0 }
  }
  const table = formatTable(report)
  t.regex(table, /deploy: the DM's CPU per machine\s+7\.5 ms\s+<= 10 ms/)
  t.regex(table, /deploy: first to last creation request, 100 machines\s+n\/a/)
  t.regex(table, /Serf \(local\) event at every handler, 10 agents\s+180 ms/)
  t.regex(table, /Serf \(local\) kill -9 failed at every agent, 10 agents\s+n\/a/)
  t.regex(table, /etcd put at every watcher's handler, 50 watchers\s+n\/a\s+not run: too big/)
  t.regex(table, /reconfigure p50 \/ p99, mesh\s+12\.5 ms \/ 40 ms/)
  t.regex(table, /cut-off agent noticed \(netns\)\s+n\/a/)
  t.regex(table, /agent start, CPU\s+250\.5 ms\s+<= 300 ms/)
  t.regex(table, /elastic: load over the threshold to the new Tomcat serving, p50 of 5\/5 rounds\s+3900 ms\s+<= 4100 ms \(probe period 1000 ms \+ machine deploy 2100 ms \+ 1 s\)/)
  t.regex(table, /elastic: failed requests\s+0\s+0/)
  t.regex(table, /reconfigure p50 \/ p99, across applications \(10 \+ 10 agents\)\s+15 ms \/ 48\.5 ms\s/)
  t.regex(table, /across applications p50 \/ mesh p50\s+1\.2\s+<= 1\.5/)
  const text = formatChaosReport({ seed: 1, target: 'netns', passed: 1, failed: 1, rogues: { agent: { attempts: 12, refusedByBroker: 0, refusedByDm: 10, refusedByVictim: 2 }, peer: { attempts: 10, refused: 10, reasons: { 'wrong-peer': 4, 'not-owner': 6 } } }, trials: [
    { trial: 1, fault: 'kill-dm', passed: true, trace: ['+1 ms killed -9 the DM'] },
    { trial: 2, fault: 'kill-agent', machine: '/MySQL VM', passed: false, trace: ['+5 ms invariant BROKEN after recovery:'] }
  ] })
  t.regex(text, /1\/2 trials passed, 1 failed/)
  t.regex(text, /rogue agent \(another machine's credential\): 12 attempts, 0 refused by the broker, 10 refused and counted by the DM, 2 forged commands refused by the victim's agent, 0 not refused/)
  t.regex(text, /rogue peer \(pnet key, no ownership\): 10 forgeries, 10 refused and counted by the importer \(wrong-peer 4, not-owner 6\), 0 not refused/)
  t.regex(text, /trace of trial 2 \(kill-agent \/MySQL VM\):\n {2}\+5 ms invariant BROKEN/)
  t.notRegex(text, /trace of trial 1/)
})

test('agent processes inherit the parent\'s Node flags but none that carries code (node -e would start agents without end)', t => {
  t.deepEqual(inheritedNodeFlags(['--import', 'tsx', '-e', 'run()', '--enable-source-maps']), ['--import', 'tsx', '--enable-source-maps'])
  t.deepEqual(inheritedNodeFlags(['--eval=run()', '-p', 'x', '--print=y', '--no-warnings']), ['--no-warnings'])
  t.deepEqual(inheritedNodeFlags([]), [])
})
