// One error class per condition the agent reports (to its log and, as `problem`, to the DM).
import type { RecipeOutcome } from './plugins/process.js'

/** A component's installer names no plug-in this agent has. */
export class NoPluginError extends Error {
  constructor (installer: string, component: string, known: string[]) {
    super(`component "${component}" uses installer "${installer}", for which this agent has no plug-in ` +
      `(known: ${known.join(', ')}); fix the component's "installer" in the graph`)
    this.name = 'NoPluginError'
  }
}

/** A recipe process (script, puppet) exited with a failure code. */
export class RecipeFailedError extends Error {
  /** What the process did: exit code or signal, output tails, duration (the problem reported to the DM). */
  readonly outcome: RecipeOutcome
  constructor (what: string, instancePath: string, outcome: RecipeOutcome) {
    const how = outcome.exitCode !== null ? `exited with code ${outcome.exitCode}` : `was killed by ${outcome.signal ?? 'a signal'}`
    const tail = outcome.stderrTail.length > 0 ? `; last lines of stderr:\n${outcome.stderrTail.join('\n')}` : ''
    super(`${what} for ${instancePath} ${how}${tail}`)
    this.name = 'RecipeFailedError'
    this.outcome = outcome
  }
}

/** A recipe process ran past its timeout; it and its whole process group were killed. */
export class RecipeTimeoutError extends Error {
  readonly outcome: RecipeOutcome
  constructor (what: string, instancePath: string, timeoutMs: number, outcome: RecipeOutcome) {
    super(`${what} for ${instancePath} ran longer than ${timeoutMs} ms and was killed with its children; ` +
      'make it finish sooner or raise the agent\'s recipe timeout')
    this.name = 'RecipeTimeoutError'
    this.outcome = outcome
  }
}

/** A received recipe file name would be written outside the instance's folder. */
export class InvalidRecipePathError extends Error {
  constructor (component: string, file: string) {
    super(`recipe file "${file}" of component "${component}" is not a relative path inside the recipe folder; ` +
      'rename it in the application template')
    this.name = 'InvalidRecipePathError'
  }
}

/** A file plug-in instruction (instructions.properties) cannot be run. */
export class FileInstructionError extends Error {
  constructor (key: string, reason: string) {
    super(`file plug-in instruction "${key}": ${reason}`)
    this.name = 'FileInstructionError'
  }
}

/** A message or call names an instance the agent's model does not hold. */
export class UnknownInstanceError extends Error {
  constructor (instancePath: string) {
    super(`instance "${instancePath}" is not in this agent's model`)
    this.name = 'UnknownInstanceError'
  }
}

/** An instance cannot be added to the agent's model (wrong parent, component or path). */
export class InvalidInstanceError extends Error {
  constructor (instancePath: string, reason: string) {
    super(`instance "${instancePath}" cannot be added: ${reason}`)
    this.name = 'InvalidInstanceError'
  }
}

/** A life-cycle request was refused: the instance or its parent is not in a state that allows it. */
export class ActionRefusedError extends Error {
  constructor (instancePath: string, reason: string) {
    super(`${instancePath}: ${reason}`)
    this.name = 'ActionRefusedError'
  }
}

/** The agent's state file (or a recipe file) could not be read back; a copy was kept. */
export class CorruptStateError extends Error {
  constructor (file: string, reason: string, copy: string) {
    super(`state file ${file} is unreadable (${reason}); a copy was kept at ${copy} and the agent starts without ` +
      'it (it asks the DM for its model again)')
    this.name = 'CorruptStateError'
  }
}

/** A DM message the agent cannot use (unknown version or kind, missing fields). */
export class InvalidMessageError extends Error {
  constructor (reason: string) {
    super(`invalid DM message: ${reason}`)
    this.name = 'InvalidMessageError'
  }
}

export { errorMessage } from '../protocol/errors.js'

/** A value given to a recipe (through its environment or arguments) holds a NUL character, which no process can get. */
export class UnsafeValueError extends Error {
  constructor (instancePath: string, where: string) {
    super(`${where} for ${instancePath} holds a NUL character, which a process's environment or arguments cannot ` +
      'carry; the recipe did not run: fix the value where it is exported')
    this.name = 'UnsafeValueError'
  }
}
