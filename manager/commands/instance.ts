// `meshconf instance add|replicate|rename|delete`: change the instance tree of an application.
import { InvalidArgumentError, type Command } from 'commander'
import { DmRequestError, type DmClient } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { isDocument, printDocument, withOutputOptions, withWaitOptions, resolveWaitMs, type OutputOptions, type WaitOptions } from './format.js'
import { DEFAULT_WAIT_MS, followInstances, reportOutcome, type FollowOutcome } from './lifecycle.js'
import { connect, findInstance, flattenInstances, parseInstancePath, usageError, withDmOptions, type DmOptions } from './output.js'

/** The DM refused to delete an instance whose subtree is still deployed. */
export class InstanceStillDeployedError extends Error {
  readonly code = 'REST_INSTANCE_DEPLOYED'
  constructor (readonly application: string, readonly path: string, reason: string) {
    super(`${reason}; undeploy it first: meshconf undeploy ${JSON.stringify(application)} ${JSON.stringify(path)} --all --wait` +
      ' (or `meshconf instance delete --force` undeploys, then deletes)')
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

type Options = DmOptions & OutputOptions

async function instanceAdd (app: string, path: string, options: Options & { component: string, export?: Record<string, string> }): Promise<void> {
  const instance = await connect(options).addInstance(app, {
    ...parentAndName(path),
    component: options.component,
    ...(options.export !== undefined ? { overriddenExports: options.export } : {})
  })
  if (isDocument(options)) await printDocument(options, { instance })
  else console.log(`added ${instance.path} (${instance.component}) to ${app}`)
}

async function instanceReplicate (app: string, path: string, newName: string, options: Options): Promise<void> {
  const instance = await connect(options).replicateInstance(app, path, newName)
  if (isDocument(options)) await printDocument(options, { instance })
  else console.log(`replicated ${path} as ${instance.path} in ${app}`)
}

async function instanceRename (app: string, path: string, newName: string, options: Options): Promise<void> {
  let instance
  try {
    instance = await connect(options).renameInstance(app, path, newName)
  } catch (err) {
    if (err instanceof DmRequestError && err.code === 'REST_INSTANCE_DEPLOYED') throw new InstanceStillDeployedError(app, path, err.message)
    throw err
  }
  if (isDocument(options)) await printDocument(options, { instance })
  else console.log(`renamed ${path} of ${app} as ${instance.path}`)
}

/** Undeploys the subtree at `path` and waits until all of it is NOT_DEPLOYED (Roboconf's command `Delete`). */
async function undeployFirst (client: DmClient, app: string, path: string, waitMs: number): Promise<FollowOutcome | undefined> {
  const node = findInstance(await client.getInstances(app), path)
  if (node === undefined) return undefined // the delete names what is unknown
  const deployed = flattenInstances([node]).filter(n => n.status !== 'NOT_DEPLOYED')
  if (deployed.length === 0) return undefined
  const events = await client.openEvents({ application: app })
  try {
    await client.runAction(app, { action: 'undeploy-all', path })
  } catch (err) {
    events.close()
    throw err
  }
  return await followInstances({
    client, application: app, events, timeoutMs: waitMs,
    expectations: flattenInstances([node]).map(n => ({ path: n.path, accept: new Set(['NOT_DEPLOYED'] as const) }))
  })
}

async function instanceDelete (app: string, path: string, options: Options & WaitOptions & { force?: boolean }, command: Command): Promise<void> {
  if (options.force === true && options.wait === false) {
    usageError(command, 'instance delete --force deletes once the subtree is undeployed, so it waits: --wait=DURATION sets how long')
  }
  const client = connect(options)
  if (options.force === true) {
    const waitMs = resolveWaitMs(options, DEFAULT_WAIT_MS, true) ?? DEFAULT_WAIT_MS
    const outcome = await undeployFirst(client, app, path, waitMs)
    if (outcome !== undefined && !outcome.ok) {
      if (isDocument(options)) await printDocument(options, { ...outcome, ok: false, code: 'CLI_UNDEPLOY_FAILED', message: `${path} of ${app} was not undeployed, so it was not deleted` })
      process.exitCode = reportOutcome(outcome, waitMs, false)
      return
    }
  }
  try {
    await client.deleteInstance(app, path)
  } catch (err) {
    if (err instanceof DmRequestError && err.status === 409) {
      throw new InstanceStillDeployedError(app, path, err.message)
    }
    throw err
  }
  if (isDocument(options)) await printDocument(options, { deleted: { application: app, path } })
  else console.log(`deleted ${path} from ${app}`)
}

export const registerInstanceCommands: CommandRegistration = (program: Command) => {
  const instance = program.command('instance').description('add, replicate, rename and delete instances')
  withOutputOptions(withDmOptions(instance.command('add')
    .description('add an instance (its parent must exist; a one-segment path adds a root instance)')
    .argument('<app>', 'application name')
    .argument('<path>', 'path of the new instance, e.g. "/Tomcat VM 1/Tomcat 2"', parseInstancePath)
    .requiredOption('--component <name>', 'component of the new instance')
    .option('--export <name=value>', 'override an exported variable (repeatable)', collectExport)))
    .action(instanceAdd)
  withOutputOptions(withDmOptions(instance.command('replicate')
    .description('copy a root instance and its subtree under a new name')
    .argument('<app>', 'application name')
    .argument('<path>', 'root instance to copy, e.g. "/Tomcat VM 1"', parseInstancePath)
    .argument('<new-name>', 'name of the copy, e.g. "Tomcat VM 2"')))
    .action(instanceReplicate)
  withOutputOptions(withDmOptions(instance.command('rename')
    .description('rename an instance (Roboconf\'s Rename: its whole subtree must be NOT_DEPLOYED)')
    .argument('<app>', 'application name')
    .argument('<path>', 'instance path, e.g. "/Tomcat VM 2"', parseInstancePath)
    .argument('<new-name>', 'its new name, e.g. "Tomcat VM 3"')))
    .action(instanceRename)
  withOutputOptions(withWaitOptions(withDmOptions(instance.command('delete')
    .description('delete an instance and its subtree (all of it must be NOT_DEPLOYED, unless --force)')
    .argument('<app>', 'application name')
    .argument('<path>', 'instance path', parseInstancePath)
    .option('--force', 'undeploy the subtree first, then delete it (Roboconf\'s command Delete)')), 'with --force, the subtree is undeployed', DEFAULT_WAIT_MS))
    .action(instanceDelete)
}
