// An agent's mesh view for its operator: the agent process keeps its pid in `<stateDir>/agent.pid` and, on SIGUSR2,
// writes its view to `<stateDir>/view.json` (atomically: a reader never sees half a document); `meshconf agent view`
// signals it and reads the file. Light on purpose: the CLI loads it without libp2p.
import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { AgentMeshView } from './mesh/domain.js'
import { AGENT_PID_FILE, AGENT_VIEW_FILE } from './constants.js'
import { writeAtomically } from '../common/fs.js'

/** The signal on which an agent process writes its view. */
export const VIEW_SIGNAL = 'SIGUSR2'

/**
 * What `agent.pid` holds: the agent's pid and its params file as its command line names it, which tells the agent
 * from a process that reused the pid (manager/targets/process.ts isAgentAlive).
 */
export interface AgentPidRecord { pid: number, paramsFile: string }

/** What `view.json` holds. */
export interface AgentViewDocument {
  pid: number
  /** When the agent wrote it, in ms since 1970. */
  writtenAt: number
  application: string
  scopedInstancePath: string
  /**
   * The mesh's view, with the domain exchange's part (`domain`) when the agent exports or imports across
   * applications; null while the agent waits for its model (its mesh starts with it).
   */
  mesh: AgentMeshView | null
}

export const pidFileOf = (stateDir: string): string => join(stateDir, AGENT_PID_FILE)
export const viewFileOf = (stateDir: string): string => join(stateDir, AGENT_VIEW_FILE)

export async function writePidFile (stateDir: string, paramsFile: string): Promise<void> {
  const record: AgentPidRecord = { pid: process.pid, paramsFile }
  await writeAtomically(pidFileOf(stateDir), JSON.stringify(record) + '\n')
}

/** Removes the pid file if it still names this process (a newer agent on the same folder keeps its own). */
export async function removePidFile (stateDir: string): Promise<void> {
  if ((await readPidFile(stateDir))?.pid === process.pid) await unlink(pidFileOf(stateDir)).catch(() => {})
}

export async function readPidFile (stateDir: string): Promise<AgentPidRecord | undefined> {
  const record = await readJson<Partial<AgentPidRecord>>(pidFileOf(stateDir))
  return Number.isSafeInteger(record?.pid) && typeof record?.paramsFile === 'string' ? record as AgentPidRecord : undefined
}

export async function writeViewFile (stateDir: string, document: AgentViewDocument): Promise<void> {
  await writeAtomically(viewFileOf(stateDir), JSON.stringify(document, null, 2) + '\n')
}

export async function readViewFile (stateDir: string): Promise<AgentViewDocument | undefined> {
  return await readJson<AgentViewDocument>(viewFileOf(stateDir))
}

async function readJson<T> (file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}
