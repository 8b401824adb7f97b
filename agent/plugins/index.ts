// The plug-ins an agent has by default, by lower-case installer name (`bash` is the script plug-in's old name).
import { createFilePlugin } from './file.js'
import { createLoggerPlugin } from './logger.js'
import { createPuppetPlugin } from './puppet.js'
import { createScriptPlugin } from './script.js'
import type { Plugin, PluginRegistry } from './types.js'

export interface DefaultPluginOptions {
  /** Timeout of a script or puppet run (ms). Default DEFAULT_RECIPE_TIMEOUT_MS (5 minutes). */
  recipeTimeoutMs?: number
}

export function createDefaultPlugins (options: DefaultPluginOptions = {}): PluginRegistry {
  const script = createScriptPlugin({ timeoutMs: options.recipeTimeoutMs })
  return pluginRegistry([script, { ...script, name: 'bash' }, createPuppetPlugin({ timeoutMs: options.recipeTimeoutMs }),
    createFilePlugin(), createLoggerPlugin()])
}

/** Keys plug-ins by their lower-cased name; later ones replace earlier ones of the same name. */
export function pluginRegistry (plugins: Iterable<Plugin>): PluginRegistry {
  const registry = new Map<string, Plugin>()
  for (const plugin of plugins) registry.set(plugin.name.toLowerCase(), plugin)
  return registry
}

export type { ExecutionContext, ImportChange, LifecycleStep, Plugin, PluginRegistry } from './types.js'
