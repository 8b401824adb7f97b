// The `meshconf` command line. Every top-level command is one row of COMMANDS: its name, a one-line summary and
// the module that registers it, loaded only when that command runs (or its help is asked), so that `meshconf
// --help`, `--version` and completion do not pay for fastify, SQLite, RabbitMQ or libp2p.
// Exit codes: 0 success, 1 failure, 2 usage error.
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { documentFormatOf, errorDocument, rewriteWaitFlags, serializeDocument } from './commands/format.js'
import { errorMessage } from '../protocol/errors.js'

/** A command module: adds its command(s) to the program. Actions set `process.exitCode` on failure. */
export type CommandRegistration = (program: Command) => void

export interface CommandEntry {
  name: string
  /** One line, lower case, as `meshconf --help` lists it. */
  summary: string
  /** Loads the module registering the command (it may register others too: only `name` is kept). */
  load: () => Promise<CommandRegistration>
}

/** Every top-level command. Another area adds its command with one row here. */
export const COMMANDS: CommandEntry[] = [
  { name: 'dm', summary: 'run the deployment manager', load: async () => (await import('./commands/dm.js')).registerDmCommands },
  { name: 'context', summary: 'list, add, use and delete the DMs this CLI talks to', load: async () => (await import('./commands/context.js')).registerContextCommands },
  { name: 'validate', summary: 'check a template, or one graph, instances, commands or rules file, as Roboconf does', load: async () => (await import('./commands/validate.js')).registerValidate },
  { name: 'template', summary: 'list, show and delete the templates loaded in the DM', load: async () => (await import('./commands/template.js')).registerTemplateCommands },
  { name: 'app', summary: 'load, create, list, show and delete applications', load: async () => (await import('./commands/app.js')).registerAppCommands },
  { name: 'target', summary: 'add, list, show, delete and associate targets (where machines are created)', load: async () => (await import('./commands/target.js')).registerTargetCommands },
  { name: 'status', summary: 'show the instance tree of an application with its live states', load: async () => (await import('./commands/status.js')).registerStatusCommand },
  { name: 'deploy', summary: 'deploy instances (a root instance gets its machine created)', load: async () => (await import('./commands/lifecycle.js')).registerLifecycleCommands },
  { name: 'start', summary: 'deploy and start instances', load: async () => (await import('./commands/lifecycle.js')).registerLifecycleCommands },
  { name: 'stop', summary: 'stop instances (machines keep running)', load: async () => (await import('./commands/lifecycle.js')).registerLifecycleCommands },
  { name: 'undeploy', summary: 'undeploy instances (a root instance gets its machine terminated)', load: async () => (await import('./commands/lifecycle.js')).registerLifecycleCommands },
  { name: 'describe', summary: 'why an instance is where it is: problems, machine, imports held and missing, events', load: async () => (await import('./commands/describe.js')).registerDescribeCommand },
  { name: 'logs', summary: 'a machine\'s recent log through its agent, or the one kept of a terminated machine', load: async () => (await import('./commands/logs.js')).registerLogsCommand },
  { name: 'events', summary: 'the event history of the DM, one line an event; --follow for the live ones', load: async () => (await import('./commands/events.js')).registerEventsCommand },
  { name: 'scale', summary: 'add or remove whole machines carrying a component', load: async () => (await import('./commands/scale.js')).registerScaleCommand },
  { name: 'commands', summary: 'list, show and run the commands files of an application (on the DM)', load: async () => (await import('./commands/commands.js')).registerCommandsCommands },
  { name: 'history', summary: 'what commands, scales, rules and schedules did to an application', load: async () => (await import('./commands/commands.js')).registerCommandsCommands },
  { name: 'rules', summary: 'the autonomic rules of an application and why each last fired or did not', load: async () => (await import('./commands/commands.js')).registerRulesCommand },
  { name: 'schedule', summary: 'add, list and delete cron jobs that execute a commands file', load: async () => (await import('./commands/commands.js')).registerScheduleCommands },
  { name: 'bind', summary: 'let an application import an external prefix from another application', load: async () => (await import('./commands/bindings.js')).registerBindingCommands },
  { name: 'unbind', summary: 'stop an application importing an external prefix from another application', load: async () => (await import('./commands/bindings.js')).registerBindingCommands },
  { name: 'bindings', summary: 'which applications an application imports each external prefix from', load: async () => (await import('./commands/bindings.js')).registerBindingCommands },
  { name: 'instance', summary: 'add, replicate, rename and delete instances', load: async () => (await import('./commands/instance.js')).registerInstanceCommands },
  { name: 'machine', summary: 'the machines of an application (agent params)', load: async () => (await import('./commands/machine.js')).registerMachineCommands },
  { name: 'agent', summary: 'run the agent of this machine, or show its mesh view', load: async () => (await import('./commands/agent.js')).registerAgentCommand },
  { name: 'simulate', summary: 'run a scenario end to end with a DM of its own and real agents', load: async () => (await import('./commands/simulate.js')).registerSimulateCommand },
  { name: 'image', summary: 'build the agent image machines of the docker target boot from', load: async () => (await import('./commands/image.js')).registerImageCommands },
  { name: 'completion', summary: 'print the shell completion script: bash, zsh or fish', load: async () => (await import('./commands/completion.js')).registerCompletionCommand },
  { name: 'help', summary: 'help on a command, or on a topic: dsl, targets, security, troubleshooting', load: async () => (await import('./commands/help.js')).registerHelpCommand }
]

/** The command the completion scripts run (not listed). */
export const COMPLETE_COMMAND = '__complete'

const PROGRAM_DESCRIPTION = 'Deploy Roboconf applications; agents resolve imports peer to peer over a libp2p mesh'

/** The package's version, from the package.json above this file (sources and dist/ sit at different depths). */
export function packageVersion (): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'meshconf' && typeof pkg.version === 'string') return pkg.version
    } catch { /* try the next one */ }
  }
  return 'unknown'
}

/** The top-level command argv names (the first word that is not an option), if any. */
export function invokedCommand (args: string[]): string | undefined {
  return args.find(a => !a.startsWith('-'))
}

/**
 * `meshconf --context NAME app list` is `meshconf app list --context NAME`: the option belongs to the commands
 * talking to a DM, and may also come first, as with kubectl.
 */
export function moveLeadingContext (args: string[]): string[] {
  const rest = [...args]
  const moved: string[] = []
  while (rest.length > 0 && rest[0].startsWith('-')) {
    if (rest[0] === '--context' && rest.length > 1) moved.push(...rest.splice(0, 2))
    else if (rest[0].startsWith('--context=')) moved.push(...rest.splice(0, 1))
    else break
  }
  if (moved.length === 0) return args
  const end = rest.indexOf('--')
  return end < 0 ? [...rest, ...moved] : [...rest.slice(0, end), ...moved, ...rest.slice(end)]
}

/** `meshconf app create` */
function fullName (command: Command): string {
  const names: string[] = []
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * Every command: usage errors print the message, the one relevant usage line and where to read more (not the whole help); under
 * `-o json|yaml`, one error document on stdout instead.
 */
function configureCommands (command: Command, documentFormat: 'json' | 'yaml' | undefined, pending: Array<Promise<void>>): void {
  command.exitOverride()
  command.configureOutput({
    outputError: (message, write) => {
      if (documentFormat !== undefined) {
        pending.push(serializeDocument(documentFormat, { ok: false, code: 'CLI_USAGE', message: message.replace(/^error: /, '').trim() })
          .then(text => { process.stdout.write(text) }))
        return
      }
      const name = fullName(command)
      write(`${message.trimEnd()}\nUsage: ${name} ${command.usage()}\nsee ${name} --help\n`)
    }
  })
  for (const sub of command.commands) configureCommands(sub, documentFormat, pending)
}

function newProgram (): Command {
  return new Command('meshconf')
    .description(PROGRAM_DESCRIPTION)
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print the help')
    .helpCommand(false)
    // the program's options only before the command: `app create --version 1.0` is the template's version
    .enablePositionalOptions()
}

/** Adds a command whose module is loaded: registered on a scratch program, only `entry.name` is kept. */
async function addLoaded (program: Command, entry: CommandEntry): Promise<Command> {
  const scratch = new Command('meshconf')
  ;(await entry.load())(scratch)
  const command = scratch.commands.find(c => c.name() === entry.name)
  if (command === undefined) throw new Error(`the module of \`meshconf ${entry.name}\` did not register it`)
  program.addCommand(command)
  return command
}

/**
 * The program: every command listed by its summary, only `load` (when given) registered for real. Commands that
 * are not loaded cannot run; `main` loads the one argv names.
 */
export async function buildProgram (load: string[] = COMMANDS.map(c => c.name)): Promise<Command> {
  const program = newProgram()
  for (const entry of COMMANDS) {
    if (load.includes(entry.name)) await addLoaded(program, entry)
    else program.command(entry.name).description(entry.summary)
  }
  // one wording everywhere; `meshconf help <command>` replaces the groups' own help subcommands
  const walk = (command: Command): void => {
    command.helpOption('-h, --help', 'print the help').helpCommand(false)
    // subcommands listed by name (their own help gives their arguments): long terms leave commander no room to
    // wrap the descriptions to the terminal
    command.configureHelp({ ...command.configureHelp(), subcommandTerm: (sub: Command) => sub.name() })
    command.commands.forEach(walk)
  }
  walk(program)
  return program
}

/** The help of a top-level command (or of the program for undefined), as `meshconf <name> --help` prints it. */
export async function commandHelp (name?: string): Promise<string | undefined> {
  if (name === undefined) return (await buildProgram([])).helpInformation()
  if (!COMMANDS.some(c => c.name === name)) return undefined
  const program = await buildProgram([name])
  return program.commands.find(c => c.name() === name)?.helpInformation()
}

export async function main (argv: string[]): Promise<number> {
  process.exitCode = 0
  if (argv[2] === COMPLETE_COMMAND) {
    // what the completion scripts run at each <Tab>
    const { runCompletion } = await import('./commands/completion.js')
    return await runCompletion(argv.slice(3), buildProgram)
  }
  const args = moveLeadingContext(rewriteWaitFlags(argv.slice(2)))
  const documentFormat = documentFormatOf(args)
  const pending: Array<Promise<void>> = []
  try {
    const name = invokedCommand(args)
    const program = await buildProgram(name !== undefined ? [name] : [])
    configureCommands(program, documentFormat, pending)
    if (args.length === 0) {
      // bare `meshconf`: the help, and success
      process.stdout.write(program.helpInformation())
      return 0
    }
    await program.parseAsync(args, { from: 'user' })
  } catch (err) {
    await Promise.all(pending)
    if (err instanceof CommanderError) {
      // help and version are not errors
      return err.exitCode === 0 ? 0 : 2
    }
    if (documentFormat !== undefined) process.stdout.write(await serializeDocument(documentFormat, errorDocument(err)))
    else console.error(`meshconf: ${errorMessage(err)}`)
    return 1
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0
}
