// Runs a recipe process (script, puppet): its own process group so a timeout kills it with every child, output
// lines into the agent log tagged with the instance path, the last stderr lines kept for the failure report.
import { spawn } from 'node:child_process'
import { PROBLEM_OUTPUT_TAIL_BYTES } from '../../protocol/messages.js'
import { OUTPUT_DRAIN_GRACE_MS, STDERR_TAIL_LINES } from '../constants.js'
import { RecipeTimeoutError } from '../errors.js'
import type { Logger } from '../../common/log.js'

export interface RecipeProcess {
  /** What runs, for messages: `script deploy.sh`, `puppet apply`. */
  what: string
  /** The life-cycle step it runs for, written in its output lines (`meshconf logs` attributes them). */
  step?: string
  instancePath: string
  command: string
  args: string[]
  cwd: string
  /** The whole environment of the process. */
  env: Record<string, string>
  /** Kill the process group after this many ms. */
  timeoutMs: number
  log: Logger
}

export interface RecipeOutcome {
  exitCode: number | null
  signal: string | null
  /** The last STDERR_TAIL_LINES lines of stderr (the log's failure line). */
  stderrTail: string[]
  /** The last PROBLEM_OUTPUT_TAIL_BYTES of each stream (the problem reported to the DM). */
  stderr: string
  stdout: string
  durationMs: number
}

/** Keeps the last `maxBytes` of a text stream (cut at a character boundary). */
export function outputTail (maxBytes: number): { add: (text: string) => void, text: () => string } {
  let kept = ''
  return {
    add: text => {
      kept += text
      // UTF-16 units >= bytes / 4: trimming at 4x keeps at least maxBytes without measuring every chunk
      if (kept.length > 4 * maxBytes) kept = kept.slice(-4 * maxBytes)
    },
    text: () => {
      const bytes = Buffer.from(kept)
      return bytes.length <= maxBytes ? kept : bytes.subarray(bytes.length - maxBytes).toString('utf8').replace(/^\uFFFD+/, '')
    }
  }
}

/** Resolves when the process exits; rejects with RecipeTimeoutError after killing its group on timeout. */
export async function runRecipeProcess (recipe: RecipeProcess): Promise<RecipeOutcome> {
  const child = spawn(recipe.command, recipe.args, {
    cwd: recipe.cwd, env: recipe.env, detached: true, stdio: ['ignore', 'pipe', 'pipe']
  })
  const startedAt = performance.now()
  const stderrTail: string[] = []
  const stdout = outputTail(PROBLEM_OUTPUT_TAIL_BYTES)
  const stderr = outputTail(PROBLEM_OUTPUT_TAIL_BYTES)
  const tag = `[${recipe.instancePath}]${recipe.step === undefined ? '' : ` ${recipe.step}:`} ${recipe.what}`
  const closed = [
    forwardLines(child.stdout, line => {
      recipe.log.info(`${tag}: ${line}`)
      stdout.add(`${line}\n`)
    }),
    forwardLines(child.stderr, line => {
      recipe.log.warn(`${tag} (stderr): ${line}`)
      stderr.add(`${line}\n`)
      stderrTail.push(line)
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift()
    })
  ]
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    killGroup(child.pid)
  }, recipe.timeoutMs)
  try {
    const [exitCode, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code, sig) => resolve([code, sig]))
    })
    // Children left running (a daemon) keep the pipes open: do not wait for them beyond a short grace.
    await Promise.race([Promise.all(closed), new Promise(resolve => setTimeout(resolve, OUTPUT_DRAIN_GRACE_MS))])
    child.stdout.destroy()
    child.stderr.destroy()
    const outcome = { exitCode, signal, stderrTail, stderr: stderr.text(), stdout: stdout.text(), durationMs: Math.round(performance.now() - startedAt) }
    if (timedOut) {
      killGroup(child.pid)
      throw new RecipeTimeoutError(recipe.what, recipe.instancePath, recipe.timeoutMs, outcome)
    }
    return outcome
  } finally {
    clearTimeout(timer)
  }
}

function killGroup (pid: number | undefined): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // the group is already gone
  }
}

function forwardLines (stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  return new Promise(resolve => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLine(line)
    })
    const end = (): void => {
      if (rest.length > 0) onLine(rest)
      rest = ''
      resolve()
    }
    stream.once('end', end)
    stream.once('close', end)
  })
}
