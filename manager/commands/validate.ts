// `meshconf validate <folder | zip | file.graph | file.instances | file.commands | file.drl>`: Roboconf's verdicts,
// compiler style (`graph/main.graph:12: SEVERE CODE: message`); exit 1 when a SEVERE error exists. A single file
// inside a template is checked with the template around it (an instances file needs the graph, a commands file the
// instances); only its own findings are reported. A graph or rules file may also stand alone.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, extname, join, relative, resolve } from 'node:path'
import type { Command } from 'commander'
import {
  allInstances, formatModelError, hasSevere, instanceExports, loadApplicationTemplate, loadGraph, modelError,
  parseFile, parseRule, validateBlocks, type LoadResult, type ModelError
} from '../../protocol/model/index.js'
import { isDocument, plural, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { withPuppetSyntax } from '../puppet-syntax.js'

/** The kinds of input validate accepts, by extension (a folder is a template). */
export const SINGLE_FILE_KINDS: Record<string, string> = {
  '.graph': 'graph',
  '.instances': 'instances',
  '.commands': 'commands',
  '.drl': 'rules'
}

/** What validate was given cannot be checked: not a template, not one of the file kinds. */
export class ValidateInputError extends Error {
  readonly code = 'CLI_VALIDATE_INPUT'
  constructor (readonly input: string, reason: string) {
    super(`cannot validate ${input}: ${reason} (give a template folder or .zip, or one .graph, .instances, .commands or .drl file)`)
    this.name = 'ValidateInputError'
  }
}

/** The `-o json` document. */
export function validationReport (result: LoadResult, input?: { path: string, kind: string }): Record<string, unknown> {
  const template = result.template
  const components = Object.values(template?.components ?? {})
  const loadable = !hasSevere(result.errors) && (template !== undefined || input !== undefined)
  return {
    ok: loadable,
    ...(input !== undefined ? { input } : {}),
    loadable,
    errors: result.errors.map(e => ({ code: e.code, level: e.level, file: e.file ?? null, line: e.line ?? null, message: e.message })),
    components: components.map(c => ({
      name: c.name,
      installer: c.installer,
      exports: c.exports,
      imports: c.imports.map(i => ({ name: i.name, optional: i.optional, external: i.external }))
    })),
    instances: allInstances(template?.rootInstances ?? []).flatMap(i => {
      const component = template?.components[i.component]
      return component === undefined ? [] : [{ path: i.path, component: i.component, exports: instanceExports(component, i, null) }]
    })
  }
}

/** The template folder holding `file` (the nearest folder above it with descriptor/application.properties). */
function templateRootOf (file: string): string | undefined {
  for (let dir = dirname(resolve(file)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'descriptor', 'application.properties'))) return dir
  }
  return undefined
}

/** Checks one file; inside a template, with the template around it, keeping only that file's findings. */
export async function validateSingleFile (file: string, kind: string): Promise<LoadResult> {
  const root = templateRootOf(file)
  if (root !== undefined) {
    const result = await loadApplicationTemplate(root)
    const own = relative(root, resolve(file)).split('\\').join('/')
    // the file's own findings; the template's SEVERE errors elsewhere are kept too, since they stop the check
    const errors = result.errors.filter(e => e.file === own || (e.file === undefined && e.level === 'SEVERE'))
    return { ...result, errors: errors.map(e => e.file === own ? { ...e, file } : e) }
  }
  const text = readFileSync(file, 'utf8')
  switch (kind) {
    case 'graph': {
      const folder = dirname(file)
      const loaded = loadGraph(basename(file), (path) => {
        const at = join(folder, path.replace(/^graph\//, ''))
        return existsSync(at) ? { text: readFileSync(at, 'utf8') } : { missing: true }
      })
      return { errors: loaded.errors.map(e => e.file === basename(file) || e.file === `graph/${basename(file)}` ? { ...e, file } : e) }
    }
    case 'rules':
      return { errors: parseRule(text, file).errors }
    case 'instances': {
      // alone, only the syntax: the components are in the graph of a template
      const definition = parseFile(text, file)
      return { errors: [...definition.errors, ...validateBlocks(definition)] }
    }
    default:
      return { errors: [modelError('PROJ_NO_DESCRIPTOR_FILE', file, undefined, `a ${kind} file is checked against its template: put it in <template>/commands/ and validate it there`)] }
  }
}

async function validate (input: string, options: OutputOptions): Promise<void> {
  if (!existsSync(input)) throw new ValidateInputError(input, 'no such file or folder')
  const isFolder = statSync(input).isDirectory()
  const extension = extname(input).toLowerCase()
  const kind = isFolder ? undefined : SINGLE_FILE_KINDS[extension]
  if (!isFolder && kind === undefined && extension !== '.zip') {
    throw new ValidateInputError(input, `a ${extension === '' ? 'file without extension' : `${extension} file`} is none of the kinds validate checks`)
  }
  const result = kind !== undefined ? await validateSingleFile(input, kind) : await withPuppetSyntax(await loadApplicationTemplate(input))
  const report = validationReport(result, kind !== undefined ? { path: input, kind } : undefined)
  const severe = report.loadable !== true
  if (isDocument(options)) {
    await printDocument(options, report)
  } else {
    for (const error of result.errors) console.log(formatModelError(error as ModelError))
    const count = (level: string): number => result.errors.filter(e => e.level === level).length
    console.log(`${input}: ${severe ? 'NOT loadable' : kind !== undefined ? `a valid ${kind} file` : 'loadable'} (${plural(count('SEVERE'), 'error')}, ${plural(count('WARNING'), 'warning')})`)
  }
  if (severe) process.exitCode = 1
}

export function registerValidate (program: Command): void {
  withOutputOptions(program.command('validate')
    .description('check a template (folder or .zip), or one .graph, .instances, .commands or .drl file, as Roboconf does')
    .argument('<template|file>', 'template folder or .zip, or one file of a template'))
    .action(validate)
}
