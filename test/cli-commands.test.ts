// The CLI without a DM (usage errors, an unreachable DM) and against a test double of the DM's REST contract for
// what the real DM cannot produce on demand: an instance going to PROBLEM while a command waits.
// Everything else runs against the real DM in cli-dm.test.ts.
import test from 'ava'
import { execa } from 'execa'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandHelp, COMMANDS } from '../manager/cli.js'
import { HELP_TOPICS } from '../manager/commands/help.js'
import { instance, runCli, runCliInProcess, startDmDouble, type DmDouble } from './cli-helpers.js'

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
    [['status', 'lamp', '--wait=2m'], /--wait=DURATION goes with --watch or --until/],
    [['status', 'lamp', '--wait'], /--wait goes with --watch or --until/],
    // one wait flag: the older --timeout is gone
    [['status', 'lamp', '--watch', '--timeout', '1s'], /unknown option '--timeout'/],
    [['status', 'lamp', '--watch', '--wait=soon'], /"soon" is not a duration > 0/],
    [['instance', 'delete', 'lamp', '/Apache VM', '--force', '--no-wait'], /instance delete --force deletes once the subtree is undeployed, so it waits/],
    [['commands', 'run', 'lamp', 'grow', '--no-wait'], /commands run waits for the DM's answer: --wait=DURATION sets how long \(default 10m\)/],
    [['start', 'lamp', '/Apache VM', '--wait=-3'], /"-3" is not a duration > 0 and <= a week: write e\.g\. 90s, 2m/],
    [['stop', 'lamp', '--wait=1e9'], /"1e9" is not a duration/],
    [['stop', 'lamp', '--wait=8d'], /"8d" is not a duration/],
    [['scale', 'lamp', 'Tomcat', '--to', '0'], /"0" is not a whole number >= 1/],
    [['app', 'load'], /missing required argument 'folder\|zip'/],
    [['app'], /Usage: meshconf app/],
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

test('an instance going to PROBLEM ends the wait with exit 1 and its reason', async t => {
  const dm = await double(t)
  dm.failing.add('Tomcat')
  const home = await tempDir(t)
  const r = await runCliInProcess(['start', 'lamp', '/Tomcat VM 1', '--all', '--wait=60s', '--dm', dm.url, '--token', dm.token], { home })
  t.is(r.exitCode, 1)
  t.regex(r.stderr, /\/Tomcat VM 1\/Tomcat went to PROBLEM: Tomcat start.sh exited with 1/)
  t.regex(r.stdout, /^ {2}\/Tomcat VM 1 {2,}DEPLOYED_STARTED/m)
})

/** What the CLI's help may cost over a bare Node start, in ms of CPU: commander and the command table, nothing more. */
const CLI_HELP_EXTRA_CPU_MS = 120

/** The least of three runs of cpuMsOf. */
async function leastCpuMsOf (args: string[], cli = true): Promise<number> {
  const runs: number[] = []
  for (let i = 0; i < 3; i++) runs.push(await cpuMsOf(args, cli))
  return Math.min(...runs)
}

/** The CPU time (user + system) one run of the built CLI (or of bare node: cli false) takes, in milliseconds, as bash's `times` counts its child. */
async function cpuMsOf (args: string[], cli = true): Promise<number> {
  const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'meshconf.js')
  const r = await execa('bash', ['-c', cli ? 'node "$0" "$@" >/dev/null || exit 9; times' : 'node "$@" >/dev/null || exit 9; times', ...(cli ? [bin] : ['node']), ...args], { stdin: 'ignore' })
  const children = r.stdout.split('\n')[1] ?? ''
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(m => Number(m[1]) * 60 + Number(m[2]))
  if (seconds.length !== 2) throw new Error(`unexpected output of times: ${r.stdout}`)
  return (seconds[0] + seconds[1]) * 1000
}

// CPU time, not wall time: other processes on the host do not add to it. The least of a few runs, so that one
// disturbed run (a cold file cache) does not decide.
test('meshconf --help and meshconf completion bash take under 120 ms of CPU more than a bare Node start (they load commander alone)', async t => {
  // The bare start is measured in the same conditions: a busy sibling hyperthread slows both alike.
  const bare = await leastCpuMsOf(['-e', '0'], false)
  t.log(`node -e 0: ${bare.toFixed(0)} ms of CPU`)
  const least: number[] = []
  for (const args of [['--help'], ['completion', 'bash']]) {
    const runs: number[] = []
    for (let i = 0; i < 3; i++) runs.push(await cpuMsOf(args))
    t.log(`meshconf ${args.join(' ')}: ${runs.map(ms => ms.toFixed(0)).join(', ')} ms of CPU`)
    least.push(Math.min(...runs))
    t.true(Math.min(...runs) < bare + CLI_HELP_EXTRA_CPU_MS, `meshconf ${args.join(' ')}: ${runs.join(', ')} ms of CPU, a bare node ${bare} ms`)
  }
  // the measure sees a module load: the DM's help loads fastify, SQLite and the rest
  const dm = await cpuMsOf(['dm', '--help'])
  t.log(`meshconf dm --help: ${dm.toFixed(0)} ms of CPU`)
  t.true(dm > 2 * Math.max(...least), `dm --help: ${dm} ms`)
})

test('help: bare meshconf prints it and exits 0; a usage error is three lines; topics are the README\'s pages; descriptions lower case and wrapped', async t => {
  const home = await tempDir(t)
  const bare = await runCliInProcess([], { home })
  t.is(bare.exitCode, 0)
  t.regex(bare.stdout, /^Usage: meshconf \[options\] \[command\]/)
  for (const { name } of COMMANDS) t.regex(bare.stdout, new RegExp(`^  ${name}\\b`, 'm'), name)

  // the message, the one usage line, where to read more: not the whole help
  const usage = await runCliInProcess(['start'], { home })
  t.is(usage.exitCode, 2)
  t.deepEqual(usage.stderr.trimEnd().split('\n'), [
    'error: missing required argument \'app\'', 'Usage: meshconf start [options] <app> [path]', 'see meshconf start --help'
  ])

  for (const topic of Object.keys(HELP_TOPICS)) {
    const page = await runCliInProcess(['help', topic], { home })
    t.is(page.exitCode, 0, topic)
    t.is(page.stdout.split('\n')[0], HELP_TOPICS[topic].heading.toUpperCase(), topic)
    t.true(page.stdout.split('\n').length > 5, topic)
  }
  const unknown = await runCliInProcess(['help', 'nope'], { home })
  t.is(unknown.exitCode, 2)
  t.regex(unknown.stderr, /no command or topic "nope"/)
  t.regex((await runCliInProcess(['help', 'status'], { home })).stdout, /^Usage: meshconf status \[options\] <app>/)

  // every command's help: descriptions start lower case, lines fit 80 columns (commander's width off a terminal)
  for (const { name, summary } of COMMANDS) {
    t.regex(summary, /^[a-z]/, name)
    const help = await commandHelp(name) ?? ''
    const long = help.split('\n').filter(line => line.length > 80)
    t.deepEqual(long, [], `meshconf ${name} --help`)
    const description = help.split('\n')[2] ?? ''
    t.regex(description, /^[a-z]/, `meshconf ${name} --help: ${description}`)
  }
})
