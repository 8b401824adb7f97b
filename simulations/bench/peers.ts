// Real peers beside the mesh, at the same N (issue 20): Serf (Debian's `serf`), N agents on loopback, a user event
// until a bash handler ran on every agent, and a kill -9 until every other agent's member-failed handler ran; etcd
// (Debian's `etcd-server`), one server and N `etcdctl watch --prefix` watchers each running a bash handler, a put until
// every handler ran. Every process started here is killed in a finally; data and handler logs live in a temp folder.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { freemem, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../common/net.js'
import { waitFor } from '../../common/wait.js'
import { UNLIMITED_BUDGET, type Budget } from './budget.js'
import { percentile, round2 } from './stats.js'
import {
  PEER_EVENTS, PEER_FAILURE_TIMEOUT_MS, PEER_MIN_BUDGET_MS, PEER_EVENT_TIMEOUT_MS, PEER_MEMORY_SHARE, PEER_PROCESS_RSS_MB, PEER_START_BATCH,
  PEER_START_TIMEOUT_MS, PEER_STOP_TIMEOUT_MS, SERF_PROFILE
} from './bench-constants.js'
import { errorMessage } from '../../protocol/errors.js'

/** What a peer baseline measured at one N (ms; null when not measured, with the reason in `note`). */
export interface PeerFigures {
  agents: number
  /** Serf: user event to every handler; etcd: put to every watcher's handler. p50 over PEER_EVENTS events. */
  all_ms: number | null
  /** Serf only: kill -9 of one agent until every other agent's member-failed handler ran. */
  failure_all_ms?: number | null
  note?: string
}

/** A peer's binary is missing (the bench's setup installs it: scripts/bench-setup.sh). */
export class PeerMissingError extends Error {
  constructor (binary: string, pkg: string) {
    super(`${binary} is not installed: run scripts/bench-setup.sh (apt-get install ${pkg})`)
    this.name = 'PeerMissingError'
  }
}

/**
 * The handler every Serf agent and etcd watcher runs: bash, one line appended per run (O_APPEND writes of a line are
 * atomic), the time read from bash's own clock (no `date` fork). `$BENCH_WHO` names the watcher; Serf sets
 * SERF_SELF_NAME. The payload comes on stdin (Serf) or in ETCD_WATCH_VALUE (etcd, which quotes it).
 */
const HANDLER = `#!/bin/bash
t=$EPOCHREALTIME
if [ -n "$SERF_EVENT" ]; then payload=$(cat); who=$SERF_SELF_NAME; what="$SERF_EVENT"; else payload=\${ETCD_WATCH_VALUE#\\\"}; payload=\${payload%\\\"}; who=$BENCH_WHO; what=put; fi
echo "$t $who $what \${payload//$'\\n'/ }" >> "$BENCH_LOG"
`

/** A line of the handlers' log: when (ms since the epoch), which agent or watcher, what event, its payload. */
export interface HandlerRun { atMs: number, who: string, what: string, payload: string }

export function parseHandlerLog (text: string): HandlerRun[] {
  const runs: HandlerRun[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+)[.,](\d+) (\S+) (\S+) ?(.*)$/.exec(line)
    if (m === null) continue
    runs.push({ atMs: Number(m[1]) * 1000 + Number(`0.${m[2]}`) * 1000, who: m[3], what: m[4], payload: m[5].trim() })
  }
  return runs
}

/** Now, in ms since the epoch with sub-ms precision (the handlers' clock: CLOCK_REALTIME). */
const realNowMs = (): number => performance.timeOrigin + performance.now()

async function which (binary: string): Promise<boolean> {
  return await new Promise(resolve => { execFile('sh', ['-c', `command -v ${binary}`], err => { resolve(err === null) }) })
}

/** Processes started by one measurement; all killed (SIGKILL after SIGTERM) at the end. */
class Processes {
  private readonly children: ChildProcess[] = []
  start (command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } })
    child.stderr?.resume()
    child.on('error', () => {})
    this.children.push(child)
    return child
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.children.map(async child => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, PEER_STOP_TIMEOUT_MS)
      await gone
      clearTimeout(timer)
    }))
  }
}

/** Whether `n` processes of a peer fit in memory now (else the figure is null, with this reason). */
function memoryNote (n: number): string | undefined {
  const needMb = n * PEER_PROCESS_RSS_MB
  const freeMb = freemem() / 2 ** 20
  return needMb > freeMb * PEER_MEMORY_SHARE ? `not run: ${n} processes need about ${needMb} MB, ${Math.round(freeMb)} MB free` : undefined
}

async function handlerSetup (dir: string): Promise<{ script: string, log: string }> {
  const script = join(dir, 'handler.sh')
  const log = join(dir, 'handler.log')
  await writeFile(script, HANDLER)
  await chmod(script, 0o755)
  await writeFile(log, '')
  return { script, log }
}

async function runsOf (log: string): Promise<HandlerRun[]> {
  return parseHandlerLog(await readFile(log, 'utf8'))
}

/** Waits until `expected` handlers logged `what` with `payload`; ms from `t0` to the last of them, null on timeout. */
async function untilAllRan (log: string, what: (run: HandlerRun) => boolean, expected: number, t0: number, timeoutMs: number): Promise<number | null> {
  try {
    const runs = await waitFor(`${expected} handler runs`, async () => {
      const found = (await runsOf(log)).filter(what)
      const who = new Set(found.map(r => r.who))
      return who.size >= expected ? found : undefined
    }, { timeoutMs, everyMs: 20 })
    return round2(Math.max(...runs.map(r => r.atMs)) - t0)
  } catch {
    return null
  }
}

/**
 * Serf at `n` agents, with the `local` profile (memberlist's DefaultLocalConfig: gossip every 100 ms, probe every 1 s
 * with a 200 ms timeout, suspicion multiplier 3), Serf's fastest built-in one, on loopback; events sent with
 * `-coalesce=false` (coalescing holds user events back to batch them). Only `user:bench` and `member-failed` run the
 * handler: a member-join handler would run n x n times while the cluster forms.
 */
export async function measureSerf (n: number, log: (line: string) => void, budget: Budget = UNLIMITED_BUDGET): Promise<PeerFigures> {
  if (!await which('serf')) throw new PeerMissingError('serf', 'serf')
  const tooBig = memoryNote(n)
  if (tooBig !== undefined) return { agents: n, all_ms: null, failure_all_ms: null, note: tooBig }
  budget.cap(0, `Serf at ${n}`, PEER_MIN_BUDGET_MS)
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-bench-serf-'))
  const processes = new Processes()
  try {
    const { script, log: handlerLog } = await handlerSetup(dir)
    const agents: Array<{ name: string, bind: string, rpc: string, child: ChildProcess }> = []
    // The first agent alone (the others join through it: one started before it listens exits), then batches.
    for (let first = 0; first < n; first += first === 0 ? 1 : PEER_START_BATCH) {
      const batch = first === 0 ? 1 : Math.min(PEER_START_BATCH, n - first)
      for (let i = first; i < first + batch; i++) {
        const name = `serf${i}`
        const bind = `127.0.0.1:${await freePort()}`
        const rpc = `127.0.0.1:${await freePort()}`
        const join = agents.length === 0 ? [] : [`-join=${agents[0].bind}`]
        const child = processes.start('serf', ['agent', `-node=${name}`, `-bind=${bind}`, `-rpc-addr=${rpc}`, `-profile=${SERF_PROFILE}`,
          '-log-level=err', `-event-handler=user:bench=${script}`, `-event-handler=member-failed=${script}`, ...join], { BENCH_LOG: handlerLog })
        agents.push({ name, bind, rpc, child })
      }
      // Each batch must have joined before the next.
      await waitFor(`${agents.length} serf members alive`, async () => await aliveMembers(agents[0].rpc) >= agents.length,
        { timeoutMs: budget.cap(PEER_START_TIMEOUT_MS, 'starting'), everyMs: 200 })
    }
    // Every agent must know every other before an event counts: check a few of them.
    for (const probe of [agents[n - 1], agents[Math.floor(n / 2)]]) {
      await waitFor(`serf member ${probe.name} sees ${n} alive`, async () => await aliveMembers(probe.rpc) >= n, { timeoutMs: budget.cap(PEER_START_TIMEOUT_MS, 'starting'), everyMs: 200 })
    }
    log(`serf x${n}: cluster formed`)
    const eventMs: number[] = []
    for (let e = 0; e < PEER_EVENTS; e++) {
      const payload = `e${e}-${Date.now()}`
      const t0 = realNowMs()
      await new Promise<void>((resolve, reject) => {
        execFile('serf', ['event', `-rpc-addr=${agents[0].rpc}`, '-coalesce=false', 'bench', payload], err => { if (err === null) resolve(); else reject(err) })
      })
      const ms = await untilAllRan(handlerLog, r => r.what === 'user' && r.payload === payload, n, t0, budget.cap(PEER_EVENT_TIMEOUT_MS, 'an event'))
      log(`serf x${n}: event ${e + 1}/${PEER_EVENTS} at every handler in ${ms ?? 'n/a (timed out)'} ms`)
      if (ms !== null) eventMs.push(ms)
    }
    // kill -9 an agent that is not the one others joined through.
    const victim = agents[n - 1]
    const t0 = realNowMs()
    victim.child.kill('SIGKILL')
    const failureMs = await untilAllRan(handlerLog, r => r.what === 'member-failed' && r.payload.split(/\s/)[0] === victim.name, n - 1, t0, budget.cap(PEER_FAILURE_TIMEOUT_MS, 'the kill -9'))
    log(`serf x${n}: kill -9 seen as failed by every other agent in ${failureMs ?? 'n/a (timed out)'} ms`)
    return { agents: n, all_ms: eventMs.length === 0 ? null : round2(percentile(eventMs, 50)), failure_all_ms: failureMs }
  } catch (err) {
    log(`serf x${n} failed: ${errorMessage(err).split('\n')[0]}`)
    return { agents: n, all_ms: null, failure_all_ms: null, note: errorMessage(err).split('\n')[0] }
  } finally {
    await processes.stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

async function aliveMembers (rpc: string): Promise<number> {
  return await new Promise(resolve => {
    execFile('serf', ['members', `-rpc-addr=${rpc}`, '-status=alive'], { maxBuffer: 16 * 2 ** 20 }, (err, stdout) => {
      resolve(err === null ? stdout.split('\n').filter(l => l.trim() !== '').length : 0)
    })
  })
}

/**
 * etcd at `n` watchers: one etcd server (private data folder, free ports), n `etcdctl watch --prefix` processes
 * each running the handler per event. The put goes through etcd's HTTP gateway (no etcdctl spawn in the timing).
 */
export async function measureEtcd (n: number, log: (line: string) => void, budget: Budget = UNLIMITED_BUDGET): Promise<PeerFigures> {
  if (!await which('etcd') || !await which('etcdctl')) throw new PeerMissingError('etcd / etcdctl', 'etcd-server etcd-client')
  const tooBig = memoryNote(n)
  if (tooBig !== undefined) return { agents: n, all_ms: null, note: tooBig }
  budget.cap(0, `etcd at ${n}`, PEER_MIN_BUDGET_MS)
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-bench-etcd-'))
  const processes = new Processes()
  try {
    const { script, log: handlerLog } = await handlerSetup(dir)
    const client = `http://127.0.0.1:${await freePort()}`
    const peer = `http://127.0.0.1:${await freePort()}`
    processes.start('etcd', ['--name', 'bench', '--data-dir', join(dir, 'data'), '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`, '--log-level', 'error'])
    await waitFor('etcd healthy', async () => (await fetch(`${client}/health`)).ok, { timeoutMs: budget.cap(PEER_START_TIMEOUT_MS, 'starting'), everyMs: 100 })
    const prefix = `/meshconf-bench-${process.pid}/`
    for (let i = 0; i < n; i++) {
      processes.start('etcdctl', ['--endpoints', client, 'watch', '--prefix', prefix, '--', script], { BENCH_LOG: handlerLog, BENCH_WHO: `w${i}` })
    }
    // Watches are up once a put reaches all of them: put until it does.
    await waitFor(`${n} etcd watchers`, async () => {
      const payload = `warm-${Date.now()}`
      await put(client, `${prefix}warm`, payload)
      return await untilAllRan(handlerLog, r => r.payload === payload, n, realNowMs(), 2000) !== null
    }, { timeoutMs: budget.cap(PEER_START_TIMEOUT_MS, 'starting'), everyMs: 200 })
    log(`etcd x${n}: every watcher up`)
    const allMs: number[] = []
    for (let e = 0; e < PEER_EVENTS; e++) {
      const payload = `e${e}-${Date.now()}`
      const t0 = realNowMs()
      await put(client, `${prefix}key`, payload)
      const ms = await untilAllRan(handlerLog, r => r.payload === payload, n, t0, budget.cap(PEER_EVENT_TIMEOUT_MS, 'an event'))
      log(`etcd x${n}: put ${e + 1}/${PEER_EVENTS} at every handler in ${ms ?? 'n/a (timed out)'} ms`)
      if (ms !== null) allMs.push(ms)
    }
    return { agents: n, all_ms: allMs.length === 0 ? null : round2(percentile(allMs, 50)) }
  } catch (err) {
    log(`etcd x${n} failed: ${errorMessage(err).split('\n')[0]}`)
    return { agents: n, all_ms: null, note: errorMessage(err).split('\n')[0] }
  } finally {
    await processes.stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

/** A put through etcd's v3 HTTP gateway (keys and values base64). */
async function put (client: string, key: string, value: string): Promise<void> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  const response = await fetch(`${client}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(key), value: b64(value) }), signal: AbortSignal.timeout(PEER_EVENT_TIMEOUT_MS) })
  if (!response.ok) throw new Error(`etcd put ${key}: HTTP ${response.status} ${await response.text()}`)
}
