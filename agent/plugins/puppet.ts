// The `puppet` plug-in (reference §1.4): `puppet module install` for modules.properties on initialize, then
// `puppet apply` of the instance's roboconf_* module with Roboconf's class parameters (runningState, exports,
// imports, importDiff). Exit codes 0 and 2 succeed, 6 succeeds with a warning, anything else fails.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importedPrefixes, localNameOf } from '../../protocol/model/exports.js'
import type { Import } from '../../protocol/messages.js'
import { DEFAULT_RECIPE_TIMEOUT_MS } from '../constants.js'
import { RecipeFailedError } from '../errors.js'
import { parseProperties } from './properties.js'
import { runRecipeProcess } from './process.js'
import { checkArguments, recipeEnvironment } from './values.js'
import type { ExecutionContext, ImportChange, LifecycleStep, Plugin } from './types.js'

export interface PuppetPluginOptions {
  /** Kill `puppet` (and its process group) after this many ms. Default DEFAULT_RECIPE_TIMEOUT_MS (5 minutes). */
  timeoutMs?: number
  /** The puppet executable. Default `puppet` (from PATH). */
  command?: string
}

/**
 * Folder of the instance folder where its `puppet apply` runs keep their state (vardir, rundir, ssldir), instead of
 * the host's /var/cache/puppet, /run/puppet and /var/lib/puppet/ssl: the first runs of several instances (or agents
 * on one host) created those at once and failed with "File exists".
 */
export const PUPPET_STATE_FOLDER = '.puppet'

/** Prefix of the module folder Roboconf applies (the first sub-folder of the instance folder with this prefix). */
export const PUPPET_MODULE_PREFIX = 'roboconf_'

const RUNNING_STATE: Record<LifecycleStep, string> = {
  deploy: 'stopped', stop: 'stopped', start: 'running', update: 'undef', undeploy: 'undef'
}

export function createPuppetPlugin (options: PuppetPluginOptions = {}): Plugin {
  const timeoutMs = options.timeoutMs ?? DEFAULT_RECIPE_TIMEOUT_MS
  const command = options.command ?? 'puppet'
  const puppet = async (context: ExecutionContext, what: string, args: string[], okCodes: number[]): Promise<void> => {
    checkArguments(args, context.instance.path)
    const outcome = await runRecipeProcess({
      what, instancePath: context.instance.path, command, args, cwd: context.instanceDir,
      env: recipeEnvironment({}, context.instance.path), timeoutMs, log: context.log
    })
    if (outcome.exitCode === 6) context.log.warn(`[${context.instance.path}] ${what}: changes with failures (exit 6)`)
    else if (outcome.exitCode === null || !okCodes.includes(outcome.exitCode)) {
      throw new RecipeFailedError(what, context.instance.path, outcome)
    }
  }
  const apply = (step: LifecycleStep) => async (context: ExecutionContext, change?: ImportChange): Promise<void> => {
    const module = await findModule(context.instanceDir)
    if (module === undefined) {
      context.log.warn(`[${context.instance.path}] puppet plug-in: no ${PUPPET_MODULE_PREFIX}* module in ` +
        `${context.instanceDir}; nothing to apply for ${step}`)
      return
    }
    const manifests = await readdir(join(context.instanceDir, module, 'manifests')).catch(() => [] as string[])
    const className = manifests.includes(`${step}.pp`) ? `${module}::${step}` : module
    const modulePath = [process.env.MODULEPATH, context.instanceDir].filter(p => p !== undefined && p !== '').join(':')
    const manifest = `class{'${className}': ${classParameters(step, context, change)}}`
    const state = join(context.instanceDir, PUPPET_STATE_FOLDER)
    await puppet(context, `puppet apply ${className}`,
      ['apply', '--verbose', '--detailed-exitcodes', '--color=false', '--modulepath', modulePath,
        '--vardir', join(state, 'var'), '--rundir', join(state, 'run'), '--ssldir', join(state, 'ssl'), '--execute', manifest],
      [0, 2, 6])
  }
  return {
    name: 'puppet',
    initialize: async (context) => {
      let text: string
      try {
        text = await readFile(join(context.instanceDir, 'modules.properties'), 'utf8')
      } catch {
        return
      }
      for (const [module, version] of parseProperties(text)) {
        const args = ['module', 'install', '--color=false', ...(version !== '' ? ['--version', version] : []), module,
          '--target-dir', context.instanceDir]
        await puppet(context, `puppet module install ${module}`, args, [0])
      }
    },
    deploy: apply('deploy'),
    start: apply('start'),
    update: apply('update'),
    stop: apply('stop'),
    undeploy: apply('undeploy')
  }
}

async function findModule (instanceDir: string): Promise<string | undefined> {
  const entries = await readdir(instanceDir, { withFileTypes: true }).catch(() => [])
  return entries.filter(e => e.isDirectory() && e.name.startsWith(PUPPET_MODULE_PREFIX)).map(e => e.name).sort()[0]
}

/** `runningState => …, <export> => '…'|undef, <prefix> => { '<path>' => { … } }|undef[, importDiff => {…}]` */
export function classParameters (step: LifecycleStep, context: ExecutionContext, change?: ImportChange): string {
  const parameters = [`runningState => ${RUNNING_STATE[step]}`]
  for (const [name, value] of Object.entries(context.exports)) {
    parameters.push(`${localNameOf(name).toLowerCase()} => ${value === null ? 'undef' : quote(value)}`)
  }
  for (const prefix of importedPrefixes(context.component).keys()) {
    const imports = context.imports[prefix] ?? []
    parameters.push(`${prefix.toLowerCase()} => ${imports.length === 0 ? 'undef' : importsHash(imports)}`)
  }
  if (step === 'update' && change !== undefined) {
    const changed = importsHash([change.importChanged])
    const added = change.statusChanged === 'DEPLOYED_STARTED' ? changed : 'undef'
    const removed = change.statusChanged === 'DEPLOYED_STARTED' ? 'undef' : changed
    parameters.push(`importDiff => {added => ${added}, removed => ${removed}, ` +
      `component => ${quote(change.importChanged.component)}}`)
  }
  return parameters.join(', ')
}

function importsHash (imports: Import[]): string {
  const entries = imports.map(imported => {
    const variables = Object.entries(imported.variables)
      .map(([name, value]) => `${quote(localNameOf(name))} => ${value === null ? 'undef' : quote(value)}`)
    return `${quote(imported.instancePath)} => {${variables.join(', ')}}`
  })
  return `{${entries.join(', ')}}`
}

/** A Puppet single-quoted string: only `\` and `'` are special. */
function quote (value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
