// The `existing` target: machines that are already there, e.g. VMs booted from an image that carries the agent's
// systemd unit (deploy/meshconf-agent.service), like Roboconf's "embedded" target. Creating such a machine starts
// nothing: the DM writes the machine's agent params (what the user data puts in /etc/meshconf/agent.json,
// deploy/cloud-init-user-data.yaml) to `<machines folder>/<machine id>/agent.json` and logs where, and the operator
// hands that file to the machine. The machine runs while its agent beats; terminating it forgets it (its agent's
// later heartbeats are ignored as stale; the operator stops the agent or the VM).
//
// Properties of a target definition with this handler (all optional):
//   agent.state-dir    the agent's state folder on the machine; default /var/lib/meshconf/agent (the unit's
//                      StateDirectory)
//   agent.ip-address   the machine's address (exported `ip` variables, the mesh's listen address); default: none,
//                      the agent takes the machine's first non-loopback IPv4 address
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import type { AgentParams } from '../../protocol/agent-params.js'
import { DEFAULT_MACHINE_SILENCE_MS } from '../constants.js'
import type { Logger } from '../../common/log.js'
import type { Store } from '../store.js'
import { machineFolder } from './local.js'
import type { MachineParameters, TargetHandler } from './types.js'

/** The agent's state folder on the machine when the target does not say (the systemd unit's StateDirectory). */
export const EXISTING_AGENT_STATE_DIR = '/var/lib/meshconf/agent'
/** Name of the params file in a machine's folder (the machine reads it as /etc/meshconf/agent.json). */
export const EXISTING_PARAMS_FILE = 'agent.json'
/** Target properties read by this handler. */
export const EXISTING_STATE_DIR_PROPERTY = 'agent.state-dir'
export const EXISTING_IP_ADDRESS_PROPERTY = 'agent.ip-address'
/** How often isRunning looks for a new heartbeat, in milliseconds. */
const HEARTBEAT_POLL_MS = 250

/** A target property with a value the agent could not use. */
export class ExistingTargetPropertyError extends Error {
  constructor (target: string, property: string, value: string, expected: string) {
    super(`target ${target} (existing): property ${property} = ${JSON.stringify(value)} is not ${expected}; fix the target definition`)
    this.name = 'ExistingTargetPropertyError'
  }
}

export interface ExistingTargetOptions {
  /** Folder holding one sub-folder per machine (the DM's `<data dir>/machines/existing`). */
  machinesDirectory: string
  /** Where the DM records its agents' heartbeats (the DM's store). */
  agents: Pick<Store, 'agents'>
  /**
   * How recent a heartbeat must be for the machine to count as running, and how long isRunning waits for one when
   * the last is older (a DM just restarted hears its agents again within a few beats), in milliseconds; default
   * 30 000 (the DM's machine silence).
   */
  heartbeatWindowMs?: number
  /** Where the params files are announced; default the console. */
  log?: Logger
}

/** The params a machine's agent needs (agent/params.ts), as the DM hands them over. */
export type ExistingMachineParams = Pick<AgentParams, 'application' | 'scopedInstancePath' | 'stateDir' | 'messaging'> & { ipAddress?: string }

export function createExistingTarget (options: ExistingTargetOptions): TargetHandler {
  const log = options.log ?? console
  const windowMs = options.heartbeatWindowMs ?? DEFAULT_MACHINE_SILENCE_MS
  const paramsFile = (machineId: string): string => join(machineFolder(options.machinesDirectory, machineId), EXISTING_PARAMS_FILE)

  const readParams = (machineId: string): ExistingMachineParams | undefined => {
    try {
      return JSON.parse(readFileSync(paramsFile(machineId), 'utf8')) as ExistingMachineParams
    } catch {
      return undefined
    }
  }

  /** When the machine's agent last beat, in ms since the epoch, as the DM recorded it. */
  const lastHeartbeat = (params: ExistingMachineParams): number | undefined => {
    const agent = options.agents.agents(params.application).find(a => a.scopedInstancePath === params.scopedInstancePath)
    return agent === undefined ? undefined : Date.parse(agent.lastHeartbeatAt)
  }

  return {
    id: 'existing',

    async create (params: MachineParameters): Promise<string> {
      const { target } = params
      const ipAddress = target.properties[EXISTING_IP_ADDRESS_PROPERTY]
      if (ipAddress !== undefined && isIP(ipAddress) === 0) {
        throw new ExistingTargetPropertyError(target.id, EXISTING_IP_ADDRESS_PROPERTY, ipAddress, 'an IPv4 or IPv6 address')
      }
      const stateDir = target.properties[EXISTING_STATE_DIR_PROPERTY] ?? EXISTING_AGENT_STATE_DIR
      if (!stateDir.startsWith('/')) {
        throw new ExistingTargetPropertyError(target.id, EXISTING_STATE_DIR_PROPERTY, stateDir, 'an absolute folder path')
      }
      const machineId = params.machineName
      const agentParams: ExistingMachineParams = { ...params.agent, stateDir, ...(ipAddress !== undefined ? { ipAddress } : {}) }
      mkdirSync(machineFolder(options.machinesDirectory, machineId), { recursive: true, mode: 0o700 })
      // the token lets the machine speak for the application's agents: readable by the DM's user only
      writeFileSync(paramsFile(machineId), JSON.stringify(agentParams, null, 2) + '\n', { mode: 0o600 })
      log.info(`machine ${machineId} (${params.agent.scopedInstancePath} of ${params.agent.application}, target ${target.id}): ` +
        `give the machine ${paramsFile(machineId)} as /etc/meshconf/agent.json and start its agent ` +
        '(deploy/cloud-init-user-data.yaml, deploy/meshconf-agent.service); it is running once its agent beats',
        { application: params.agent.application, path: params.agent.scopedInstancePath })
      return machineId
    },

    async isRunning (machineId: string): Promise<boolean> {
      const params = readParams(machineId)
      if (params === undefined) return false
      const deadline = Date.now() + windowMs
      for (;;) {
        const beat = lastHeartbeat(params)
        if (beat !== undefined && Date.now() - beat <= windowMs) return true
        if (Date.now() >= deadline) return false
        await new Promise(resolve => setTimeout(resolve, HEARTBEAT_POLL_MS))
      }
    },

    async terminate (machineId: string): Promise<void> {
      const folder = machineFolder(options.machinesDirectory, machineId)
      if (!existsSync(folder)) return
      rmSync(folder, { recursive: true, force: true })
      log.info(`machine ${machineId} forgotten: the DM ignores its agent from now on; stop the agent (systemctl stop meshconf-agent) or the machine`)
    },

    async address (machineId: string): Promise<string | undefined> {
      // without a configured address, the agent's heartbeats report it
      return readParams(machineId)?.ipAddress
    },

    async agentParams (machineId: string): Promise<ExistingMachineParams | undefined> {
      return readParams(machineId)
    }
  }
}
