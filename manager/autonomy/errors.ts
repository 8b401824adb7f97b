// Errors of scaling, commands, rules and schedules; REST answers them like the DM's own (manager/errors.ts).
import type { ModelError } from '../../protocol/model/types.js'
import { DmError } from '../errors.js'

export class ScaleRequestError extends DmError {
  readonly code = 'REST_SCALE_REQUEST'
  readonly statusCode = 400
  constructor (message: string) {
    super(message)
    this.name = 'ScaleRequestError'
  }
}

/** No root instance carries the component: there is nothing to replicate. */
export class NoCarrierError extends DmError {
  readonly code = 'REST_SCALE_NO_CARRIER'
  readonly statusCode = 409
  constructor (application: string, component: string) {
    super(`no root instance of ${application} carries a ${component} instance, so there is none to replicate: ` +
      'check the component\'s name in the instance tree, or add a machine carrying one first')
    this.name = 'NoCarrierError'
  }
}

/** Replicating or removing a machine would also add or remove other components: the caller must say which root. */
export class AmbiguousScaleError extends DmError {
  readonly code = 'REST_SCALE_AMBIGUOUS'
  readonly statusCode = 409
  constructor (application: string, component: string, carriers: string[], others: string[], everyMachine: boolean) {
    super(`scaling ${component} of ${application} is ambiguous: ${everyMachine ? 'every machine carries it' : `it is carried by ${carriers.join(', ')}`}` +
      ` and ${everyMachine ? 'they' : 'those machines'} also carry ${others.join(', ')}, which a copy or a removal would add or remove too; ` +
      `say which root to replicate (root: one of ${carriers.join(', ')}; CLI: --root), or scale the component that machine is for`)
    this.name = 'AmbiguousScaleError'
  }
}

export class CommandsNotFoundError extends DmError {
  readonly code = 'REST_COMMANDS_NOT_FOUND'
  readonly statusCode = 404
  constructor (application: string, name: string, known: string[]) {
    super(`${application} has no commands file ${JSON.stringify(name)} (commands/${name}.commands in its template): ` +
      (known.length > 0 ? `use one of ${known.join(', ')}` : 'its template has none'))
    this.name = 'CommandsNotFoundError'
  }
}

export class InvalidCommandsError extends DmError {
  readonly code = 'REST_INVALID_COMMANDS'
  readonly statusCode = 409
  constructor (application: string, name: string, errors: ModelError[]) {
    const first = errors.find(e => e.level === 'SEVERE')
    super(`commands ${name} of ${application} cannot run on the application as it is now` +
      (first !== undefined ? `: line ${first.line ?? '?'}: ${first.code}: ${first.message}` : '') + ' (all findings are in details); nothing was executed')
    this.name = 'InvalidCommandsError'
    this.details = errors
  }
}

export class JobNotFoundError extends DmError {
  readonly code = 'REST_JOB_NOT_FOUND'
  readonly statusCode = 404
  constructor (id: string) {
    super(`no scheduled job ${JSON.stringify(id)}: list them with GET /api/schedules`)
    this.name = 'JobNotFoundError'
  }
}

export class InvalidJobError extends DmError {
  readonly code = 'REST_INVALID_JOB'
  readonly statusCode = 400
  constructor (message: string) {
    super(message)
    this.name = 'InvalidJobError'
  }
}
