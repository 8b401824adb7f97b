// `meshconf logs`: an agent's recent log, gathered through the link (getLogs, answered by logs), and, for a machine
// that was terminated, the last KEPT_LOG_BYTES of its log that the DM kept under its data folder before terminating
// it (a post-mortem needs them: the local target deletes the machine's folder).
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toAgent, type AgentLogLine, type AgentToDmMessage } from '../../protocol/messages.js'
import { KEPT_LOG_BYTES, KEPT_LOGS_FOLDER, LOGS_ANSWER_TIMEOUT_MS, LOGS_MAX_PAGES } from '../constants.js'
import { LogsUnavailableError } from '../errors.js'
import type { DmCore } from './core.js'
import { hasNoMachine } from './model.js'
import type { AgentSessions } from './sessions.js'

export interface LogsQuery {
  /** Only lines after this sequence number (a cursor, for --follow). */
  afterSeq?: number
  /** Only the last `tail` lines. */
  tail?: number
  /** Only the lines of this instance and its subtree. */
  instance?: string
}

export interface MachineLogs {
  lines: AgentLogLine[]
  /** The sequence number of the agent's last line: the cursor of the next read. */
  lastSeq: number
  /** True when the lines come from what the DM kept of a terminated machine. */
  kept: boolean
}

export interface Logs {
  read (application: string, machinePath: string, query: LogsQuery): Promise<MachineLogs>
  /** Gathers a machine's whole recent log into the DM's data folder (before terminating it). */
  keep (application: string, machinePath: string): Promise<void>
  /** An agent's answer. */
  answer (msg: Extract<AgentToDmMessage, { kind: 'logs' }>): void
}

function fileName (text: string): string {
  return encodeURIComponent(text).replace(/\./g, '%2E')
}

export function createLogs (core: DmCore, sessions: AgentSessions): Logs {
  const waiting = new Map<string, { resolve: (answer: MachineLogs) => void, machine: string }>()

  function keptFile (application: string, machinePath: string): string | undefined {
    const dir = core.settings.dataDirectory
    return dir === undefined ? undefined : join(dir, KEPT_LOGS_FOLDER, fileName(application), `${fileName(machinePath)}.jsonl`)
  }

  async function ask (application: string, machinePath: string, query: LogsQuery): Promise<MachineLogs> {
    const requestId = randomBytes(8).toString('hex')
    const answered = new Promise<MachineLogs>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(requestId)
        reject(new LogsUnavailableError(application, machinePath, `its agent did not answer within ${LOGS_ANSWER_TIMEOUT_MS} ms`))
      }, LOGS_ANSWER_TIMEOUT_MS)
      waiting.set(requestId, { machine: `${application}\u0000${machinePath}`, resolve: answer => { clearTimeout(timer); resolve(answer) } })
    })
    await core.messaging.sendToAgent(application, machinePath, toAgent({
      kind: 'getLogs', requestId,
      ...(query.afterSeq !== undefined ? { afterSeq: query.afterSeq } : {}),
      ...(query.tail !== undefined ? { tail: query.tail } : {}),
      ...(query.instance !== undefined ? { instance: query.instance } : {})
    }))
    return await answered
  }

  function readKept (application: string, machinePath: string, query: LogsQuery): MachineLogs | undefined {
    const file = keptFile(application, machinePath)
    if (file === undefined || !existsSync(file)) return undefined
    let lines = readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as AgentLogLine)
    const lastSeq = lines.at(-1)?.seq ?? 0
    if (query.afterSeq !== undefined) lines = lines.filter(l => l.seq > (query.afterSeq as number))
    if (query.instance !== undefined) {
      const path = query.instance
      lines = lines.filter(l => l.instance !== undefined && (l.instance === path || l.instance.startsWith(`${path}/`)))
    }
    if (query.tail !== undefined) lines = lines.slice(-query.tail)
    return { lines, lastSeq, kept: true }
  }

  return {
    async read (application, machinePath, query) {
      const template = core.templateOf(core.requireApplication(application))
      const machine = core.scopedInstanceOf(application, template, machinePath)
      const session = sessions.find(application, machine.path)
      if (!hasNoMachine(machine) && session?.ready === true) return await ask(application, machine.path, query)
      const kept = readKept(application, machine.path, query)
      if (kept !== undefined) return kept
      throw new LogsUnavailableError(application, machine.path, hasNoMachine(machine)
        ? 'it has no machine, and the DM kept no log of an earlier one'
        : 'its agent is not connected yet (no model sent): try again once the machine is DEPLOYED_STARTED')
    },

    async keep (application, machinePath) {
      const file = keptFile(application, machinePath)
      if (file === undefined) return
      const lines: AgentLogLine[] = []
      let afterSeq = 0
      // an answer carries a bounded part of the agent's log: read on from the last line until its end
      for (let page = 0; page < LOGS_MAX_PAGES; page++) {
        const answer = await ask(application, machinePath, { afterSeq })
        lines.push(...answer.lines)
        if (answer.lines.length === 0 || (answer.lines.at(-1)?.seq ?? 0) >= answer.lastSeq) break
        afterSeq = answer.lines.at(-1)?.seq ?? answer.lastSeq
      }
      let text = lines.map(l => JSON.stringify(l)).join('\n')
      while (Buffer.byteLength(text) > KEPT_LOG_BYTES && lines.length > 1) text = text.slice(text.indexOf('\n') + 1)
      mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 })
      writeFileSync(file, text + '\n', { mode: 0o600 })
    },

    answer (msg) {
      const request = waiting.get(msg.requestId)
      // an answer must come from the machine asked (another agent cannot fill someone else's logs)
      if (request === undefined || request.machine !== `${msg.application}\u0000${msg.scopedInstancePath}`) return
      waiting.delete(msg.requestId)
      request.resolve({ lines: msg.lines, lastSeq: msg.lastSeq, kept: false })
    }
  }
}
