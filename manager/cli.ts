// The `meshconf` command line. Each command lives in manager/commands/<name>.ts and registers itself here.
// Exit codes: 0 success, 1 failure, 2 usage error.
import { Command, CommanderError } from 'commander'
import { registerAgentCommand } from './commands/agent.js'
import { registerAppCommands } from './commands/app.js'
import { registerDmCommands } from './commands/dm.js'
import { registerInstanceCommands } from './commands/instance.js'
import { registerLifecycleCommands } from './commands/lifecycle.js'
import { registerMachineCommands } from './commands/machine.js'
import { registerScaleCommand } from './commands/scale.js'
import { registerSimulateCommand } from './commands/simulate.js'
import { registerStatusCommand } from './commands/status.js'
import { registerValidate } from './commands/validate.js'
import { errorMessage } from '../protocol/errors.js'

/** A command module: adds its command(s) to the program. Actions set `process.exitCode` on failure. */
export type CommandRegistration = (program: Command) => void

const registrations: CommandRegistration[] = [
  registerAgentCommand,
  registerAppCommands,
  registerDmCommands,
  registerStatusCommand,
  registerLifecycleCommands,
  registerInstanceCommands,
  registerMachineCommands,
  registerScaleCommand,
  registerValidate,
  registerSimulateCommand,
]

export function buildProgram (): Command {
  const program = new Command('meshconf')
    .description('Deploy Roboconf applications; agents resolve imports peer to peer over a libp2p mesh')
    .showHelpAfterError()
    .exitOverride()
  for (const register of registrations) register(program)
  program.commands.forEach(c => c.exitOverride())
  return program
}

export async function main (argv: string[]): Promise<number> {
  process.exitCode = 0
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are not errors
      return err.exitCode === 0 ? 0 : 2
    }
    console.error(`meshconf: ${errorMessage(err)}`)
    return 1
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0
}
