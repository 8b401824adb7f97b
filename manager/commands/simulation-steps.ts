// What every `meshconf simulate` story shares (simulate-lamp.ts, simulate-elastic.ts, simulate-shared-db.ts): its
// steps, timed and recorded into the report (after a failed step the rest are skipped, but the clean-up), the checks
// that fail a step with what was seen, polling, the broker control, and where its folders are.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { InstanceNode } from '../client.js'
import { DATA_LAST_PROBLEM } from '../constants.js'
import type { Logger } from '../../common/log.js'
import { findInstance, flattenInstances } from './output.js'
import { errorMessage } from '../../protocol/errors.js'

/** How long one step may wait for states or answers, in milliseconds (what --wait alone, or no flag, means). */
export const DEFAULT_STEP_WAIT_MS = 120_000

/** Pause between two polls of states or of Apache, in milliseconds. */
const POLL_MS = 250

export interface SimulationStep {
  name: string
  ok: boolean
  /** When the step began, ISO-8601 UTC. */
  startedAt: string
  /** Duration of the step, in milliseconds. */
  durationMs: number
  /** What was seen (on success) or what went wrong (on failure). */
  detail?: string
}

/** Runs one step of a story and records it, unless an earlier one failed (`always`: even then). */
export type StepRunner = (name: string, action: () => Promise<string | undefined>, always?: boolean) => Promise<void>

/**
 * The step runner of a story: each step is timed, its detail (what was seen, or the error) recorded in `steps`,
 * and told to `onStep`; after a failed step the rest are skipped (a story builds on every step before), but for
 * those run `always` (clean-up).
 */
export function stepRunner (steps: SimulationStep[], onStep?: (step: SimulationStep) => void): StepRunner {
  return async (name, action, always = false) => {
    if (!always && steps.some(s => !s.ok)) return
    const begin = Date.now()
    const startedAt = new Date(begin).toISOString()
    let done: SimulationStep
    try {
      const detail = await action()
      done = { name, ok: true, startedAt, durationMs: Date.now() - begin, ...(detail !== undefined ? { detail } : {}) }
    } catch (err) {
      done = { name, ok: false, startedAt, durationMs: Date.now() - begin, detail: errorMessage(err) }
    }
    steps.push(done)
    onStep?.(done)
  }
}

export interface SimulationReport {
  ok: boolean
  /** When the run began, ISO-8601 UTC. */
  startedAt: string
  /** Duration of the whole run, in milliseconds. */
  durationMs: number
  steps: SimulationStep[]
}

export type SimulationTarget = 'local' | 'netns' | 'docker'

/** Stops and starts the message broker the DM and agents use. */
export interface BrokerControl {
  stop (): Promise<void>
  start (): Promise<void>
}

/**
 * A RabbitMQ node's application, through rabbitmqctl (the node keeps running, its clients drop). `node` is the
 * node's name (`rabbitmqctl -n`); default rabbitmqctl's own: $RABBITMQ_NODENAME, else rabbit@<this host>.
 */
export function rabbitmqctlBroker (node?: string): BrokerControl {
  const nodeArgs = node !== undefined ? ['-n', node] : []
  return {
    stop: async () => { await rabbitmqctl([...nodeArgs, 'stop_app']) },
    start: async () => { await rabbitmqctl([...nodeArgs, 'start_app']) }
  }
}

/** A step's check failed: the message says what was expected and what was seen. */
export class SimulationCheckError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SimulationCheckError'
  }
}

/** The LAMP template folder of this package, from the sources (manager/commands) or the build (dist/manager/commands). */
export function defaultLampTemplate (): string {
  return simulationFolder('lamp', join('descriptor', 'application.properties'))
}

/** A folder under simulations/ of this package (the sources' or the build's parent), found by a file it holds. */
export function simulationFolder (name: string, holding: string): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [resolve(here, '../../simulations', name), resolve(here, '../../../simulations', name)]
  return candidates.find(c => existsSync(join(c, holding))) ?? candidates[0]
}

/** A fresh folder under the system's temporary folder for the DM, the machines and the logs. */
export function makeDataDirectory (): string {
  try {
    return mkdtempSync(join(tmpdir(), 'meshconf-simulate-'))
  } catch (err) {
    throw new SimulationCheckError(`cannot make the simulation's data folder in ${tmpdir()} (${errorMessage(err)}): set TMPDIR to a writable folder`)
  }
}

/**
 * Why not every instance is started yet, or undefined when all are: each other instance with its status and, when
 * its agent reported one, the step that failed and its last line of output (a start that failed leaves the instance
 * DEPLOYED_STOPPED for good: a step that waits for it then says why, not only that it waited).
 */
export function allStarted (nodes: InstanceNode[]): string | undefined {
  const pending = flattenInstances(nodes).filter(n => n.status !== 'DEPLOYED_STARTED')
  const why = ({ data, problem }: InstanceNode): string => {
    // the current problem only (`problem` stays after a recovery)
    const current = data[DATA_LAST_PROBLEM]
    if (current === undefined) return ''
    if (problem === undefined) return ` (${current})`
    const output = (problem.stderr ?? problem.stdout ?? '').trim().split('\n').pop() ?? ''
    return ` (${problem.step} failed: ${problem.message}${output === '' ? '' : `; ${output.slice(0, 200)}`})`
  }
  return pending.length === 0 ? undefined : `not started yet: ${pending.map(n => `${n.path} ${n.status}${why(n)}`).join(', ')}`
}

export function statusIs (nodes: InstanceNode[], path: string, status: InstanceStatus): string | undefined {
  const node = findInstance(nodes, path)
  if (node === undefined) return `${path} is not in the application`
  return node.status === status ? undefined : `${path} is ${node.status}, expected ${status}`
}

export function startedAfter (at: string | undefined, begin: number): string {
  return at === undefined ? '?' : `${((Date.parse(at) - begin) / 1000).toFixed(1)}s`
}

/** Retries `probe` every POLL_MS until it resolves; after `timeoutMs`, fails with its last error. */
export async function poll<T> (what: string, timeoutMs: number, probe: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await probe()
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new SimulationCheckError(`${what}: not reached in ${timeoutMs / 1000}s (${errorMessage(err)})`)
      }
    }
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

export function fileLogger (stream: WriteStream): Logger {
  const write = (level: string) => (message: string): void => { stream.write(`${new Date().toISOString()} ${level} ${message}\n`) }
  return { debug: () => {}, info: write('INFO'), warn: write('WARN'), error: write('ERROR') }
}

async function rabbitmqctl (args: string[]): Promise<void> {
  try {
    await promisify(execFile)('rabbitmqctl', args, { timeout: 60_000 })
  } catch (err) {
    throw new SimulationCheckError(`rabbitmqctl ${args.join(' ')} failed: ${errorMessage(err).split('\n')[0]} ` +
      '(is RabbitMQ installed and is this its node? --rabbitmq-node or RABBITMQ_NODENAME names another one)')
  }
}
