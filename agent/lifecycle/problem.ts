// The structured problem of a failed plug-in step (what the DM shows and `--wait` prints).
import type { InstanceProblem } from '../../protocol/messages.js'
import { RecipeFailedError, RecipeTimeoutError } from '../errors.js'
import { isoTime } from '../../common/clock.js'

/** `installer`: the plug-in of the instance's component (it throws when the component is unknown). */
export function stepProblem (installer: () => string, step: string, err: unknown, began: number, message: string): InstanceProblem {
  const outcome = err instanceof RecipeFailedError || err instanceof RecipeTimeoutError ? err.outcome : undefined
  let plugin: string | undefined
  try {
    plugin = installer()
  } catch {
    plugin = undefined
  }
  // the outputs are already bounded (PROBLEM_OUTPUT_TAIL_BYTES each: plugins/process.ts)
  return {
    step,
    ...(plugin === undefined ? {} : { plugin }),
    ...(outcome?.exitCode === null || outcome === undefined ? {} : { exitCode: outcome.exitCode }),
    ...(outcome?.signal === null || outcome === undefined ? {} : { signal: outcome.signal }),
    ...(err instanceof RecipeTimeoutError ? { timedOut: true } : {}),
    durationMs: Math.round(performance.now() - began),
    ...(outcome === undefined || outcome.stderr === '' ? {} : { stderr: outcome.stderr }),
    ...(outcome === undefined || outcome.stdout === '' ? {} : { stdout: outcome.stdout }),
    at: isoTime(Date.now()),
    message
  }
}
