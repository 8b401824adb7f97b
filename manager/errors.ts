// One error class per condition the DM reports. `code` is what the REST API returns (REST_*), `statusCode` its
// HTTP status; messages say what is wrong and how to fix it.
import type { ModelError } from '../protocol/model/types.js'

export abstract class DmError extends Error {
  abstract readonly code: string
  abstract readonly statusCode: number
  /** Extra findings (model errors of a template), returned as `details`. */
  details?: unknown[]
}

export class TemplateNotFoundError extends DmError {
  readonly code = 'REST_TEMPLATE_NOT_FOUND'
  readonly statusCode = 404
  constructor (name: string, version: string) {
    super(`no application template ${name} ${version}: list them with GET /api/templates`)
    this.name = 'TemplateNotFoundError'
  }
}

export class TemplateExistsError extends DmError {
  readonly code = 'REST_TEMPLATE_EXISTS'
  readonly statusCode = 409
  constructor (name: string, version: string) {
    super(`the application template ${name} ${version} is already loaded: change the version in descriptor/application.properties, or delete the old one first`)
    this.name = 'TemplateExistsError'
  }
}

export class TemplateInUseError extends DmError {
  readonly code = 'REST_TEMPLATE_IN_USE'
  readonly statusCode = 409
  constructor (name: string, version: string, applications: string[]) {
    super(`the application template ${name} ${version} is used by ${applications.join(', ')}: delete those applications first`)
    this.name = 'TemplateInUseError'
  }
}

export class InvalidTemplateError extends DmError {
  readonly code = 'REST_INVALID_TEMPLATE'
  readonly statusCode = 400
  constructor (where: string, errors: ModelError[]) {
    const severe = errors.filter(e => e.level === 'SEVERE')
    const first = severe[0]
    super(`the application template at ${where} has ${severe.length} severe error(s)` +
      (first !== undefined ? `, first: ${first.code}${first.file !== undefined ? ` in ${first.file}${first.line !== undefined ? `:${first.line}` : ''}` : ''}: ${first.message}` : '') +
      ': fix them and load it again (all findings are in details)')
    this.name = 'InvalidTemplateError'
    this.details = errors
  }
}

export class TemplateSourceError extends DmError {
  readonly code = 'REST_TEMPLATE_SOURCE'
  readonly statusCode = 400
  constructor (message: string) {
    super(message)
    this.name = 'TemplateSourceError'
  }
}

export class UnsafePathError extends DmError {
  readonly code = 'REST_UNSAFE_PATH'
  readonly statusCode = 400
  constructor (what: string, path: string) {
    super(`${what} ${JSON.stringify(path)} escapes its folder (contains '..' or is not where expected): use a plain path without '..'`)
    this.name = 'UnsafePathError'
  }
}

export class ApplicationNotFoundError extends DmError {
  readonly code = 'REST_APPLICATION_NOT_FOUND'
  readonly statusCode = 404
  constructor (name: string) {
    super(`no application named ${JSON.stringify(name)}: list them with GET /api/applications`)
    this.name = 'ApplicationNotFoundError'
  }
}

export class ApplicationExistsError extends DmError {
  readonly code = 'REST_APPLICATION_EXISTS'
  readonly statusCode = 409
  constructor (name: string) {
    super(`an application named ${JSON.stringify(name)} already exists: choose another name or delete it first`)
    this.name = 'ApplicationExistsError'
  }
}

export class InvalidApplicationSettingError extends DmError {
  readonly code = 'REST_INVALID_APPLICATION_SETTING'
  readonly statusCode = 400
  constructor (application: string, setting: string, problem: string) {
    super(`${setting} of application ${application}: ${problem}`)
    this.name = 'InvalidApplicationSettingError'
  }
}

export class InstanceNotFoundError extends DmError {
  readonly code = 'REST_INSTANCE_NOT_FOUND'
  readonly statusCode = 404
  constructor (application: string, path: string) {
    super(`application ${application} has no instance ${JSON.stringify(path)}: paths look like /VM 1/Tomcat (GET /api/applications/${application}/instances lists them)`)
    this.name = 'InstanceNotFoundError'
  }
}

export class InstanceExistsError extends DmError {
  readonly code = 'REST_INSTANCE_EXISTS'
  readonly statusCode = 409
  constructor (application: string, path: string) {
    super(`application ${application} already has an instance ${JSON.stringify(path)}: choose another name`)
    this.name = 'InstanceExistsError'
  }
}

export class InvalidInstanceError extends DmError {
  readonly code = 'REST_INVALID_INSTANCE'
  readonly statusCode = 400
  constructor (message: string) {
    super(message)
    this.name = 'InvalidInstanceError'
  }
}

export class InstanceDeployedError extends DmError {
  readonly code = 'REST_INSTANCE_DEPLOYED'
  readonly statusCode = 409
  constructor (application: string, path: string, deployedPath: string, status: string, action: 'delete' | 'rename' = 'delete') {
    super(`cannot ${action} ${path} of ${application}: ${deployedPath} is ${status}; undeploy the subtree first (action undeploy-all with this path)`)
    this.name = 'InstanceDeployedError'
  }
}

export class InvalidStateRequestError extends DmError {
  readonly code = 'REST_INVALID_STATE_REQUEST'
  readonly statusCode = 409
  constructor (message: string) {
    super(message)
    this.name = 'InvalidStateRequestError'
  }
}

export class TargetNotFoundError extends DmError {
  readonly code = 'REST_TARGET_NOT_FOUND'
  readonly statusCode = 404
  constructor (id: string) {
    super(`no target ${JSON.stringify(id)}: list them with GET /api/targets or create it with POST /api/targets`)
    this.name = 'TargetNotFoundError'
  }
}

export class TargetExistsError extends DmError {
  readonly code = 'REST_TARGET_EXISTS'
  readonly statusCode = 409
  constructor (id: string) {
    super(`a target ${JSON.stringify(id)} already exists: choose another id`)
    this.name = 'TargetExistsError'
  }
}

export class UnknownTargetHandlerError extends DmError {
  readonly code = 'REST_UNKNOWN_TARGET_HANDLER'
  readonly statusCode = 400
  constructor (handler: string, known: string[]) {
    super(`this DM has no target handler ${JSON.stringify(handler)}: use one of ${known.join(', ')}`)
    this.name = 'UnknownTargetHandlerError'
  }
}

export class MachineCreationError extends DmError {
  readonly code = 'REST_MACHINE_CREATION'
  readonly statusCode = 502
  constructor (path: string, target: string, reason: string) {
    super(`could not create the machine of ${path} with target ${target}: ${reason}`)
    this.name = 'MachineCreationError'
  }
}

export class NoAgentParamsError extends DmError {
  readonly code = 'REST_NO_AGENT_PARAMS'
  readonly statusCode = 409
  constructor (application: string, path: string, handler: string | undefined) {
    super(`${path} of ${application} has no agent params to hand over: ` + (handler === undefined
      ? 'it is not a deployed machine (deploy it first; params exist from the moment the DM asks for the machine)'
      : `its target handler (${handler}) starts the agent itself; only machines of the existing target get their params from the operator`))
    this.name = 'NoAgentParamsError'
  }
}

/** The `since` of an events query is neither a duration (30s, 10m, 2h, 1d) nor an ISO time. */
export class InvalidSinceError extends DmError {
  readonly code = 'REST_INVALID_SINCE'
  readonly statusCode = 400
  constructor (since: string) {
    super(`since=${JSON.stringify(since)} is neither a duration back from now (30s, 10m, 2h, 1d) nor an ISO time (2026-01-31T12:00:00Z)`)
    this.name = 'InvalidSinceError'
  }
}

export class TargetInUseError extends DmError {
  readonly code = 'REST_TARGET_IN_USE'
  readonly statusCode = 409
  constructor (id: string, users: string[]) {
    super(`the target ${JSON.stringify(id)} is in use by ${users.join('; ')}: undeploy those machines and associate another target first`)
    this.name = 'TargetInUseError'
  }
}

export class BuiltInTargetError extends DmError {
  readonly code = 'REST_BUILT_IN_TARGET'
  readonly statusCode = 409
  constructor (id: string) {
    super(`the target ${JSON.stringify(id)} is the DM's built-in default (the --target of dm start): it cannot be deleted`)
    this.name = 'BuiltInTargetError'
  }
}

/** A machine's log cannot be read: no agent to ask, no log kept, or its agent did not answer. */
export class LogsUnavailableError extends DmError {
  readonly code = 'REST_LOGS_UNAVAILABLE'
  readonly statusCode = 409
  constructor (application: string, machinePath: string, reason: string) {
    super(`no log of ${machinePath} (${application}): ${reason}`)
    this.name = 'LogsUnavailableError'
  }
}

/** A bind or unbind names an application that does not exist or does not export the prefix (Roboconf's messages). */
export class BindingRefusedError extends DmError {
  readonly code = 'REST_BINDING_REFUSED'
  readonly statusCode = 403
  constructor (roboconfMessage: string, fix: string) {
    super(`${roboconfMessage} ${fix}`)
    this.name = 'BindingRefusedError'
  }
}
