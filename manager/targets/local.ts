// The `local` target: each machine is an agent child process on the DM's host, with its own folder
// (<machines folder>/<machine id>/: params.json, state/, agent.log, pid). The default target.
// The process is detached (own process group) so it survives a DM restart; its PID is kept in the machine folder,
// so a restarted DM still knows whether it runs, and sees an agent killed behind its back.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MachineParameters, TargetHandler } from './types.js'

/** Grace time between SIGTERM and SIGKILL when terminating an agent, in milliseconds. */
export const AGENT_STOP_GRACE_MS = 3_000
/** How often terminate() polls for the agent's exit, in milliseconds. */
const EXIT_POLL_MS = 25

/** The compiled agent entry (dist/agent/main.js), found from this file's place in dist/ or in the sources. */
export function defaultAgentCommand (): string[] {
  const here = dirname(fileURLToPath(import.meta.url))
  // dist/manager/targets -> dist/agent/main.js; manager/targets (sources through tsx) -> dist/agent/main.js
  const inDist = resolve(here, '../../agent/main.js')
  const fromSources = resolve(here, '../../dist/agent/main.js')
  return [process.execPath, existsSync(inDist) ? inDist : fromSources]
}

export interface LocalTargetOptions {
  /** Folder holding one sub-folder per machine (the DM's `<data dir>/machines`). */
  machinesDirectory: string
  /**
   * Command that starts an agent; `--params <file>` is appended. Default: `node dist/agent/main.js`.
   * Tests use `[process.execPath, '--import', 'tsx', 'agent/main.ts']` to run the sources.
   */
  agentCommand?: string[]
  /** Extra environment of the agents; default none (they inherit the DM's environment). */
  env?: Record<string, string>
  /** Working directory of the agents; default the DM's. */
  cwd?: string
}

interface PidFile { pid: number, paramsFile: string }

export class LocalMachineNameError extends Error {
  constructor (name: string) {
    super(`machine name ${JSON.stringify(name)} is not a safe folder name (letters, digits, '.', '_', '-' only)`)
    this.name = 'LocalMachineNameError'
  }
}

export function createLocalTarget (options: LocalTargetOptions): TargetHandler {
  const command = options.agentCommand ?? defaultAgentCommand()
  mkdirSync(options.machinesDirectory, { recursive: true })

  function folderOf (machineId: string): string {
    if (!/^[\w.-]+$/.test(machineId) || machineId.startsWith('.')) throw new LocalMachineNameError(machineId)
    return join(options.machinesDirectory, machineId)
  }

  function readPid (machineId: string): PidFile | undefined {
    try {
      return JSON.parse(readFileSync(join(folderOf(machineId), 'pid'), 'utf8')) as PidFile
    } catch {
      return undefined
    }
  }

  /** Alive, not a zombie, and still our agent (its command line names our params file: guards PID reuse). */
  function alive (record: PidFile): boolean {
    try {
      const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8')
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
      if (state === 'Z' || state === 'X') return false
      const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8')
      return cmdline.includes(record.paramsFile)
    } catch {
      return false
    }
  }

  return {
    id: 'local',

    async create (params: MachineParameters): Promise<string> {
      const machineId = params.machineName
      const folder = folderOf(machineId)
      const stateDirectory = join(folder, 'state')
      mkdirSync(stateDirectory, { recursive: true })
      const paramsFile = join(folder, 'params.json')
      writeFileSync(paramsFile, JSON.stringify({ ...params.agent, stateDirectory, ipAddress: params.agent.ipAddress ?? '127.0.0.1' }, null, 2))
      const log = openSync(join(folder, 'agent.log'), 'a')
      try {
        const child = spawn(command[0], [...command.slice(1), '--params', paramsFile], {
          cwd: options.cwd, env: { ...process.env, ...options.env }, detached: true, stdio: ['ignore', log, log]
        })
        const pid = await new Promise<number>((resolve, reject) => {
          child.once('spawn', () => resolve(child.pid as number))
          child.once('error', reject)
        })
        child.unref()
        writeFileSync(join(folder, 'pid'), JSON.stringify({ pid, paramsFile } satisfies PidFile))
      } finally {
        closeSync(log)
      }
      return machineId
    },

    async isRunning (machineId: string): Promise<boolean> {
      const record = readPid(machineId)
      return record !== undefined && alive(record)
    },

    async terminate (machineId: string): Promise<void> {
      const record = readPid(machineId)
      if (record !== undefined && alive(record)) {
        signalGroup(record.pid, 'SIGTERM')
        const deadline = Date.now() + AGENT_STOP_GRACE_MS
        while (alive(record) && Date.now() < deadline) await new Promise(r => setTimeout(r, EXIT_POLL_MS))
        if (alive(record)) signalGroup(record.pid, 'SIGKILL')
        while (alive(record)) await new Promise(r => setTimeout(r, EXIT_POLL_MS))
      }
      rmSync(folderOf(machineId), { recursive: true, force: true })
    },

    async address (machineId: string): Promise<string | undefined> {
      return existsSync(folderOf(machineId)) ? '127.0.0.1' : undefined
    }
  }
}

/** Signals the agent's process group (it runs recipes as children), else the agent alone. */
function signalGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try { process.kill(pid, signal) } catch { /* already gone */ }
  }
}
