// The `script` plug-in (alias `bash`): runs scripts/<action>.sh, else the first scripts/<action>*, else a rendered
// roboconf-templates/<action>.template or default.template; nothing (with a warning) when none exists.
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Mustache from 'mustache'
import { DEFAULT_RECIPE_TIMEOUT_MS } from '../constants.js'
import { RecipeFailedError } from '../errors.js'
import { scriptEnvironment, templateView } from './environment.js'
import { runRecipeProcess } from './process.js'
import { recipeEnvironment, shellQuote } from './values.js'
import type { ExecutionContext, ImportChange, LifecycleStep, Plugin } from './types.js'

export interface ScriptPluginOptions {
  /** Kill a script (and its process group) after this many ms. Default DEFAULT_RECIPE_TIMEOUT_MS (5 minutes). */
  timeoutMs?: number
  /** Installer name. Default `script`. */
  name?: string
}

export function createScriptPlugin (options: ScriptPluginOptions = {}): Plugin {
  const timeoutMs = options.timeoutMs ?? DEFAULT_RECIPE_TIMEOUT_MS
  const run = (step: LifecycleStep) => async (context: ExecutionContext, change?: ImportChange): Promise<void> => {
    await runStep(step, context, timeoutMs, change)
  }
  return {
    name: options.name ?? 'script',
    initialize: async () => {},
    deploy: run('deploy'),
    start: run('start'),
    update: run('update'),
    stop: run('stop'),
    undeploy: run('undeploy')
  }
}

async function runStep (step: LifecycleStep, context: ExecutionContext, timeoutMs: number,
  change?: ImportChange): Promise<void> {
  const path = context.instance.path
  // Built first: a value no process can carry fails the step before any script or template is touched.
  const env = recipeEnvironment(scriptEnvironment(context, change), path)
  const found = await findScript(step, context)
  if (found === undefined) {
    context.log.warn(`[${path}] script plug-in: no script or template for "${step}" in ${context.instanceDir}; ` +
      'nothing to run')
    return
  }
  try {
    const body = await readFile(found.file, 'utf8')
    await chmod(found.file, 0o755)
    // Like an exec from a shell: a file without `#!` runs with bash.
    const [command, args] = body.startsWith('#!') ? [found.file, []] : ['/bin/bash', [found.file]]
    const what = `script ${found.label}`
    // runRecipeProcess spawns before it first awaits: the line is formatted and logged once the recipe runs
    const running = runRecipeProcess({
      what, step, instancePath: path, command, args, cwd: found.cwd, env, timeoutMs, log: context.log
    })
    context.log.info(`[${path}] running ${what}`)
    const outcome = await running
    if (outcome.exitCode !== 0) throw new RecipeFailedError(what, path, outcome)
  } finally {
    if (found.temporaryDir !== undefined) await rm(found.temporaryDir, { recursive: true, force: true })
  }
}

interface FoundScript { file: string, cwd: string, label: string, temporaryDir?: string }

async function findScript (step: LifecycleStep, context: ExecutionContext): Promise<FoundScript | undefined> {
  const scripts = join(context.instanceDir, 'scripts')
  const names = await listFiles(scripts)
  const exact = `${step}.sh`
  const candidates = names.includes(exact) ? [exact] : names.filter(n => n.startsWith(step)).sort()
  if (candidates.length > 1) {
    context.log.warn(`[${context.instance.path}] script plug-in: several scripts for "${step}" ` +
      `(${candidates.join(', ')}); running ${candidates[0]}`)
  }
  if (candidates.length > 0) {
    return { file: join(scripts, candidates[0]), cwd: scripts, label: `scripts/${candidates[0]}` }
  }
  const templates = join(context.instanceDir, 'roboconf-templates')
  const templateNames = await listFiles(templates)
  const template = [`${step}.template`, 'default.template'].find(n => templateNames.includes(n))
  if (template === undefined) return undefined
  // A script is not HTML: every value is one shell word, quoted in the view itself so that `{{{value}}}` (which
  // Mustache does not escape) is quoted too. A value from a peer must never become shell code.
  const rendered = Mustache.render(await readFile(join(templates, template), 'utf8'), templateView(context, shellQuote),
    {}, { escape: value => String(value) })
  const temporaryDir = await mkdtemp(join(tmpdir(), 'meshconf-template-'))
  const file = join(temporaryDir, `${step}.sh`)
  await writeFile(file, rendered)
  return { file, cwd: dirname(join(templates, template)), label: `roboconf-templates/${template}`, temporaryDir }
}

async function listFiles (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter(e => e.isFile()).map(e => e.name)
  } catch {
    return []
  }
}
