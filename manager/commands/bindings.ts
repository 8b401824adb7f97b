// `meshconf bind|unbind|bindings <app> <prefix> [<exporting app>]`: which applications an application imports each
// external prefix from (REST /api/applications/:app/bindings, bind, unbind, bind-x). The change reaches the
// application's agents at once: bound importers start receiving, unbound ones drop those imports.
import type { Command } from 'commander'
import type { ApplicationBindingsView } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { printResult, tableLines, withOutputOptions, type OutputOptions } from './format.js'
import { connect, usageError, withDmOptions, type DmOptions } from './output.js'

type Options = DmOptions & OutputOptions

function rows (view: ApplicationBindingsView, prefix?: string): string[][] {
  return Object.entries(view.prefixes)
    .filter(([p]) => prefix === undefined || p === prefix)
    .flatMap(([p, apps]) => apps.length === 0 ? [[p, '(no application exports it)', '']] : apps.map(a => [p, a.application, a.bound ? 'yes' : 'no']))
}

async function print (options: Options, view: ApplicationBindingsView, prefix?: string, said?: string): Promise<void> {
  await printResult(options, { bindings: view }, wide => [
    ...(said === undefined ? [] : [said]),
    ...(Object.keys(view.prefixes).length === 0
      ? [`${view.application} imports no external prefix`]
      : tableLines(['PREFIX', 'EXPORTING APPLICATION', 'BOUND'], rows(view, prefix), wide))
  ])
}

async function list (app: string, prefix: string | undefined, options: Options): Promise<void> {
  await print(options, await connect(options).bindings(app), prefix)
}

interface BindOptions extends Options { replace?: boolean }

async function bind (app: string, prefix: string, exporters: string[], options: BindOptions, command: Command): Promise<void> {
  const client = connect(options)
  let chosen = exporters
  if (chosen.length === 0 && options.replace !== true) {
    // one application exporting the prefix: it is the one meant
    const candidates = (await client.bindings(app)).prefixes[prefix]?.map(a => a.application) ?? []
    if (candidates.length !== 1) {
      usageError(command, candidates.length === 0
        ? `no application exports ${prefix} to ${app}: name the exporting application`
        : `several applications export ${prefix}: name one of ${candidates.join(', ')}`)
    }
    chosen = candidates
  }
  let view = options.replace === true ? await client.replaceBindings(app, prefix, chosen) : undefined
  if (options.replace !== true) for (const exporter of chosen) view = await client.bind(app, prefix, exporter)
  await print(options, view ?? await client.bindings(app), prefix, `${app} imports ${prefix} from ${chosen.length === 0 ? 'no application' : chosen.join(', ')}${options.replace === true ? ' only' : ''}`)
}

async function unbind (app: string, prefix: string, exporter: string | undefined, options: Options): Promise<void> {
  const client = connect(options)
  const view = exporter === undefined ? await client.replaceBindings(app, prefix, []) : await client.unbind(app, prefix, exporter)
  await print(options, view, prefix, `${app} no longer imports ${prefix} from ${exporter ?? 'any application'}`)
}

export const registerBindingCommands: CommandRegistration = (program: Command) => {
  withOutputOptions(withDmOptions(program.command('bindings')
    .description('for each external prefix an application imports: the applications exporting it, and whether each is bound')
    .argument('<app>', 'the importing application')
    .argument('[prefix]', 'only this external prefix')))
    .action(list)
  withOutputOptions(withDmOptions(program.command('bind')
    .description('let an application import an external prefix from another application (its agents start receiving at once)')
    .argument('<app>', 'the importing application')
    .argument('<prefix>', 'the external prefix (exports-prefix of the exporting template)')
    .argument('[exporting-app...]', 'the exporting application(s); default: the one application exporting the prefix')
    .option('--replace', 'import the prefix from exactly these applications (Roboconf\'s bind-x; none: from no application)')))
    .action(bind)
  withOutputOptions(withDmOptions(program.command('unbind')
    .description('stop an application importing an external prefix from another application (its importers drop those imports at once)')
    .argument('<app>', 'the importing application')
    .argument('<prefix>', 'the external prefix')
    .argument('[exporting-app]', 'the exporting application; default: every one')))
    .action(unbind)
}
