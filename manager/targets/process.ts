// Agent processes of the local and netns targets: spawned detached (own process group, so they outlive a DM
// restart and their recipes stop with them), recorded in a pid file, checked and stopped by that record.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from 'node:fs/promises'
import { ensurePrivateFolder } from '../../common/private-files.js'
import { PRIVATE_FILE_MODE } from '../../common/fs.js'
import type { Launcher } from './launcher.js'

/** Grace time between SIGTERM and SIGKILL when stopping an agent, in milliseconds. */
export const AGENT_STOP_GRACE_MS = 3_000
/** How often a stop polls for the agent's exit, in milliseconds. */
const EXIT_POLL_MS = 25

export interface AgentProcessRecord {
  pid: number
  /** The agent's params file: its command line names it, which tells our agent from a process that reused the PID. */
  paramsFile: string
}

/**
 * Node flags of every agent process. `--max-semi-space-size` (MB; Node 20's default is 16): V8's young generation
 * grows to three semi-spaces under allocation bursts and keeps them; an agent allocates little at a time, so 2 MB
 * suffices and the busiest agents' RSS drops (docs/tuning.md). The agent's systemd unit sets the same through
 * NODE_OPTIONS.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2']

/**
 * Environment variables of every agent process (the local and netns targets, the docker image's entrypoint, the
 * benchmarks' agent processes), for less memory. `MALLOC_ARENA_MAX=1`: glibc gives each thread that allocates (V8's
 * workers, libuv's pool) an arena of its own and keeps what they freed; an agent allocates on its main thread almost
 * only, so one arena suffices. `MALLOC_MMAP_THRESHOLD_=32768` (bytes): glibc's threshold otherwise rises to the
 * largest block freed, and blocks of 32 to 128 KB then come from the heap, whose holes stay resident (a malloc_trim
 * through gdb freed 2.3 MB of an idle agent); mapped, each is returned to the system when freed (docs/tuning.md).
 * The agent's systemd unit sets the same.
 */
export const AGENT_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '32768' }

/**
 * The bundle of a compiled entry (made by npm run build, scripts/bundle-agent.mjs): its cached start (x.js ->
 * x.bundle.cached.js, the bundle with V8's code cache: less start-up CPU), else its one-file bundle (x.bundle.js), else
 * the entry itself.
 */
export function preferBundle (script: string): string {
  if (!script.endsWith('.js')) return script
  const bundle = script.replace(/\.js$/, '.bundle.js')
  const cached = bundle.replace(/\.js$/, '.cached.js')
  if (existsSync(cached) && existsSync(bundle.replace(/\.js$/, '.script.cjs'))) return cached
  return existsSync(bundle) ? bundle : script
}

/**
 * The compiled agent, found from this file's place in dist/ or in the sources: its bundle (preferBundle:
 * dist/agent/main.bundle.cached.js; far less start-up CPU than main.js's module graph), or dist/agent/main.js when it
 * was not bundled.
 */
export function defaultAgentCommand (): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  const inDist = resolve(here, '../../agent/main.js') // dist/manager/targets -> dist/agent/main.js
  const fromSources = resolve(here, '../../dist/agent/main.js') // manager/targets (through tsx) -> dist/agent/main.js
  return [process.execPath, ...AGENT_NODE_FLAGS, preferBundle(existsSync(inDist) ? inDist : fromSources)]
}

/** Variables of the DM's environment an agent it starts gets (besides the target's own): never the DM's secrets. */
export const AGENT_INHERITED_VARIABLES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'MODULEPATH'] as const

/**
 * The part of the DM's environment an agent process gets: AGENT_INHERITED_VARIABLES and the benchmarks'
 * `MESHCONF_BENCH_*` settings. The DM's token or broker URL (MESHCONF_TOKEN, MESHCONF_AMQP_URL...) would otherwise reach
 * every agent, and from there every recipe.
 */
export function agentEnvironment (env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue
    if ((AGENT_INHERITED_VARIABLES as readonly string[]).includes(name) || name.startsWith('MESHCONF_BENCH_')) out[name] = value
  }
  return out
}

/**
 * Starts `command... --params <paramsFile>` detached, output appended to `files.log`; writes `files.pid`. With
 * `options.launcher` (the local target's), the launcher process forks it, not this one (launcher.ts).
 */
export async function spawnAgent (command: string[], paramsFile: string, files: { log: string, pid: string },
  options: { env?: Record<string, string>, cwd?: string, launcher?: Launcher } = {}): Promise<AgentProcessRecord> {
  const env = { ...agentEnvironment(process.env), ...AGENT_ENVIRONMENT, ...options.env }
  if (options.launcher !== undefined) {
    // a DM killed before this write leaves an agent no pid file names: findAgent still finds it by its command line
    const pid = await options.launcher.launch([...command, '--params', paramsFile], files.log, { env, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) })
    const record = { pid, paramsFile }
    writeFileSync(files.pid, JSON.stringify(record))
    return record
  }
  const log = openSync(files.log, 'a')
  try {
    const child = spawn(command[0], [...command.slice(1), '--params', paramsFile], {
      cwd: options.cwd, env, detached: true, stdio: ['ignore', log, log]
    })
    // The record is written in the same turn as the spawn: a DM killed while waiting for the 'spawn' event would
    // otherwise leave an agent no pid file names (findAgent still finds it by its command line).
    const record = child.pid === undefined ? undefined : { pid: child.pid, paramsFile }
    if (record !== undefined) writeFileSync(files.pid, JSON.stringify(record))
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', err => { rmSync(files.pid, { force: true }); reject(err) })
    })
    child.unref()
    return record as AgentProcessRecord
  } finally {
    closeSync(log)
  }
}

export function readAgentRecord (pidFile: string): AgentProcessRecord | undefined {
  try {
    return JSON.parse(readFileSync(pidFile, 'utf8')) as AgentProcessRecord
  } catch {
    return undefined
  }
}

/**
 * The running agent of a machine: the one its pid file names, or else a process whose command line names its params
 * file (an agent spawned by a DM killed before it wrote the pid file: without this, a restarted DM would start a
 * second agent for the machine). The pid file is rewritten for what was found.
 */
export function findAgent (files: { pid: string, params: string }): AgentProcessRecord | undefined {
  const recorded = readAgentRecord(files.pid)
  if (recorded !== undefined && isAgentAlive(recorded)) return recorded
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const candidate = { pid: Number(entry), paramsFile: files.params }
    if (namesParams(candidate) && isAgentAlive(candidate)) {
      writeFileSync(files.pid, JSON.stringify(candidate))
      return candidate
    }
  }
  return undefined
}

/** True when the process's arguments hold `--params <its params file>`. */
function namesParams (record: AgentProcessRecord): boolean {
  try {
    const args = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0')
    return args.some((arg, i) => arg === '--params' && args[i + 1] === record.paramsFile)
  } catch {
    return false
  }
}

/** Alive, not a zombie, and still our agent. */
export function isAgentAlive (record: AgentProcessRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8')
    const state = stat.charAt(stat.lastIndexOf(')') + 2)
    if (state === 'Z' || state === 'X') return false
    return readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(record.paramsFile)
  } catch {
    return false
  }
}

/** SIGTERM to the agent's process group, SIGKILL after the grace time; resolves once it is gone. */
export async function stopAgent (record: AgentProcessRecord): Promise<void> {
  if (!isAgentAlive(record)) return
  signalGroup(record.pid, 'SIGTERM')
  const deadline = Date.now() + AGENT_STOP_GRACE_MS
  while (isAgentAlive(record) && Date.now() < deadline) await new Promise(r => setTimeout(r, EXIT_POLL_MS))
  if (isAgentAlive(record)) signalGroup(record.pid, 'SIGKILL')
  while (isAgentAlive(record)) await new Promise(r => setTimeout(r, EXIT_POLL_MS))
}

function signalGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try { process.kill(pid, signal) } catch { /* already gone */ }
  }
}

/**
 * Writes a machine's agent params (they hold its token) 0600 in its machine folder, made private (0700); the agent
 * makes its state folder (the pnet key goes there) 0700 itself when it starts. Asynchronous: the DM creates 100
 * machines at once, and a synchronous fsync each held its event loop between two creation requests (first to last
 * took ~50 ms a machine). Written in place, without the temporary file, fsyncs and rename of writeAtomically: nothing
 * reads the file before the agent is spawned after this write, a DM killed meanwhile writes it again when it creates
 * the machine again, and a power cut that could lose it stops the agent it is for.
 */
export async function writeAgentParams (files: ReturnType<typeof machineFiles>, params: object): Promise<void> {
  await ensurePrivateFolder(dirname(files.params))
  const handle = await open(files.params, 'w', PRIVATE_FILE_MODE)
  try {
    await handle.chmod(PRIVATE_FILE_MODE) // a file left by an earlier machine of that name kept its mode
    await handle.writeFile(JSON.stringify(params, null, 2))
  } finally {
    await handle.close()
  }
}

/** The files of one machine folder. */
export function machineFiles (folder: string): { params: string, log: string, pid: string, state: string } {
  return { params: join(folder, 'params.json'), log: join(folder, 'agent.log'), pid: join(folder, 'pid'), state: join(folder, 'state') }
}
