// `meshconf machine params <app> <machine path>`: the params (user data) a machine of the existing target hands its
// agent, as one JSON document: the machine reads it as /etc/meshconf/agent.json (deploy/cloud-init-user-data.yaml)
// and its unit starts the agent on it (deploy/meshconf-agent.service).
import type { Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { connect, parseInstancePath, printJson, withDmOptions, type DmOptions } from './output.js'

export const registerMachineCommands: CommandRegistration = (program: Command) => {
  const machine = program.command('machine').description('the machines of an application')
  withDmOptions(machine.command('params')
    .description('print the agent params (user data) of a machine of the existing target, to write to it as /etc/meshconf/agent.json')
    .argument('<app>', 'application name')
    .argument('<path>', 'the machine (a root instance), e.g. "/Apache VM"', parseInstancePath))
    .action(async (app: string, path: string, options: DmOptions) => {
      printJson(await connect(options).getAgentParams(app, path))
    })
}
