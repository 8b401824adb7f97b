// `meshconf validate <folder-or-zip> [--json]`: loads an application template and reports Roboconf's verdicts,
// compiler style (`graph/main.graph:12: SEVERE CODE: message`). Exit 1 when a SEVERE error exists.
import type { Command } from 'commander'
import {
  allInstances, formatModelError, hasSevere, instanceExports, loadApplicationTemplate, type LoadResult
} from '../../protocol/model/index.js'

/** The `--json` document: exactly one JSON value on stdout. */
export function validationReport (result: LoadResult): unknown {
  const template = result.template
  const components = Object.values(template?.components ?? {})
  return {
    loadable: !hasSevere(result.errors) && template !== undefined,
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

export function registerValidate (program: Command): void {
  program.command('validate')
    .description('Check a Roboconf application template (folder or .zip) as Roboconf does')
    .argument('<folder-or-zip>', 'application template folder or .zip file')
    .option('--json', 'print one JSON document: loadable, errors, resolved components and instances')
    .action(async (target: string, options: { json?: boolean }) => {
      const result = await loadApplicationTemplate(target)
      const severe = hasSevere(result.errors) || result.template === undefined
      if (options.json === true) {
        process.stdout.write(JSON.stringify(validationReport(result), null, 2) + '\n')
      } else {
        for (const error of result.errors) console.log(formatModelError(error))
        const count = (level: string): number => result.errors.filter(e => e.level === level).length
        console.log(`${target}: ${severe ? 'NOT loadable' : 'loadable'} (${count('SEVERE')} severe, ${count('WARNING')} warnings)`)
      }
      if (severe) process.exitCode = 1
    })
}
