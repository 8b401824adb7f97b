// The `in-process` target (tests, simulations): each machine is an agent process's wiring (agent/main.ts
// createAgentProcess) inside the DM's process, linked through the messaging endpoint it is given, with its own state
// folder and, by default, a mesh over an in-memory hub shared by the target's agents. Like Roboconf's in-memory
// target, its machines die with the DM.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createAgentProcess, createMemoryMeshHub, type AgentProcess, type MeshFactory } from '../../agent/index.js'
import type { MachineParameters, TargetHandler } from './types.js'
import { stderrLogger, type Logger } from '../../common/log.js'

/** Default period of the in-process agents' heartbeats, in milliseconds. */
export const IN_PROCESS_HEARTBEAT_MS = 1_000

export interface InProcessTargetOptions {
  /** Folder holding one state folder per machine. */
  machinesDirectory: string
  /** Mesh of the agents; default a mesh over one in-memory hub shared by this target's agents. */
  meshFactory?: MeshFactory
  /** Heartbeat period, in milliseconds; default 1 000. */
  heartbeatIntervalMs?: number
  /** Address the agents report; default 127.0.0.1. */
  ipAddress?: string
  /** Where the agents log; default stderr. */
  logger?: Logger
}

export type InProcessTarget = TargetHandler & {
  /** The running agent of a machine (tests look inside). */
  agent (machineId: string): AgentProcess | undefined
}

export function createInProcessTarget (options: InProcessTargetOptions): InProcessTarget {
  const machines = new Map<string, { process: AgentProcess, folder: string }>()
  const meshFactory = options.meshFactory ?? createMemoryMeshHub().factory()
  const ipAddress = options.ipAddress ?? '127.0.0.1'
  const logger = options.logger ?? stderrLogger

  return {
    id: 'in-process',

    async create (params: MachineParameters): Promise<string> {
      const machineId = params.machineName
      const folder = join(options.machinesDirectory, machineId)
      mkdirSync(folder, { recursive: true })
      const agent = createAgentProcess({
        ...params.agent, stateDir: join(folder, 'state'), ipAddress, meshListenHost: ipAddress, meshListenPort: 0,
        heartbeatPeriodMs: options.heartbeatIntervalMs ?? IN_PROCESS_HEARTBEAT_MS
      }, { logger, meshFactory })
      machines.set(machineId, { process: agent, folder })
      await agent.start()
      return machineId
    },

    async isRunning (machineId: string): Promise<boolean> {
      return machines.has(machineId)
    },

    async terminate (machineId: string): Promise<void> {
      const machine = machines.get(machineId)
      if (machine === undefined) return
      machines.delete(machineId)
      await machine.process.stop()
      rmSync(machine.folder, { recursive: true, force: true })
    },

    async address (machineId: string): Promise<string | undefined> {
      return machines.has(machineId) ? ipAddress : undefined
    },

    /** Stops every agent (they live in the DM's process). */
    async close (): Promise<void> {
      const all = [...machines.values()]
      machines.clear()
      await Promise.all(all.map(async m => { await m.process.stop() }))
    },

    agent (machineId: string): AgentProcess | undefined {
      return machines.get(machineId)?.process
    }
  }
}
