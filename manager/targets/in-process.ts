// The `in-process` target (tests, simulations): each machine is an agent (agent/agent.ts) inside the DM's process,
// linked to the DM through the messaging endpoint it is given, with its own state folder and, by default, a mesh of
// an in-memory hub shared by the target's agents. Like Roboconf's in-memory target, its machines die with the DM.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createAgent, type Agent } from '../../agent/agent.js'
import { createAgentLink, type AgentLink } from '../../agent/link/index.js'
import { createMemoryMeshHub } from '../../agent/mesh/memory.js'
import type { MeshFactory } from '../../agent/ports.js'
import type { MachineParameters, TargetHandler } from './types.js'

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
}

interface Machine {
  agent: Agent
  link: AgentLink
  timer: NodeJS.Timeout
  folder: string
}

export function createInProcessTarget (options: InProcessTargetOptions): TargetHandler & { agent (machineId: string): Agent | undefined } {
  const machines = new Map<string, Machine>()
  const meshFactory = options.meshFactory ?? createMemoryMeshHub().factory()
  const ipAddress = options.ipAddress ?? '127.0.0.1'

  async function stopMachine (machine: Machine): Promise<void> {
    clearInterval(machine.timer)
    await machine.agent.stop()
    await machine.link.stop()
  }

  return {
    id: 'in-process',

    async create (params: MachineParameters): Promise<string> {
      const machineId = params.machineName
      const { application, scopedInstancePath, endpoint } = params.agent
      const folder = join(options.machinesDirectory, machineId)
      mkdirSync(folder, { recursive: true })
      const link = createAgentLink({ endpoint, application, scopedInstancePath })
      const agent = createAgent({
        stateDir: join(folder, 'state'),
        meshFactory,
        notifier: {
          instanceChanged: (instancePath, status, imports, problem) => {
            void link.send({ v: 1, kind: 'instanceChanged', application, instancePath, status, imports, ...(problem !== undefined ? { problem } : {}) })
          },
          instanceRemoved: instancePath => { void link.send({ v: 1, kind: 'instanceRemoved', application, instancePath }) }
        }
      }, { ipAddress })
      link.onMessage(async message => { await agent.handle(message) })
      // the peer id the DM signs ownership for; unique per machine in the in-memory mesh
      const peerId = `in-process-${machineId}`
      const beat = (): void => {
        void link.send({
          v: 1, kind: 'heartbeat', application, scopedInstancePath, ipAddress, modelRequired: agent.modelRequired(),
          peerId, listenAddresses: agent.meshAddresses()
        })
      }
      await agent.start()
      await link.start()
      const timer = setInterval(beat, options.heartbeatIntervalMs ?? IN_PROCESS_HEARTBEAT_MS)
      timer.unref()
      machines.set(machineId, { agent, link, timer, folder })
      beat()
      return machineId
    },

    async isRunning (machineId: string): Promise<boolean> {
      return machines.has(machineId)
    },

    async terminate (machineId: string): Promise<void> {
      const machine = machines.get(machineId)
      if (machine === undefined) return
      machines.delete(machineId)
      await stopMachine(machine)
      rmSync(machine.folder, { recursive: true, force: true })
    },

    async address (machineId: string): Promise<string | undefined> {
      return machines.has(machineId) ? ipAddress : undefined
    },

    /** Stops every agent (they live in the DM's process). */
    async close (): Promise<void> {
      const all = [...machines.values()]
      machines.clear()
      await Promise.all(all.map(stopMachine))
    },

    agent (machineId: string): Agent | undefined {
      return machines.get(machineId)?.agent
    }
  }
}
