// The benchmark's side of its agent processes: forks compiled agent processes (agent-process.js, one or many agents
// each), talks to them over IPC, keeps what each agent reports, and stops them (gracefully, then with SIGKILL) so that
// no run leaves one behind.
import { fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { AgentToParent, FromHost, ParentToAgent, ToHost } from './agent-protocol.js'
import { AGENT_STOP_TIMEOUT_MS, STDERR_TAIL_CHARS } from './bench-constants.js'
import { AGENT_ENVIRONMENT, AGENT_NODE_FLAGS, preferBundle } from '../../manager/targets/process.js'

/**
 * The compiled agent process next to this file (benchmarks run from dist/), bundled as the local target's agents;
 * `MESHCONF_BENCH_AGENT_SCRIPT` names another one (another build's, to compare two builds' agents back to back with
 * the same benchmark: idle.ts).
 */
export const AGENT_PROCESS_SCRIPT = process.env.MESHCONF_BENCH_AGENT_SCRIPT !== undefined && process.env.MESHCONF_BENCH_AGENT_SCRIPT !== ''
  ? process.env.MESHCONF_BENCH_AGENT_SCRIPT
  : preferBundle(join(dirname(fileURLToPath(import.meta.url)), 'agent-process.js'))

/** An agent process did not report what was awaited in time, or died first. */
export class AgentWaitError extends Error {
  constructor (agent: string, what: string, detail: string) {
    super(`agent ${agent}: ${what}: ${detail}`)
    this.name = 'AgentWaitError'
  }
}

export interface AgentHostOptions {
  /** A name for messages, e.g. `/Apache VM 3` or `host 4`. */
  name: string
  /** The state folders of the agents this process hosts (peer key, state file, instance folders), one per agent. */
  stateDirs: string[]
  /** Names of those agents, for messages; default `<name>[i]`. */
  agentNames?: string[]
  /** Run inside this network namespace (`ip netns exec`); default: the benchmark's own namespace. */
  netns?: string
}

/**
 * libuv threads of a process hosting `agents` agents: each agent's state saves, key and peer files go through the
 * thread pool (4 threads by default), and 50 agents' fsyncs queued behind 4 threads made one save take 15-45 s.
 */
export function threadPoolSize (agents: number): number {
  return Math.min(MAX_THREAD_POOL_SIZE, Math.max(DEFAULT_THREAD_POOL_SIZE, agents))
}
const DEFAULT_THREAD_POOL_SIZE = 4
/** libuv's own limit. */
const MAX_THREAD_POOL_SIZE = 1024

/** Flags that carry code to run (`-e CODE`, `--print=CODE`): an agent inheriting one would run that code, not its script. */
const CODE_FLAGS = new Set(['-e', '--eval', '-p', '--print', '-pe'])

/**
 * The parent's Node flags an agent process inherits (`--import tsx`, say), without those that carry code: started
 * from `node -e`, every agent would run the same code again and start agents of its own, without end.
 */
export function inheritedNodeFlags (execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]
    if (CODE_FLAGS.has(flag)) { i++; continue }
    if ([...CODE_FLAGS].some(f => f.startsWith('--') && flag.startsWith(`${f}=`))) continue
    kept.push(flag)
  }
  return kept
}

/**
 * Variables of the benchmark's environment its agent processes do not get, as the local target's agents do not
 * (agentEnvironment), because they change what an agent costs. NODE_EXTRA_CA_CERTS: Node reads and parses every
 * certificate of that file when the process starts, before any script; this host sets it to a 145-certificate bundle,
 * and each agent process paid about 40 ms of CPU for it at start and kept 0.8 MB more (docs/tuning.md). Everything
 * else is kept: MESHCONF_TRACE_DIR (trace.ts) and MESHCONF_BENCH_LOG_DIR reach the agents this way.
 */
const NOT_FOR_AGENTS = ['NODE_EXTRA_CA_CERTS']

/** The environment of an agent process: the benchmark's, less NOT_FOR_AGENTS, plus the agents' own (AGENT_ENVIRONMENT). */
export function agentProcessEnvironment (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, ...AGENT_ENVIRONMENT }
  for (const name of NOT_FOR_AGENTS) delete out[name]
  return out
}

type Received = AgentToParent & { receivedAtNs: bigint }

/** One forked agent process hosting one or more agents (the scale mode packs many into each). */
export class AgentHost {
  readonly name: string
  readonly child: ChildProcess
  /** The hosted agents, in the order of their state folders. */
  readonly agents: BenchAgent[]
  private stderrTail = ''
  private exited = false
  /** How the process ended (`code 1`, `signal SIGKILL`), once it has. */
  private ended: string | undefined
  private readonly exit: Promise<void>

  constructor (options: AgentHostOptions) {
    this.name = options.name
    const args = [AGENT_PROCESS_SCRIPT, ...options.stateDirs]
    this.agents = options.stateDirs.map((_, i) => new BenchAgent(this, i, options.agentNames?.[i] ?? `${options.name}[${i}]`))
    const env = {
      ...agentProcessEnvironment(process.env), ...(options.stateDirs.length === 1 ? {} : { UV_THREADPOOL_SIZE: String(threadPoolSize(options.stateDirs.length)) })
    }
    this.child = options.netns === undefined
      ? fork(args[0], args.slice(1), { execArgv: [...inheritedNodeFlags(process.execArgv), ...AGENT_NODE_FLAGS], env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
      : spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...AGENT_NODE_FLAGS, ...args],
        { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_CHARS)
    })
    this.child.on('message', (message: FromHost) => {
      this.agents[message.agent]?.receive(message, process.hrtime.bigint())
    })
    this.exit = new Promise(resolve => this.child.once('exit', (code, signal) => {
      this.ended = signal === null ? `code ${String(code)}` : `signal ${signal}`
      this.exited = true
      this.wakeAll()
      resolve()
    }))
    this.child.on('error', err => { this.stderrTail += `\n${err.message}`; this.exited = true; this.wakeAll() })
  }

  get pid (): number {
    if (this.child.pid === undefined) throw new AgentWaitError(this.name, 'no pid', this.stderrTail)
    return this.child.pid
  }

  get alive (): boolean {
    return !this.exited
  }

  send (message: ToHost): void {
    if (!this.exited && this.child.connected) this.child.send(message)
  }

  /** Kills the process (SIGKILL by default: a crash of every agent it hosts, nothing flushed); resolves once it is gone. */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.exited) this.child.kill(signal)
    await this.exit
  }

  /** Asks every hosted agent to stop its mesh (the process then exits); kills it if it has not exited in time. */
  async stop (): Promise<void> {
    if (this.exited) return
    for (const agent of this.agents) agent.send({ kind: 'stop' })
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, AGENT_STOP_TIMEOUT_MS)
    await this.exit
    clearTimeout(timer)
  }

  stderr (): string {
    return this.stderrTail
  }

  /** How the process ended (`code 1`, `signal SIGKILL`); undefined while it runs. */
  get endedBy (): string | undefined {
    return this.ended
  }

  private wakeAll (): void {
    for (const agent of this.agents) agent.wake()
  }
}

/** One agent of the benchmark, in its AgentHost process: what it reported, and the messages to it. */
export class BenchAgent {
  /** Every message received, in order. */
  readonly received: Received[] = []
  private waiters: Array<() => void> = []

  constructor (readonly host: AgentHost, readonly index: number, readonly name: string) {}

  /** The process's pid (shared with the other agents of the process). */
  get pid (): number {
    return this.host.pid
  }

  get alive (): boolean {
    return this.host.alive
  }

  send (message: ParentToAgent): void {
    this.host.send({ ...message, agent: this.index })
  }

  receive (message: AgentToParent, atNs: bigint): void {
    this.received.push({ ...message, receivedAtNs: atNs })
    this.wake()
  }

  /** The first message, received at or after index `from`, that matches. */
  async waitFor<K extends AgentToParent['kind']> (kind: K, predicate: (m: Extract<AgentToParent, { kind: K }>) => boolean,
    timeoutMs: number, from = 0): Promise<Extract<AgentToParent, { kind: K }> & { receivedAtNs: bigint }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.received.slice(from).find(m => m.kind === kind && predicate(m as unknown as Extract<AgentToParent, { kind: K }>))
      if (found !== undefined) return found as Extract<AgentToParent, { kind: K }> & { receivedAtNs: bigint }
      const failed = this.received.find(m => m.kind === 'failed')
      if (failed !== undefined && failed.kind === 'failed') throw new AgentWaitError(this.name, `waiting for '${kind}'`, failed.error)
      if (!this.host.alive) throw new AgentWaitError(this.name, `exited while waiting for '${kind}'`, this.host.stderr().trim())
      const left = deadline - Date.now()
      if (left <= 0) throw new AgentWaitError(this.name, `no matching '${kind}' within ${timeoutMs} ms`, this.describeLast())
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(left, 1000))
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Kills the agent's process: a crash. Refused when the process hosts other agents too (they would crash with it). */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.host.agents.length > 1) throw new Error(`${this.name} shares its process with ${this.host.agents.length - 1} other agents: kill one hosted alone`)
    await this.host.kill(signal)
  }

  /** The last status reports and stderr lines, for error messages. */
  describeLast (): string {
    const statuses = this.received.filter(m => m.kind === 'status').slice(-3)
      .map(m => m.kind === 'status' ? `${m.instancePath} ${m.status} ${JSON.stringify(m.imports)}` : '')
    return [`last reports: ${statuses.join('; ') || 'none'}`, ...this.host.stderr().trim().split('\n').slice(-3)].join(' | ')
  }

  wake (): void {
    for (const wake of this.waiters.splice(0)) wake()
  }
}

/** Stops every process at once (the benchmarks start dozens). */
export async function stopAll (hosts: Iterable<AgentHost>): Promise<void> {
  await Promise.all([...hosts].map(async h => { await h.stop() }))
}
