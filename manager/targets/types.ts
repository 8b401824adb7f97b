// Target handlers: how the DM creates, checks and terminates the machine of a scoped instance (Roboconf's
// TargetHandler, reference §1.3). A handler hands the agent its start parameters the way a cloud hands a VM its
// user data; cloud handlers (EC2, OpenStack, …) fit the same interface.
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import type { TargetDefinition } from '../../protocol/model/types.js'

/**
 * What the DM gives every agent; the target completes it (state folder, address …) into the agent's params
 * (agent/params.ts) and hands it over the way a cloud hands a VM its user data.
 */
export interface AgentStartParameters {
  application: string
  scopedInstancePath: string
  /** Where the agent reaches the DM's messaging (`DmMessaging.agentEndpoint(application)`). */
  messaging: AgentEndpoint
  /** The agent's metrics port (agent/params.ts `metricsPort`; 0: any free port); default none: no metrics. */
  metricsPort?: number
}

export interface MachineParameters {
  /** The target definition (its properties configure the handler). */
  target: TargetDefinition
  /**
   * A name the DM chose and stored before asking for the machine, unique in this DM. Handlers that name their
   * machines themselves use it as the machine id, so that a DM restarted in the middle of a creation can still
   * find the machine.
   */
  machineName: string
  agent: AgentStartParameters
}

export interface TargetHandler {
  /** The handler name targets refer to (`handler` of a target definition): `local`, `netns`, `existing`, `in-process`. */
  readonly id: string
  /** Creates the machine and starts its agent; resolves with the machine id once the creation is under way. */
  create (params: MachineParameters): Promise<string>
  /** Post-creation configuration (cloud handlers: wait for the VM, attach volumes …). */
  configure? (params: MachineParameters, machineId: string): Promise<void>
  /** True while the machine exists and its agent runs; used after a DM restart and to see killed machines. */
  isRunning (machineId: string): Promise<boolean>
  /** Stops the agent and deletes the machine; a machine already gone is not an error. */
  terminate (machineId: string): Promise<void>
  /** The machine's IP address, when the handler knows it (the agent also reports its own). */
  address (machineId: string): Promise<string | undefined>
  /**
   * The params to hand the machine's agent (agent/params.ts: its user data), for handlers whose machines the operator
   * boots (`existing`); undefined for an unknown machine. Handlers that start their agents themselves leave it out.
   */
  agentParams? (machineId: string): Promise<object | undefined>
  /**
   * CPU time of the processes the handler runs beside the DM to start machines (the local target's launcher), in ms:
   * what a cloud's API would spend. Handlers without any leave it out.
   */
  launcherCpuMs? (): number
  /** Releases what the handler holds in the DM's process; machines keep running (the DM may restart). */
  close? (): Promise<void>
}
