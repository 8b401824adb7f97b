// `meshconf template list|show|delete`: the templates loaded in the DM (`meshconf app load` loads one and creates
// an application; `meshconf app create` makes more applications from a loaded one).
import type { Command } from 'commander'
import type { DmClient, TemplateRef } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { plural, printDocument, printResult, tableLines, withOutputOptions, type OutputOptions } from './format.js'
import { connect, formatModelError, withDmOptions, type DmOptions } from './output.js'

/** A template name without a version that matches none or several loaded versions. */
export class TemplateVersionError extends Error {
  readonly code = 'CLI_TEMPLATE_VERSION'
  constructor (readonly template: string, readonly versions: string[]) {
    super(versions.length === 0
      ? `no template named ${JSON.stringify(template)} is loaded (\`meshconf template list\` lists them; \`meshconf app load <folder|zip>\` loads one)`
      : `template ${template} is loaded in versions ${versions.join(', ')}: give one, e.g. \`meshconf template show ${JSON.stringify(template)} ${versions[0]}\``)
    this.name = 'TemplateVersionError'
  }
}

/** The template `name` at `version`, or its only loaded version when none is given. */
export async function resolveTemplate (client: DmClient, name: string, version?: string): Promise<TemplateRef> {
  if (version !== undefined) return { name, version }
  const versions = (await client.listTemplates()).filter(t => t.name === name).map(t => t.version)
  if (versions.length !== 1) throw new TemplateVersionError(name, versions)
  return { name, version: versions[0] }
}

type Options = DmOptions & OutputOptions

async function list (options: Options): Promise<void> {
  const templates = await connect(options).listTemplates()
  await printResult(options, { templates }, wide => templates.length === 0
    ? ['no template: load one with `meshconf app load <folder|zip>`']
    : tableLines(['NAME', 'VERSION', 'DESCRIPTION'], templates.map(t => [t.name, t.version, t.description ?? '']), wide))
}

async function show (name: string, version: string | undefined, options: Options): Promise<void> {
  const client = connect(options)
  const template = await client.getTemplate(await resolveTemplate(client, name, version))
  await printResult(options, { template }, wide => [
    `template ${template.name} ${template.version}${template.description !== undefined && template.description !== '' ? `: ${template.description}` : ''}`,
    `loaded ${template.createdAt}; ${plural(template.warnings.length, 'warning')}; applications: ${template.applications.length === 0 ? 'none' : template.applications.join(', ')}`,
    ...template.warnings.map(w => `  ${formatModelError(w)}`),
    '',
    ...tableLines(['COMPONENT', 'INSTALLER', 'CHILDREN', 'IMPORTS', 'EXPORTS'], template.components.map(c =>
      [c.name, c.installer, c.children.join(', '), c.imports.join(', '), c.exports.join(', ')]), wide),
    '',
    `${plural(template.instances.length, 'declared instance')}${template.instances.length > 0 ? ':' : ''}`,
    ...template.instances.map(p => `  ${p}`)
  ])
}

async function remove (name: string, version: string | undefined, options: Options): Promise<void> {
  const client = connect(options)
  const template = await resolveTemplate(client, name, version)
  await client.deleteTemplate(template)
  if (options.output !== undefined || options.json === true) await printDocument(options, { deleted: template })
  else console.log(`deleted template ${template.name} ${template.version}`)
}

export const registerTemplateCommands: CommandRegistration = (program: Command) => {
  const template = program.command('template').description('list, show and delete the templates loaded in the DM')
  withOutputOptions(withDmOptions(template.command('list')
    .description('list the loaded templates')))
    .action(list)
  withOutputOptions(withDmOptions(template.command('show')
    .description('show a template: components, declared instances, warnings, applications made from it')
    .argument('<name>', 'template name')
    .argument('[version]', 'template version (default: its only loaded version)')))
    .action(show)
  withOutputOptions(withDmOptions(template.command('delete')
    .description('delete a template (refused while applications use it, naming them)')
    .argument('<name>', 'template name')
    .argument('[version]', 'template version (default: its only loaded version)')))
    .action(remove)
}
