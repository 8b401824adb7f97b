// `meshconf app load|list|delete`: templates and applications. A template folder is zipped in memory and
// uploaded, so loading works against a remote DM too.
import { readFile, stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { Command } from 'commander'
import { DmRequestError, MAX_TEMPLATE_ZIP_BYTES, type DmClient, type TemplateLoadResult } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { zipFolder } from '../zip.js'
import { connect, formatModelError, printJson, withDmOptions, type DmOptions } from './output.js'
import { errorMessage } from '../../protocol/errors.js'

/** A template source that is neither a folder nor a ZIP file. */
export class TemplateSourceError extends Error {
  constructor (readonly source: string, reason: string) {
    super(`cannot load a template from ${source}: ${reason} (give a template folder holding descriptor/application.properties, or a ZIP of it)`)
    this.name = 'TemplateSourceError'
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

async function appLoad (source: string, options: DmOptions & { name?: string, description?: string, onDmHost?: boolean, json?: boolean }): Promise<void> {
  const client = connect(options)
  const template = await loadTemplate(client, source, options.onDmHost === true)
  const warnings = (template.errors ?? []).length
  const application = await client.createApplication({
    name: options.name ?? template.name,
    template: { name: template.name, version: template.version },
    ...(options.description !== undefined ? { description: options.description } : {})
  })
  if (options.json === true) {
    printJson({ template, application })
    return
  }
  console.log(`loaded template ${template.name} ${template.version}${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}`)
  console.log(`created application ${application.name}: deploy it with \`meshconf start ${JSON.stringify(application.name)} --all\``)
}

/** Prints rows under a header, in columns. */
function printTable (header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd())
}

async function appList (options: DmOptions & { json?: boolean }): Promise<void> {
  const apps = await connect(options).listApplications()
  if (options.json === true) {
    printJson(apps)
    return
  }
  if (apps.length === 0) {
    console.log('no application: load one with `meshconf app load <folder|zip>`')
    return
  }
  printTable(['NAME', 'TEMPLATE', 'CREATED', 'DESCRIPTION'],
    apps.map(a => [a.name, `${a.template.name} ${a.template.version}`, a.createdAt ?? '', a.description ?? '']))
}

async function appTemplates (options: DmOptions & { json?: boolean }): Promise<void> {
  const templates = await connect(options).listTemplates()
  if (options.json === true) {
    printJson(templates)
    return
  }
  if (templates.length === 0) {
    console.log('no template: load one with `meshconf app load <folder|zip>`')
    return
  }
  printTable(['NAME', 'VERSION', 'DESCRIPTION'], templates.map(t => [t.name, t.version, t.description ?? '']))
}

async function appDelete (name: string, options: DmOptions & { withTemplate?: boolean }): Promise<void> {
  const client = connect(options)
  const template = options.withTemplate === true ? (await client.getApplication(name)).template : undefined
  await client.deleteApplication(name)
  console.log(`deleted application ${name}`)
  if (template !== undefined) {
    await client.deleteTemplate(template)
    console.log(`deleted template ${template.name} ${template.version}`)
  }
}

export const registerAppCommands: CommandRegistration = (program: Command) => {
  const app = program.command('app').description('load, list and delete applications and their templates')
  withDmOptions(app.command('load')
    .description('upload a template (folder or ZIP) and create an application from it')
    .argument('<folder|zip>', 'template folder (holding descriptor/application.properties) or ZIP of it')
    .option('--name <name>', 'application name (default: the template\'s name)')
    .option('--description <text>', 'application description')
    .option('--on-dm-host', 'let the DM read the folder or ZIP from its own disk instead of uploading it (the DM runs here)')
    .option('--json', 'print the template and the application as one JSON document'))
    .action(appLoad)
  withDmOptions(app.command('list')
    .description('list the applications')
    .option('--json', 'print one JSON document'))
    .action(appList)
  withDmOptions(app.command('delete')
    .description('delete an application (its machines are terminated first)')
    .argument('<app>', 'application name')
    .option('--with-template', 'then delete its template too (refused while other applications use it)'))
    .action(appDelete)
  withDmOptions(app.command('templates')
    .description('list the loaded templates')
    .option('--json', 'print one JSON document'))
    .action(appTemplates)
}
