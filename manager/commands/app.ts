// `meshconf app load|create|list|show|set|delete`: templates and applications. A template folder is zipped in memory and
// uploaded, so loading works against a remote DM too.
import { readFile, stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { DmRequestError, MAX_TEMPLATE_ZIP_BYTES, type DmClient, type TemplateLoadResult } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { zipFolder } from '../zip.js'
import { formatDuration, isDocument, isoTime, parseDuration, plural, printDocument, printResult, tableLines, withOutputOptions, type OutputOptions } from './format.js'
import { connect, flattenInstances, formatModelError, isRootPath, renderInstanceTree, summarizeStatuses, usageError, useColor, withDmOptions, type DmOptions } from './output.js'
import { resolveTemplate } from './template.js'
import { errorMessage } from '../../protocol/errors.js'

/** A template source that is neither a folder nor a ZIP file. */
export class TemplateSourceError extends Error {
  constructor (readonly source: string, reason: string) {
    super(`cannot load a template from ${source}: ${reason} (give a template folder holding descriptor/application.properties, or a ZIP of it)`)
    this.name = 'TemplateSourceError'
  }
}

/** An application with deployed machines: delete refuses, as Roboconf did, and says what to undeploy. */
export class ApplicationDeployedError extends Error {
  readonly code = 'CLI_APPLICATION_DEPLOYED'
  constructor (readonly application: string, readonly machines: Array<{ path: string, status: string }>) {
    super(`application ${application} still has ${plural(machines.length, 'deployed machine')}: ` +
      `${machines.map(m => `${m.path} (${m.status})`).join(', ')}; undeploy ${machines.length === 1 ? 'it' : 'them'} first: ` +
      `meshconf undeploy ${JSON.stringify(application)} --all --wait`)
    this.name = 'ApplicationDeployedError'
  }
}

/** The template was refused by the DM's validator. */
export class TemplateRefusedError extends Error {
  constructor (readonly source: string, readonly severe: number) {
    super(`the template in ${source} has ${severe} error${severe === 1 ? '' : 's'}: fix ${severe === 1 ? 'it' : 'them'} and load it again ` +
      '(`meshconf validate` checks a template locally)')
    this.name = 'TemplateRefusedError'
  }
}

async function readTemplateSource (source: string): Promise<Buffer> {
  let info
  try {
    info = await stat(source)
  } catch (err) {
    throw new TemplateSourceError(source, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : errorMessage(err))
  }
  const zip = info.isDirectory() ? await zipFolder(source) : await readFile(source)
  if (!info.isDirectory() && zip.readUInt32LE(0) !== 0x04034b50) throw new TemplateSourceError(source, 'the file is not a ZIP archive')
  if (zip.length > MAX_TEMPLATE_ZIP_BYTES) {
    throw new TemplateSourceError(source, `the archive is ${(zip.length / 1048576).toFixed(1)} MB, over the DM's limit of ${MAX_TEMPLATE_ZIP_BYTES / 1048576} MB`)
  }
  return zip
}

/**
 * Loads a template: uploaded as a ZIP, or read by the DM from its own disk (`onDmHost`: the DM runs on this
 * machine). Prints its model errors like a compiler (stderr) whether it is accepted or not.
 */
async function loadTemplate (client: DmClient, source: string, onDmHost: boolean): Promise<TemplateLoadResult> {
  const root = onDmHost || (await stat(source).catch(() => undefined))?.isDirectory() === true ? source : basename(source)
  try {
    const result = onDmHost ? await client.loadTemplateFromPath(resolve(source)) : await client.loadTemplateZip(await readTemplateSource(source))
    for (const e of result.errors ?? []) process.stderr.write(formatModelError(e, root) + '\n')
    return result
  } catch (err) {
    if (err instanceof DmRequestError && err.modelErrors.length > 0) {
      for (const e of err.modelErrors) process.stderr.write(formatModelError(e, root) + '\n')
      throw new TemplateRefusedError(source, err.modelErrors.filter(e => e.level === 'SEVERE').length)
    }
    throw err
  }
}

/** `--probe-period`: a duration (`5s`, `1500ms`, `2m`), or `default` (the DM's, with `app set`). */
function parseProbePeriod (value: string): number | null {
  if (value.trim() === 'default') return null
  return parseDuration(value)
}

function probePeriodOption (command: Command, withDefault: boolean): Command {
  const what = 'how often the agents evaluate their probes (probes/*.measures): 5s, 1500ms, 2m; 1s to 1h'
  return command.option('--probe-period <duration>', withDefault
    ? `${what}, or default: the DM's (dm start --probe-period)`
    : `${what} (default: the DM's, dm start --probe-period, 5s unless set)`,
    withDefault ? parseProbePeriod : (value: string) => {
      const ms = parseProbePeriod(value)
      if (ms === null) throw new InvalidArgumentError('"default" only goes with app set: leave the option out')
      return ms
    })
}

/** How an application's probe period reads in a table. */
function probePeriodText (a: { probePeriodMs: number, probePeriodIsDefault: boolean }): string {
  return `${formatDuration(a.probePeriodMs)}${a.probePeriodIsDefault ? ' (the DM\'s default)' : ''}`
}

async function appLoad (source: string, options: DmOptions & OutputOptions & { name?: string, description?: string, onDmHost?: boolean, probePeriod?: number }): Promise<void> {
  const client = connect(options)
  const template = await loadTemplate(client, source, options.onDmHost === true)
  const warnings = (template.errors ?? []).length
  const application = await client.createApplication({
    name: options.name ?? template.name,
    template: { name: template.name, version: template.version },
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.probePeriod !== undefined ? { probePeriodMs: options.probePeriod } : {})
  })
  if (isDocument(options)) {
    await printDocument(options, { template, application })
    return
  }
  console.log(`loaded template ${template.name} ${template.version}${warnings > 0 ? ` (${plural(warnings, 'warning')})` : ''}`)
  console.log(`created application ${application.name}: deploy it with \`meshconf start ${JSON.stringify(application.name)} --all\``)
}

type Options = DmOptions & OutputOptions

async function appCreate (name: string, options: Options & { template: string, version?: string, description?: string, probePeriod?: number }): Promise<void> {
  const client = connect(options)
  const template = await resolveTemplate(client, options.template, options.version)
  const application = await client.createApplication({
    name,
    template,
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.probePeriod !== undefined ? { probePeriodMs: options.probePeriod } : {})
  })
  if (isDocument(options)) await printDocument(options, { application })
  else console.log(`created application ${application.name} from template ${template.name} ${template.version}: deploy it with \`meshconf start ${JSON.stringify(application.name)} --all\``)
}

async function appList (options: Options): Promise<void> {
  const applications = (await connect(options).listApplications()).map(a => ({ ...a, createdAt: isoTime(a.createdAt) }))
  await printResult(options, { applications }, wide => applications.length === 0
    ? ['no application: load one with `meshconf app load <folder|zip>`']
    : tableLines(['NAME', 'TEMPLATE', 'CREATED', 'DESCRIPTION'],
      applications.map(a => [a.name, `${a.template.name} ${a.template.version}`, a.createdAt ?? '', (a.description ?? '').replace(/\s+/g, ' ')]), wide))
}

async function appShow (name: string, options: Options): Promise<void> {
  const client = connect(options)
  const details = await client.getApplication(name)
  const associations = await client.targetAssociations(name)
  const application = { ...details, createdAt: isoTime(details.createdAt), targets: associations }
  await printResult(options, { application }, () => [
    `application ${details.name}: template ${details.template.name} ${details.template.version}, created ${application.createdAt ?? 'at an unknown time'}`,
    ...(details.description !== undefined && details.description !== '' ? [details.description] : []),
    `probe period: ${probePeriodText(details)}`,
    `targets: ${associations.length === 0 ? 'the DM\'s default' : associations.map(a => `${a.targetId} for ${a.scope.kind === 'default' ? 'the application' : a.scope.kind === 'path' ? a.scope.path : `component ${a.scope.component}`}`).join('; ')}`,
    summarizeStatuses(details.instances),
    ...renderInstanceTree(details.instances, { color: useColor() })
  ])
}

async function appSet (name: string, options: Options & { probePeriod?: number | null }, command: Command): Promise<void> {
  if (options.probePeriod === undefined) usageError(command, 'nothing to set: give --probe-period')
  const application = await connect(options).updateApplication(name, { probePeriodMs: options.probePeriod })
  await printResult(options, { application }, () => [`application ${application.name}: probe period ${probePeriodText(application)}, sent to its running agents`])
}

async function appTemplates (options: Options): Promise<void> {
  const templates = await connect(options).listTemplates()
  await printResult(options, { templates }, wide => templates.length === 0
    ? ['no template: load one with `meshconf app load <folder|zip>`']
    : tableLines(['NAME', 'VERSION', 'DESCRIPTION'], templates.map(t => [t.name, t.version, t.description ?? '']), wide))
}

async function appDelete (name: string, options: Options & { withTemplate?: boolean }): Promise<void> {
  const client = connect(options)
  const details = await client.getApplication(name)
  const machines = flattenInstances(details.instances).filter(i => isRootPath(i.path) && i.status !== 'NOT_DEPLOYED')
  if (machines.length > 0) throw new ApplicationDeployedError(name, machines)
  await client.deleteApplication(name)
  if (options.withTemplate === true) await client.deleteTemplate(details.template)
  if (isDocument(options)) {
    await printDocument(options, { deleted: name, ...(options.withTemplate === true ? { deletedTemplate: details.template } : {}) })
    return
  }
  console.log(`deleted application ${name}`)
  if (options.withTemplate === true) console.log(`deleted template ${details.template.name} ${details.template.version}`)
}

export const registerAppCommands: CommandRegistration = (program: Command) => {
  const app = program.command('app').description('load, create, list, show and delete applications')
  withOutputOptions(withDmOptions(probePeriodOption(app.command('load')
    .description('upload a template (folder or ZIP) and create an application from it')
    .argument('<folder|zip>', 'template folder (holding descriptor/application.properties) or ZIP of it')
    .option('--name <name>', 'application name (default: the template\'s name)')
    .option('--description <text>', 'application description')
    .option('--on-dm-host', 'let the DM read the folder or ZIP from its own disk instead of uploading it (the DM runs here)'), false)))
    .action(appLoad)
  withOutputOptions(withDmOptions(probePeriodOption(app.command('create')
    .description('create an application from a loaded template (`meshconf template list` lists them)')
    .argument('<name>', 'application name')
    .requiredOption('--template <name>', 'template name')
    .option('--version <version>', 'template version (default: its only loaded version)')
    .option('--description <text>', 'application description (default: the template\'s)'), false)))
    .action(appCreate)
  withOutputOptions(withDmOptions(app.command('list')
    .description('list the applications')))
    .action(appList)
  withOutputOptions(withDmOptions(app.command('show')
    .description('show an application: template, targets, instance tree')
    .argument('<app>', 'application name')))
    .action(appShow)
  withOutputOptions(withDmOptions(probePeriodOption(app.command('set')
    .description('change an application\'s settings; its running agents get them at once')
    .argument('<app>', 'application name'), true)))
    .action(appSet)
  withOutputOptions(withDmOptions(app.command('delete')
    .description('delete an application (refused while machines are deployed: undeploy it first)')
    .argument('<app>', 'application name')
    .option('--with-template', 'then delete its template too (refused while other applications use it)')))
    .action(appDelete)
  withOutputOptions(withDmOptions(app.command('templates')
    .description('list the loaded templates (the same as meshconf template list)')))
    .action(appTemplates)
}
