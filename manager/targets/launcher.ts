// The DM's side of the local target's launcher (launcher-main.ts): one small process, started at the first machine,
// that forks the agent processes so that the DM does not (a fork of the DM costs it about 2 ms of CPU a machine, page
// tables and copy-on-write faults; the launcher's is smaller, and it is the host's cost, as a cloud's API spends it).
// Its CPU is reported apart (`cpuMs`, the deploy benchmark's `launcher_cpu_ms_per_machine`).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { agentEnvironment } from './process.js'

/** The agent process could not be started (the command is missing, the log folder is gone...). */
export class LaunchError extends Error {
  constructor (command: string, message: string, readonly code?: string) {
    super(`cannot start ${command}: ${message}`)
    this.name = 'LaunchError'
  }
}

export interface Launcher {
  /** Starts `command` detached, output appended to `log`; resolves with its pid once it runs. */
  launch (command: string[], log: string, options: { env: Record<string, string>, cwd?: string }): Promise<number>
  /** CPU time the launcher processes used so far (user + system, their children not included), in ms. */
  cpuMs (): number
  /** Stops the launcher (its agents keep running). */
  close (): Promise<void>
}

/** The compiled launcher, found from this file's place in dist/ or in the sources (as defaultAgentCommand does). */
function launcherScript (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const inDist = resolve(here, 'launcher-main.js')
  return existsSync(inDist) ? inDist : resolve(here, '../../dist/manager/targets/launcher-main.js')
}

/** CPU time of a process, user + system, from /proc (0 once it is gone), in ms. */
function processCpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state (field 3)
    return (Number(fields[11]) + Number(fields[12])) * 1000 / 100
  } catch {
    return 0
  }
}

export function createLauncher (): Launcher {
  let child: ChildProcess | undefined
  let nextId = 0
  const pending = new Map<number, { resolve: (pid: number) => void, reject: (err: Error) => void, command: string }>()
  /** CPU of launchers that exited (a new one starts at the next request). */
  let pastCpuMs = 0
  let lastCpuMs = 0

  // Holds the DM's event loop only while requests wait: an idle launcher does not keep a DM process alive.
  const hold = (launcher: ChildProcess): void => {
    const streams = [launcher.stdin, launcher.stdout] as unknown as Array<{ ref?: () => void, unref?: () => void }>
    if (pending.size > 0) { launcher.ref(); streams.forEach(s => s.ref?.()) } else { launcher.unref(); streams.forEach(s => s.unref?.()) }
  }

  function start (): ChildProcess {
    // not the DM's environment: its token and broker URL must not reach the launcher (each agent gets its own)
    const started = spawn(process.execPath, [launcherScript()], { stdio: ['pipe', 'pipe', 'inherit'], env: agentEnvironment(process.env) })
    const pid = started.pid
    createInterface({ input: started.stdout as NodeJS.ReadableStream }).on('line', line => {
      let reply: { id?: number, pid?: number, error?: string, code?: string }
      try {
        reply = JSON.parse(line)
      } catch {
        return
      }
      const waiting = reply.id === undefined ? undefined : pending.get(reply.id)
      if (waiting === undefined || reply.id === undefined) return
      pending.delete(reply.id)
      if (reply.pid !== undefined) waiting.resolve(reply.pid)
      else waiting.reject(new LaunchError(waiting.command, reply.error ?? 'unknown error', reply.code))
      hold(started)
    })
    started.stdin?.on('error', () => {}) // a launcher gone: 'exit' below fails what waits
    started.on('error', err => failAll(started, err))
    started.on('exit', () => failAll(started, new Error('the launcher exited')))
    const failAll = (which: ChildProcess, err: Error): void => {
      if (child !== which) return
      if (pid !== undefined) pastCpuMs += lastCpuMs
      lastCpuMs = 0
      child = undefined
      for (const [id, waiting] of pending) {
        pending.delete(id)
        waiting.reject(new LaunchError(waiting.command, err.message))
      }
    }
    return started
  }

  return {
    async launch (command, log, options) {
      if (child === undefined) child = start()
      const id = nextId++
      const running = child
      const result = new Promise<number>((resolve, reject) => pending.set(id, { resolve, reject, command: command[0] }))
      hold(running)
      running.stdin?.write(JSON.stringify({ id, command, log, env: options.env, cwd: options.cwd }) + '\n')
      return await result
    },
    cpuMs () {
      if (child?.pid !== undefined) lastCpuMs = Math.max(lastCpuMs, processCpuMs(child.pid))
      return pastCpuMs + lastCpuMs
    },
    async close () {
      const running = child
      if (running === undefined) return
      this.cpuMs()
      const exited = new Promise<void>(resolve => running.once('exit', () => resolve()))
      running.ref() // until it is gone
      running.stdin?.end()
      await exited
    }
  }
}
