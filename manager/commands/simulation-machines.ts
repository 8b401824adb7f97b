// What a `meshconf simulate` story reads and does in its machines' folders without the DM: an agent's persisted
// states, its services' pids and logs, kill -9 of a machine, and the clean-up of whatever outlived the run.
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { INSTANCES_FOLDER, STATE_FILE_NAME } from '../../protocol/agent-layout.js'
import { statusOf, type InstanceStatus } from '../../protocol/lifecycle.js'
import { MACHINES_FOLDER } from '../constants.js'
import { isAgentAlive, machineFiles, readAgentRecord, stopAgent } from '../targets/process.js'
import { SimulationCheckError, poll } from './simulation-steps.js'

/** An instance's status as the agent of `folder` persisted it (read without the DM); undefined when unknown. */
export function agentStatus (folder: string, path: string): InstanceStatus | undefined {
  let saved: { model?: { instance?: StatusNode } }
  try {
    saved = JSON.parse(readFileSync(join(machineFiles(folder).state, STATE_FILE_NAME), 'utf8'))
  } catch {
    return undefined
  }
  const find = (node: StatusNode | undefined): StatusNode | undefined =>
    node === undefined || node.path === path ? node : node.children?.map(find).find(n => n !== undefined)
  const found = find(saved.model?.instance)
  return found === undefined ? undefined : statusOf(found)
}

interface StatusNode { path: string, status?: InstanceStatus, children?: StatusNode[] }

/** The pids in the run/*.pid files of a machine's instances (the services its recipes started). */
export function servicePids (folder: string): number[] {
  const instances = join(machineFiles(folder).state, INSTANCES_FOLDER)
  const pids: number[] = []
  for (const instance of safeReaddir(instances)) {
    const run = join(instances, instance, 'run')
    for (const file of safeReaddir(run).filter(f => f.endsWith('.pid'))) {
      const pid = Number(readFileSync(join(run, file), 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0) pids.push(pid)
    }
  }
  return pids
}

/** kill -9 of a machine's agent (its process group: running recipes too) and of its services; returns what restarts it. */
export async function killMachine (folder: string, target: string): Promise<{ pid: number, services: number[], argv: string[], namespace?: string }> {
  const record = readAgentRecord(machineFiles(folder).pid)
  if (record === undefined || !isAgentAlive(record)) {
    throw new SimulationCheckError(`no running agent in ${folder} (pid file: ${record === undefined ? 'none' : JSON.stringify(record)}; folder: ${safeReaddir(folder).join(' ')})`)
  }
  const argv = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0').filter(a => a !== '')
  const paramsAt = argv.lastIndexOf('--params')
  const command = paramsAt >= 0 ? argv.slice(0, paramsAt) : argv
  const namespace = target === 'netns' ? await agentNamespace(folder) : undefined
  const services = servicePids(folder)
  for (const pid of [-record.pid, record.pid, ...services]) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
  await poll('the killed agent gone', 10_000, async () => {
    if (isAgentAlive(record)) throw new SimulationCheckError(`agent ${record.pid} still alive`)
  })
  return { pid: record.pid, services, argv: command, ...(namespace !== undefined ? { namespace } : {}) }
}

/** The network namespace the agent of a machine's folder runs in (netns target). */
export async function agentNamespace (folder: string): Promise<string> {
  const record = readAgentRecord(machineFiles(folder).pid)
  if (record === undefined || !isAgentAlive(record)) throw new SimulationCheckError(`no running agent in ${folder}`)
  const namespace = (await promisify(execFile)('ip', ['netns', 'identify', String(record.pid)])).stdout.trim()
  if (namespace === '') throw new SimulationCheckError(`the agent ${record.pid} of ${folder} runs in no named network namespace`)
  return namespace
}

/** True while the process exists and has not exited (a zombie waiting for its reaper is gone). */
export function isRunning (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z'
  } catch {
    return false
  }
}

/** Copies each machine's agent.log and its services' logs to `<logs>/<machine>/`, for a look after the run. */
export function copyLogs (machinesRoot: string, logs: string): void {
  for (const target of safeReaddir(machinesRoot)) {
    for (const machine of safeReaddir(join(machinesRoot, target))) {
      const folder = join(machinesRoot, target, machine)
      mkdirSync(join(logs, machine), { recursive: true })
      if (existsSync(machineFiles(folder).log)) copyFileSync(machineFiles(folder).log, join(logs, machine, 'agent.log'))
    }
  }
  for (const log of serviceLogs(machinesRoot)) copyFileSync(log.file, join(logs, log.machine, `${log.instance}-${log.name}`))
}

/** The services' logs (run/*.log of every instance) under a DM's machines folder (`<data>/machines`). */
function serviceLogs (machinesRoot: string): Array<{ machine: string, instance: string, name: string, file: string }> {
  const found: Array<{ machine: string, instance: string, name: string, file: string }> = []
  for (const target of safeReaddir(machinesRoot)) {
    for (const machine of safeReaddir(join(machinesRoot, target))) {
      const instances = join(machineFiles(join(machinesRoot, target, machine)).state, INSTANCES_FOLDER)
      for (const instance of safeReaddir(instances)) {
        const run = join(instances, instance, 'run')
        for (const name of safeReaddir(run).filter(f => f.endsWith('.log'))) found.push({ machine, instance, name, file: join(run, name) })
      }
    }
  }
  return found
}

/** The last `lines` lines of every service's log, one block per service: what a failed step shows. */
export function serviceLogTails (machinesRoot: string, lines: number): string {
  return serviceLogs(machinesRoot).map(log => {
    let text = ''
    try { text = readFileSync(log.file, 'utf8') } catch { /* gone with its machine */ }
    return `[${log.instance} ${log.name}] ${text.trimEnd().split('\n').slice(-lines).join(' | ')}`
  }).join('; ')
}

/**
 * The end of a story's run, its DM stopped: every agent and service left is killed (killLeftovers), the DM's log
 * closed, and the data folder removed unless kept.
 */
export async function endRun (dataDirectory: string, dmLog: WriteStream, keepData: boolean): Promise<void> {
  await killLeftovers(join(dataDirectory, MACHINES_FOLDER))
  await new Promise(resolve => dmLog.end(resolve))
  if (!keepData) rmSync(dataDirectory, { recursive: true, force: true })
}

/**
 * Stops every agent and service (run/*.pid of their instances) left under a DM's machines folder
 * (`<data>/machines`), after a failed step or test.
 */
export async function killLeftovers (machinesRoot: string): Promise<void> {
  for (const target of safeReaddir(machinesRoot)) {
    for (const machine of safeReaddir(join(machinesRoot, target))) {
      const folder = join(machinesRoot, target, machine)
      const record = readAgentRecord(machineFiles(folder).pid)
      if (record !== undefined) await stopAgent(record)
      for (const pid of servicePids(folder)) {
        try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
      }
    }
  }
  // A service whose pid file is gone already (its stop recipe removed it before the process was out) or not yet
  // written (killed while starting) is found by the machines' folder on its command line.
  for (const pid of processesMentioning(machinesRoot + '/')) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
}

/** The processes (but this one) whose command line holds `text`, read from /proc; none where there is no /proc. */
function processesMentioning (text: string): number[] {
  const pids: number[] = []
  for (const entry of safeReaddir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(text)) pids.push(pid)
    } catch { /* gone meanwhile */ }
  }
  return pids
}

export function safeReaddir (folder: string): string[] {
  try {
    return readdirSync(folder)
  } catch {
    return []
  }
}
