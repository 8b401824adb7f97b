// `meshconf context list|use|add|delete`: the DMs this CLI talks to, as named contexts in ~/.meshconf/config.json
// (or $MESHCONF_CONFIG), one of them current (kubectl config use-context, juju switch).
import { InvalidArgumentError, type Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { checkContextName, configFilePath, readConfig, saveContext, UnknownContextError, writeConfig, type DmContext } from '../config.js'
import { printDocument, printResult, tableLines, withOutputOptions, type OutputOptions } from './format.js'
import { errorMessage } from '../../protocol/errors.js'

function contextName (value: string): string {
  try {
    return checkContextName(value)
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err))
  }
}

function dmUrl (value: string): string {
  let url: URL | undefined
  try { url = new URL(value) } catch { /* reported below */ }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol)) throw new InvalidArgumentError(`"${value}" is not an http:// or https:// URL, e.g. http://127.0.0.1:7400`)
  return value.replace(/\/+$/, '')
}

/** A context as listed: never the token itself. */
function view (name: string, context: DmContext, current: string | undefined): Record<string, unknown> {
  return {
    name, current: name === current, dm: context.dm,
    token: context.token !== undefined ? 'inline' : context.tokenFile !== undefined ? `file ${context.tokenFile}` : 'none',
    ...(context.dataDir !== undefined ? { dataDir: context.dataDir } : {})
  }
}

async function list (options: OutputOptions): Promise<void> {
  const file = configFilePath()
  const config = readConfig(file)
  const contexts = Object.entries(config.contexts).map(([name, c]) => view(name, c, config.current))
  await printResult(options, { file, current: config.current ?? null, contexts }, wide => contexts.length === 0
    ? [`no context in ${file}: \`meshconf dm start\` or \`meshconf context add NAME --dm URL --token T\` makes one`]
    : tableLines(['CURRENT', 'NAME', 'DM', 'TOKEN'], contexts.map(c => [c.current === true ? '*' : '', String(c.name), String(c.dm), String(c.token)]), wide))
}

function known (name: string): { file: string, config: ReturnType<typeof readConfig> } {
  const file = configFilePath()
  const config = readConfig(file)
  if (config.contexts[name] === undefined) throw new UnknownContextError(name, Object.keys(config.contexts), file)
  return { file, config }
}

async function use (name: string, options: OutputOptions): Promise<void> {
  const { file, config } = known(name)
  config.current = name
  await writeConfig(file, config)
  if (options.output !== undefined || options.json === true) await printDocument(options, { current: name, dm: config.contexts[name].dm })
  else console.log(`current context: ${name} (${config.contexts[name].dm})`)
}

async function add (name: string, options: OutputOptions & { dm: string, token?: string, tokenFile?: string, use?: boolean }, command: Command): Promise<void> {
  if (options.token !== undefined && options.tokenFile !== undefined) command.error('error: give --token or --token-file, not both', { exitCode: 2, code: 'meshconf.usage' })
  const context: DmContext = {
    dm: options.dm,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.tokenFile !== undefined ? { tokenFile: options.tokenFile } : {})
  }
  const saved = await saveContext(configFilePath(), name, context, options.use === true ? 'always' : 'if-none')
  if (options.output !== undefined || options.json === true) await printDocument(options, { ...saved })
  else console.log(`${saved.created ? 'added' : 'updated'} context ${name} (${options.dm})${saved.current ? ', now the current one' : `; use it with --context ${name} or \`meshconf context use ${name}\``}`)
}

async function remove (name: string, options: OutputOptions): Promise<void> {
  const { file, config } = known(name)
  delete config.contexts[name]
  const wasCurrent = config.current === name
  if (wasCurrent) delete config.current
  await writeConfig(file, config)
  if (options.output !== undefined || options.json === true) await printDocument(options, { deleted: name, current: config.current ?? null })
  else console.log(`deleted context ${name}${wasCurrent ? '; there is no current context now: `meshconf context use NAME` picks one' : ''}`)
}

export const registerContextCommands: CommandRegistration = (program: Command) => {
  const context = program.command('context').description('list, add, use and delete the DMs this CLI talks to (~/.meshconf/config.json)')
  withOutputOptions(context.command('list')
    .description('list the contexts; * marks the current one'))
    .action(list)
  withOutputOptions(context.command('use')
    .description('make a context the current one')
    .argument('<name>', 'context name', contextName))
    .action(use)
  withOutputOptions(context.command('add')
    .description('add or update a context (it becomes current when there is none, or with --use)')
    .argument('<name>', 'context name: letters, digits, _ . -', contextName)
    .requiredOption('--dm <url>', 'URL of the DM, e.g. http://127.0.0.1:7400', dmUrl)
    .option('--token <token>', 'the DM\'s bearer token (kept in the config file, readable by you only)')
    .option('--token-file <file>', 'a file holding the token, read at each use (e.g. <data dir>/token of a DM on this host)')
    .option('--use', 'make it the current context'))
    .action(add)
  withOutputOptions(context.command('delete')
    .description('delete a context')
    .argument('<name>', 'context name', contextName))
    .action(remove)
}
