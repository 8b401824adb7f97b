// Values (exports, imports, instance names) are data, never code: what recipes get of them is quoted for the shell,
// passed through the environment, and never carries a character a process's environment or arguments cannot hold.
// The recipes' environment is allow-listed: Roboconf's variables plus these of the agent's own, never its secrets.
import { UnsafeValueError } from '../errors.js'

/** Variables of the agent's environment a recipe process also gets (besides Roboconf's): nothing else passes. */
export const RECIPE_INHERITED_VARIABLES = ['PATH', 'HOME', 'LANG'] as const

/** Characters that mean nothing to a shell, anywhere in a word: such values are written as they are. */
const SHELL_SAFE = /^[A-Za-z0-9._/:,@+=%-]+$/

/**
 * `value` as one bash word: as it is when made only of characters no shell context gives a meaning to (an address,
 * a port), else an ANSI-C quoted word (`$'...'`) whose every other character is a `\xHH` escape of its UTF-8 bytes.
 * The word is then made only of letters, digits, `\`, `$` and `'`: wherever a template puts it (bare, inside double
 * or single quotes, in a here-document) it can never end a quote, expand anything or start a command; bare, bash
 * reads it back as the exact value.
 */
export function shellQuote (value: string): string {
  if (SHELL_SAFE.test(value)) return value
  let word = "$'"
  for (const character of value) {
    if (SHELL_SAFE.test(character)) word += character
    else for (const byte of Buffer.from(character, 'utf8')) word += `\\x${byte.toString(16).padStart(2, '0')}`
  }
  return `${word}'`
}

/**
 * The environment of a recipe process: PATH, HOME and LANG of `inherited` (the agent's), then `variables`.
 * Throws UnsafeValueError when a name or value holds a NUL (no process environment can carry one).
 */
export function recipeEnvironment (variables: Record<string, string>, instancePath: string,
  inherited: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of RECIPE_INHERITED_VARIABLES) {
    const value = inherited[name]
    if (value !== undefined) env[name] = value
  }
  for (const [name, value] of Object.entries(variables)) env[name] = value
  for (const [name, value] of Object.entries(env)) {
    if (name.includes('\0') || name.includes('=')) throw new UnsafeValueError(instancePath, `variable name ${JSON.stringify(name)}`)
    if (value.includes('\0')) throw new UnsafeValueError(instancePath, `variable ${name}`)
  }
  return env
}

/** Throws UnsafeValueError when an argument of a recipe process holds a NUL. */
export function checkArguments (args: readonly string[], instancePath: string): void {
  const bad = args.findIndex(a => a.includes('\0'))
  if (bad >= 0) throw new UnsafeValueError(instancePath, `argument ${bad + 1} of the recipe process`)
}
