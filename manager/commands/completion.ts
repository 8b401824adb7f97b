// `meshconf completion bash|zsh|fish` prints a script that asks `meshconf __complete <shell> <index> -- <words>` for
// the candidates of the word being typed: commands, subcommands and options from the command table, and application
// names, instance paths, components, targets, templates and contexts, asking the DM when it answers in time.
import type { Argument, Command } from 'commander'
import type { CommandRegistration } from '../cli.js'

/** How long completion waits for the DM, in milliseconds: a shell must not hang on an unreachable DM. */
export const COMPLETION_DM_TIMEOUT_MS = 1500

export type Shell = 'bash' | 'zsh' | 'fish'
const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish']

export function completionScript (shell: Shell): string {
  switch (shell) {
    case 'bash':
      return `# meshconf completion for bash: eval "$(meshconf completion bash)" (e.g. in ~/.bashrc)
_meshconf() {
  local IFS=$'\\n' line
  # the words as typed, up to the cursor (COMP_WORDS splits at = and :, which names may hold)
  line="\${COMP_LINE:0:$COMP_POINT}"
  COMPREPLY=( $(meshconf __complete bash -- "$line" 2>/dev/null) )
}
complete -o nospace -o default -F _meshconf meshconf
`
    case 'zsh':
      return `#compdef meshconf
# meshconf completion for zsh: eval "$(meshconf completion zsh)" (e.g. in ~/.zshrc, after compinit)
_meshconf() {
  local -a candidates
  candidates=("\${(@f)$(meshconf __complete zsh -- "\${BUFFER[1,$CURSOR]}" 2>/dev/null)}")
  compadd -Q -S '' -- "\${candidates[@]}"
}
compdef _meshconf meshconf
`
    case 'fish':
      return `# meshconf completion for fish: meshconf completion fish | source (e.g. in ~/.config/fish/config.fish)
complete -c meshconf -f -a '(meshconf __complete fish -- (commandline -cp) 2>/dev/null)'
`
  }
}

/**
 * Splits a command line up to the cursor into words as the shell does (quotes, backslashes); the last word is the
 * one being typed ('' after a space).
 */
export function splitCommandLine (line: string): string[] {
  const words: string[] = []
  let word = ''
  let quote: '"' | "'" | undefined
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]
      else word += c
    } else if (c === '"' || c === "'") { quote = c; inWord = true } else if (c === '\\' && i + 1 < line.length) { word += line[++i]; inWord = true } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else { word += c; inWord = true }
  }
  words.push(word)
  return words
}

/** A candidate as the shell inserts it: spaces and specials escaped for bash and zsh, raw for fish. */
function escapeFor (shell: Shell, candidate: string): string {
  return shell === 'fish' ? candidate : candidate.replace(/([\s"'\\$`!&|;()<>*?[\]{}#~])/g, '\\$1')
}

interface ParsedLine {
  command: Command
  /** Positional words given to `command` before the current word. */
  positionals: string[]
  /** Option values given so far (long name -> value). */
  options: Map<string, string>
  /** The option whose value is being typed, if any. */
  pendingOption?: string
}

/** Walks the words (the current one excluded) down the command tree. */
function parseWords (program: Command, words: string[]): ParsedLine {
  let command = program
  const positionals: string[] = []
  const options = new Map<string, string>()
  let pendingOption: string | undefined
  for (const word of words) {
    if (pendingOption !== undefined) { options.set(pendingOption, word); pendingOption = undefined; continue }
    if (word.startsWith('-')) {
      const [flag, value] = word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined]
      const option = command.options.find(o => o.long === flag || o.short === flag)
      if (option !== undefined && (option.required || option.optional) && value === undefined && !option.negate) pendingOption = option.long ?? flag
      else if (option !== undefined) options.set(option.long ?? flag, value ?? 'true')
      continue
    }
    const sub = positionals.length === 0 ? command.commands.find(c => c.name() === word) : undefined
    if (sub !== undefined) { command = sub; continue }
    positionals.push(word)
  }
  return { command, positionals, options, pendingOption }
}

/** Where the DM's answers come from; the real one asks the DM with a short timeout. */
export interface CompletionSource {
  applications: () => Promise<string[]>
  instancePaths: (app: string) => Promise<string[]>
  components: (app: string) => Promise<string[]>
  targets: () => Promise<string[]>
  templates: () => Promise<string[]>
  contexts: () => Promise<string[]>
}

async function dmSource (options: Map<string, string>): Promise<CompletionSource> {
  const { createDmClient } = await import('../client.js')
  const { resolveDmConfig, configFilePath, readConfig } = await import('../config.js')
  const config = (() => {
    try { return resolveDmConfig({ dm: options.get('--dm'), token: options.get('--token'), context: options.get('--context') }) } catch { return undefined }
  })()
  const client = config === undefined ? undefined : createDmClient({ url: config.url, token: config.token, requestTimeoutMs: COMPLETION_DM_TIMEOUT_MS })
  const quietly = async <T>(fn: () => Promise<T>, fallback: T): Promise<T> => { try { return await fn() } catch { return fallback } }
  const tree = async (app: string): Promise<Array<{ path: string, component: string }>> => {
    if (client === undefined) return []
    const { flattenInstances } = await import('./output.js')
    return flattenInstances(await client.getInstances(app))
  }
  return {
    applications: async () => await quietly(async () => (await client?.listApplications() ?? []).map(a => a.name), []),
    instancePaths: async (app) => await quietly(async () => (await tree(app)).map(n => n.path), []),
    components: async (app) => await quietly(async () => [...new Set((await tree(app)).map(n => n.component))].sort(), []),
    targets: async () => await quietly(async () => (await client?.listTargets() ?? []).map(t => t.id), []),
    templates: async () => await quietly(async () => [...new Set((await client?.listTemplates() ?? []).map(t => t.name))], []),
    contexts: async () => await quietly(async () => Object.keys(readConfig(configFilePath()).contexts), [])
  }
}

/** What kind of value an argument or option takes, from its name. */
function valuesFor (name: string, parsed: ParsedLine, source: CompletionSource): Promise<string[]> | string[] {
  const app = parsed.options.get('--app') ?? parsed.positionals[0]
  switch (name) {
    case 'app': return source.applications()
    case 'path': case 'scope-or-target': return app !== undefined ? combine(source.instancePaths(app), name === 'scope-or-target' ? source.targets() : []) : []
    case 'component': return app !== undefined ? source.components(app) : []
    case 'target': case 'id': return parsed.command.parent?.name() === 'target' ? source.targets() : []
    case 'template': return source.templates()
    case 'context': return source.contexts()
    case 'output': return ['table', 'wide', 'json', 'yaml']
    case 'shell': return [...SHELLS]
    case 'topic': return ['dsl', 'targets', 'security', 'troubleshooting']
    case 'name': {
      const group = parsed.command.parent?.name()
      if (group === 'template') return source.templates()
      if (group === 'context' && parsed.command.name() !== 'add') return source.contexts()
      return []
    }
    case 'handler': return ['local', 'netns', 'docker', 'existing', 'in-process']
    case 'until': return ['DEPLOYED_STARTED', 'DEPLOYED_STOPPED', 'NOT_DEPLOYED']
    default: return []
  }
}

async function combine (...lists: Array<Promise<string[]> | string[]>): Promise<string[]> {
  return (await Promise.all(lists)).flat()
}

/** The candidates for the word being typed on `line` (the command line up to the cursor). */
export async function completeLine (program: Command, line: string, source?: CompletionSource): Promise<string[]> {
  const words = splitCommandLine(line).slice(1) // the first word is meshconf itself
  const current = words.pop() ?? ''
  const parsed = parseWords(program, words)
  const lazySource = async (): Promise<CompletionSource> => source ?? await dmSource(parsed.options)
  let candidates: string[]
  if (parsed.pendingOption !== undefined) {
    candidates = await valuesFor(parsed.pendingOption.replace(/^--/, ''), parsed, await lazySource())
  } else if (current.startsWith('-')) {
    candidates = parsed.command.options.filter(o => !o.hidden).map(o => o.long ?? o.short ?? '').filter(Boolean)
    if (parsed.command.options.some(o => o.long === '--wait')) candidates.push('--wait=')
  } else if (parsed.positionals.length === 0 && parsed.command.commands.length > 0) {
    candidates = parsed.command.commands.filter(c => !c.name().startsWith('_')).map(c => c.name())
  } else {
    const args = (parsed.command as Command & { registeredArguments: readonly Argument[] }).registeredArguments
    const arg = args[Math.min(parsed.positionals.length, args.length - 1)]
    const variadic = arg?.variadic === true
    candidates = arg === undefined || (parsed.positionals.length >= args.length && !variadic) ? [] : await valuesFor(arg.name(), parsed, await lazySource())
  }
  return [...new Set(candidates)].filter(c => c.startsWith(current)).sort()
}

/**
 * `meshconf __complete <shell> -- <line>`: prints one candidate a line, escaped for the shell. `build` makes the
 * program with the named commands loaded (only the one the line names, once its name is complete).
 */
export async function runCompletion (args: string[], build: (load: string[]) => Promise<Command>): Promise<number> {
  const shell = args[0] as Shell
  const dash = args.indexOf('--')
  const line = dash >= 0 ? args.slice(dash + 1).join(' ') : ''
  if (!SHELLS.includes(shell)) return 2
  const words = splitCommandLine(line)
  const named = words.length > 2 ? words.slice(1, -1).find(w => !w.startsWith('-')) : undefined
  const program = await build(named !== undefined ? [named] : [])
  for (const candidate of await completeLine(program, line)) process.stdout.write(escapeFor(shell, candidate) + '\n')
  return 0
}

export const registerCompletionCommand: CommandRegistration = (program: Command) => {
  program.command('completion')
    .description('print the shell completion script: bash, zsh or fish')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText('after', '\nbash: eval "$(meshconf completion bash)"\nzsh:  eval "$(meshconf completion zsh)" (after compinit)\nfish: meshconf completion fish | source')
    .action((shell: string, _options: unknown, command: Command) => {
      if (!SHELLS.includes(shell as Shell)) command.error(`error: unknown shell "${shell}": use bash, zsh or fish`, { exitCode: 2, code: 'meshconf.usage' })
      process.stdout.write(completionScript(shell as Shell))
    })
}
