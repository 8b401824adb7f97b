// `meshconf instance add|replicate|delete`: change the instance tree of an application.
import { InvalidArgumentError, type Command } from 'commander'
import { DmRequestError } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { connect, parseInstancePath, printJson, withDmOptions, type DmOptions } from './output.js'

/** The DM refused to delete an instance whose subtree is still deployed. */
export class InstanceStillDeployedError extends Error {
  constructor (readonly application: string, readonly path: string, reason: string) {
    super(`${reason}; undeploy it first: meshconf undeploy ${JSON.stringify(application)} ${JSON.stringify(path)} --all --wait`)
    this.name = 'InstanceStillDeployedError'
  }
}

/** Parses a repeatable `--export name=value` into a record. */
function collectExport (value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not name=value (e.g. --export port=8081).`)
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1) }
}

function parentAndName (path: string): { parentPath?: string, name: string } {
  const cut = path.lastIndexOf('/')
  return cut === 0 ? { name: path.slice(1) } : { parentPath: path.slice(0, cut), name: path.slice(cut + 1) }
}

async function instanceAdd (app: string, path: string, options: DmOptions & { component: string, export?: Record<string, string>, json?: boolean }): Promise<void> {
  const instance = await connect(options).addInstance(app, {
    ...parentAndName(path),
    component: options.component,
    ...(options.export !== undefined ? { overriddenExports: options.export } : {})
  })
  if (options.json === true) printJson(instance)
  else console.log(`added ${instance.path} (${instance.component}) to ${app}`)
}

async function instanceReplicate (app: string, path: string, newName: string, options: DmOptions & { json?: boolean }): Promise<void> {
  const instance = await connect(options).replicateInstance(app, path, newName)
  if (options.json === true) printJson(instance)
  else console.log(`replicated ${path} as ${instance.path} in ${app}`)
}

async function instanceDelete (app: string, path: string, options: DmOptions): Promise<void> {
  try {
    await connect(options).deleteInstance(app, path)
  } catch (err) {
    if (err instanceof DmRequestError && err.status === 409) {
      throw new InstanceStillDeployedError(app, path, err.message)
    }
    throw err
  }
  console.log(`deleted ${path} from ${app}`)
}

export const registerInstanceCommands: CommandRegistration = (program: Command) => {
  const instance = program.command('instance').description('add, replicate and delete instances')
  withDmOptions(instance.command('add')
    .description('add an instance (its parent must exist; a one-segment path adds a root instance)')
    .argument('<app>', 'application name')
    .argument('<path>', 'path of the new instance, e.g. "/Tomcat VM 1/Tomcat 2"', parseInstancePath)
    .requiredOption('--component <name>', 'component of the new instance')
    .option('--export <name=value>', 'override an exported variable (repeatable)', collectExport)
    .option('--json', 'print the new instance as one JSON document'))
    .action(instanceAdd)
  withDmOptions(instance.command('replicate')
    .description('copy a root instance and its subtree under a new name')
    .argument('<app>', 'application name')
    .argument('<path>', 'root instance to copy, e.g. "/Tomcat VM 1"', parseInstancePath)
    .argument('<new-name>', 'name of the copy, e.g. "Tomcat VM 2"')
    .option('--json', 'print the new root instance as one JSON document'))
    .action(instanceReplicate)
  withDmOptions(instance.command('delete')
    .description('delete an instance and its subtree (all of it must be NOT_DEPLOYED)')
    .argument('<app>', 'application name')
    .argument('<path>', 'instance path', parseInstancePath))
    .action(instanceDelete)
}
