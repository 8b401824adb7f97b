// The script plug-in's environment (reference §4.5), exactly as Roboconf builds it, plus the
// ROBOCONF_IMPORT_CHANGED_<var> variables Roboconf documented but never passed.
import { cleanInstancePath, cleanReversedInstancePath, localNameOf } from '../../protocol/model/exports.js'
import type { ExecutionContext, ImportChange } from './types.js'

/** A variable's name in the environment: its local name, every run of `-` (or the literal `%s`) made `_`. */
export function environmentName (variable: string): string {
  return localNameOf(variable).replace(/(-|%s)+/g, '_')
}

/** The variables a script sees (to be added to the agent's own environment). */
export function scriptEnvironment (context: ExecutionContext, change?: ImportChange): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(context.exports)) env[environmentName(name)] = value ?? ''
  for (const ancestor of context.ancestors) {
    for (const [name, value] of Object.entries(ancestor.exports)) {
      env[`ANCESTOR_${ancestor.component}_${environmentName(name)}`] = value ?? ''
    }
  }
  for (const [prefix, imports] of Object.entries(context.imports)) {
    env[`${prefix}_size`] = String(imports.length)
    imports.forEach((imported, i) => {
      env[`${prefix}_${i}_name`] = imported.instancePath
      for (const [name, value] of Object.entries(imported.variables)) {
        env[`${prefix}_${i}_${environmentName(name)}`] = value ?? ''
      }
    })
  }
  const { instance } = context
  env.ROBOCONF_INSTANCE_NAME = instance.name
  env.ROBOCONF_INSTANCE_PATH = instance.path
  env.ROBOCONF_COMPONENT_NAME = instance.component
  env.ROBOCONF_CLEAN_INSTANCE_PATH = cleanInstancePath(instance.path)
  env.ROBOCONF_CLEAN_REVERSED_INSTANCE_PATH = cleanReversedInstancePath(instance.path)
  env.ROBOCONF_FILES_DIR = `${context.instanceDir}/files`
  if (change !== undefined) {
    env.ROBOCONF_UPDATE_STATUS = change.statusChanged
    env.ROBOCONF_IMPORT_CHANGED_INSTANCE_PATH = change.importChanged.instancePath
    env.ROBOCONF_IMPORT_CHANGED_COMPONENT = change.importChanged.component
    for (const [name, value] of Object.entries(change.importChanged.variables)) {
      env[`ROBOCONF_IMPORT_CHANGED_${environmentName(name)}`] = value ?? ''
    }
  }
  return env
}

/**
 * The Mustache view of a `roboconf-templates/*.template` (reference §1.4: only the imports), every string passed
 * through `quote` (the script plug-in's shell quoting).
 */
export function templateView (context: ExecutionContext, quote: (value: string) => string): object {
  return {
    importLists: Object.entries(context.imports).map(([prefix, imports]) => ({
      prefix: quote(prefix),
      imports: imports.map(imported => ({
        instancePath: quote(imported.instancePath),
        component: quote(imported.component),
        exportedVars: Object.entries(imported.variables).map(([name, value]) => ({ name: quote(name), value: quote(value ?? '') }))
      }))
    }))
  }
}
