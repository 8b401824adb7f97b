// The `local` target, the default: each machine is an agent child process on the DM's host, with its own folder
// (<machines folder>/<machine id>/: params.json, state/, agent.log, pid). Processes are detached so they survive a
// DM restart; the pid file lets a restarted DM know whether they run, and see an agent killed behind its back.
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createLauncher } from './launcher.js'
import { defaultAgentCommand, findAgent, machineFiles, spawnAgent, stopAgent, writeAgentParams } from './process.js'
import type { AgentParams } from '../../protocol/agent-params.js'
import type { MachineParameters, TargetHandler } from './types.js'

export interface LocalTargetOptions {
  /** Folder holding one sub-folder per machine (the DM's `<data dir>/machines/local`). */
  machinesDirectory: string
  /**
   * Command that starts an agent; `--params <file>` is appended. Default: `node dist/agent/main.bundle.cached.js` (defaultAgentCommand).
   * Tests use `[process.execPath, '--import', 'tsx', 'agent/main.ts']` to run the sources.
   */
  agentCommand?: string[]
  /** Extra environment of the agents; default none (they inherit the DM's environment). */
  env?: Record<string, string>
  /** Working directory of the agents; default the DM's. */
  cwd?: string
  /** Heartbeat period of the agents, in milliseconds; default the agent's (5 000). */
  heartbeatPeriodMs?: number
}

/** A machine id that could name a folder outside the machines folder. */
export class MachineNameError extends Error {
  constructor (name: string) {
    super(`machine name ${JSON.stringify(name)} is not a safe folder name (letters, digits, '.', '_', '-' only, not starting with '.')`)
    this.name = 'MachineNameError'
  }
}

/** The folder of a machine, refusing ids that could escape `machinesDirectory`. */
export function machineFolder (machinesDirectory: string, machineId: string): string {
  if (!/^[\w.-]+$/.test(machineId) || machineId.startsWith('.')) throw new MachineNameError(machineId)
  return join(machinesDirectory, machineId)
}

export function createLocalTarget (options: LocalTargetOptions): TargetHandler {
  const command = options.agentCommand ?? defaultAgentCommand()
  // agents are forked by a small launcher process, not by the DM (launcher.ts)
  const launcher = createLauncher()

  return {
    id: 'local',

    async create (params: MachineParameters): Promise<string> {
      const machineId = params.machineName
      const files = machineFiles(machineFolder(options.machinesDirectory, machineId))
      const agentParams: Partial<AgentParams> = {
        ...params.agent, stateDir: files.state, ipAddress: '127.0.0.1', heartbeatPeriodMs: options.heartbeatPeriodMs
      }
      await writeAgentParams(files, agentParams)
      await spawnAgent(command, files.params, files, { env: options.env, cwd: options.cwd, launcher })
      return machineId
    },

    async isRunning (machineId: string): Promise<boolean> {
      return findAgent(machineFiles(machineFolder(options.machinesDirectory, machineId))) !== undefined
    },

    async terminate (machineId: string): Promise<void> {
      const folder = machineFolder(options.machinesDirectory, machineId)
      const record = findAgent(machineFiles(folder))
      if (record !== undefined) await stopAgent(record)
      rmSync(folder, { recursive: true, force: true })
    },

    launcherCpuMs: () => launcher.cpuMs(),

    async close (): Promise<void> {
      await launcher.close()
    },

    async address (machineId: string): Promise<string | undefined> {
      return existsSync(machineFolder(options.machinesDirectory, machineId)) ? '127.0.0.1' : undefined
    }
  }
}
