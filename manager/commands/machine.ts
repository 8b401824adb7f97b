// `meshconf machine params <app> <machine path>`: the params (user data) a machine of the existing target hands its
// agent: by default exactly the file the machine reads as /etc/meshconf/agent.json (deploy/cloud-init-user-data.yaml;
// its unit starts the agent on it: deploy/meshconf-agent.service); with -o json|yaml, the CLI's document around it.
import type { Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { isDocument, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { connect, parseInstancePath, printJson, withDmOptions, type DmOptions } from './output.js'

export const registerMachineCommands: CommandRegistration = (program: Command) => {
  const machine = program.command('machine').description('the machines of an application')
  withOutputOptions(withDmOptions(machine.command('params')
    .description('print the agent params (user data) of a machine of the existing target, to write to it as /etc/meshconf/agent.json (-o json|yaml: wrapped in the CLI\'s document { ok, application, machine, params })')
    .argument('<app>', 'application name')
    .argument('<path>', 'the machine (a root instance), e.g. "/Apache VM"', parseInstancePath)))
    .action(async (app: string, path: string, options: DmOptions & OutputOptions) => {
      const params = await connect(options).getAgentParams(app, path)
      if (isDocument(options)) await printDocument(options, { application: app, machine: path, params })
      else printJson(params)
    })
}
