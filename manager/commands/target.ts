// `meshconf target add|list|show|delete|associate`: targets say where and how machines are created (handler
// `local`, `netns`, `docker`, `existing`, `in-process`, and their properties). A target is given as flags or as Roboconf's
// target properties file (`id`, `handler`, `name`, `description`, then the handler's properties).
import { readFile } from 'node:fs/promises'
import { InvalidArgumentError, type Command } from 'commander'
import type { TargetDefinition } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { printDocument, printResult, tableLines, withOutputOptions, type OutputOptions } from './format.js'
import { connect, parseInstancePath, usageError, withDmOptions, type DmOptions } from './output.js'
import { parseProperties } from '../../protocol/model/properties.js'
import { errorMessage } from '../../protocol/errors.js'

/** A target definition file that cannot be used. */
export class TargetDefinitionError extends Error {
  readonly code = 'CLI_TARGET_DEFINITION'
  constructor (readonly file: string, reason: string) {
    super(`${file}: ${reason} (a target is a properties file: id = ..., handler = local|netns|docker|existing|in-process, name = ..., then the handler's properties)`)
    this.name = 'TargetDefinitionError'
  }
}

const TARGET_ID = /^[A-Za-z0-9_.-]{1,100}$/

function targetId (value: string): string {
  if (!TARGET_ID.test(value)) throw new InvalidArgumentError(`"${value}" is not a target id: letters, digits, _ . - (at most 100)`)
  return value
}

/** Parses a repeatable `--property key=value` into a record. */
function collectProperty (value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not key=value (e.g. --property agent.state-dir=/var/lib/meshconf/agent).`)
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1) }
}

/** Reads a Roboconf target properties file. */
export async function readTargetFile (file: string): Promise<TargetDefinition> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new TargetDefinitionError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(err))
  }
  const props = parseProperties(text)
  const take = (key: string): string | undefined => {
    const value = props.get(key)?.value.trim()
    props.delete(key)
    return value === '' ? undefined : value
  }
  const id = take('id')
  const handler = take('handler')
  const name = take('name')
  const description = take('description')
  if (id === undefined) throw new TargetDefinitionError(file, 'no "id" property (Roboconf\'s REC_TARGET_NO_ID)')
  if (!TARGET_ID.test(id)) throw new TargetDefinitionError(file, `the id ${JSON.stringify(id)} is not letters, digits, _ . -`)
  if (handler === undefined) throw new TargetDefinitionError(file, 'no "handler" property (Roboconf\'s REC_TARGET_NO_HANDLER)')
  return {
    id, handler, ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}),
    properties: Object.fromEntries([...props].map(([k, v]) => [k, v.value]))
  }
}

type Options = DmOptions & OutputOptions

interface AddOptions extends Options {
  file?: string
  handler?: string
  name?: string
  description?: string
  property?: Record<string, string>
}

async function add (id: string | undefined, options: AddOptions, command: Command): Promise<void> {
  let target: TargetDefinition
  if (options.file !== undefined) {
    if (options.handler !== undefined || options.property !== undefined) usageError(command, '--file gives the whole target: leave out --handler and --property')
    target = await readTargetFile(options.file)
    if (id !== undefined && id !== target.id) usageError(command, `the id ${id} differs from the file's id ${target.id}: leave it out or make them agree`)
    if (options.name !== undefined) target.name = options.name
    if (options.description !== undefined) target.description = options.description
  } else {
    if (id === undefined) usageError(command, 'give the target\'s id (or --file <target.properties>)')
    if (options.handler === undefined) usageError(command, 'give --handler local|netns|docker|existing|in-process (or --file <target.properties>)')
    target = {
      id, handler: options.handler, properties: options.property ?? {},
      ...(options.name !== undefined ? { name: options.name } : {}), ...(options.description !== undefined ? { description: options.description } : {})
    }
  }
  const created = await connect(options).createTarget(target)
  if (options.output !== undefined || options.json === true) await printDocument(options, { target: created })
  else console.log(`added target ${created.id} (${created.handler}): associate it with \`meshconf target associate <app> [path|component] ${created.id}\``)
}

async function list (options: Options): Promise<void> {
  const targets = await connect(options).listTargets()
  await printResult(options, { targets }, wide => tableLines(['ID', 'HANDLER', 'NAME', 'PROPERTIES'],
    targets.map(t => [t.id, t.handler, t.name ?? '', Object.entries(t.properties).map(([k, v]) => `${k}=${v}`).join(', ')]), wide))
}

async function show (id: string, options: Options): Promise<void> {
  const target = await connect(options).getTarget(id)
  await printResult(options, { target }, wide => [
    `target ${target.id}: handler ${target.handler}${target.name !== undefined ? `, ${target.name}` : ''}`,
    ...(target.description !== undefined && target.description !== '' ? [target.description] : []),
    ...(Object.keys(target.properties).length === 0 ? ['no properties'] : tableLines(['PROPERTY', 'VALUE'], Object.entries(target.properties), wide)),
    `associated with: ${target.associations.length === 0 ? 'nothing' : target.associations.map(a => a.label).join('; ')}`,
    `machines: ${target.machines.length === 0 ? 'none' : target.machines.map(m => `${m.path} of ${m.application} (${m.status})`).join('; ')}`
  ])
}

async function remove (id: string, options: Options): Promise<void> {
  await connect(options).deleteTarget(id)
  if (options.output !== undefined || options.json === true) await printDocument(options, { deleted: id })
  else console.log(`deleted target ${id}`)
}

/**
 * `target associate <app> <target>` (the application's default), `<app> </machine path> <target>` or
 * `<app> <Component> <target>`: a word starting with / is a machine path, another a machine component.
 */
async function associate (app: string, scopeOrTarget: string, target: string | undefined, options: Options): Promise<void> {
  const client = connect(options)
  const targetIdValue = target ?? scopeOrTarget
  const scope = target === undefined ? undefined : scopeOrTarget
  const association = scope === undefined
    ? { targetId: targetIdValue }
    : scope.startsWith('/') ? { targetId: targetIdValue, path: parseInstancePath(scope) } : { targetId: targetIdValue, component: scope }
  await client.associateTarget(app, association)
  const where = scope === undefined ? `the default of ${app}` : scope.startsWith('/') ? `${scope} of ${app}` : `the ${scope} machines of ${app}`
  if (options.output !== undefined || options.json === true) await printDocument(options, { application: app, association })
  else console.log(`target ${targetIdValue} is now ${where}'s target (machines created from now on)`)
}

export const registerTargetCommands: CommandRegistration = (program: Command) => {
  const target = program.command('target').description('add, list, show, delete and associate targets (where machines are created)')
  withOutputOptions(withDmOptions(target.command('add')
    .description('add a target, from flags or from a Roboconf target properties file')
    .argument('[id]', 'target id: letters, digits, _ . - (default: the file\'s id)', targetId)
    .option('--file <target.properties>', 'the target as a properties file: id, handler, name, description, then its properties')
    .option('--handler <handler>', 'local, netns, docker, existing or in-process')
    .option('--name <name>', 'a name for people')
    .option('--description <text>', 'what it is for')
    .option('--property <key=value>', 'a property of the handler (repeatable), e.g. agent.state-dir=/var/lib/meshconf/agent', collectProperty)))
    .action(add)
  withOutputOptions(withDmOptions(target.command('list')
    .description('list the targets (the DM\'s built-in default first)')))
    .action(list)
  withOutputOptions(withDmOptions(target.command('show')
    .description('show a target, where it is associated and the machines created with it')
    .argument('<id>', 'target id')))
    .action(show)
  withOutputOptions(withDmOptions(target.command('delete')
    .description('delete a target (refused while associated or used by a machine, naming what uses it)')
    .argument('<id>', 'target id')))
    .action(remove)
  withOutputOptions(withDmOptions(target.command('associate')
    .description('make a target the one of an application (default), of one machine (a path) or of a machine component')
    .argument('<app>', 'application name')
    .argument('<scope-or-target>', 'a machine path (/Apache VM), a machine component (Tomcat VM), or the target when no scope is given')
    .argument('[target]', 'target id')))
    .action(associate)
}
