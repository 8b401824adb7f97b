// `meshconf agent --params FILE`: runs the agent of one machine until SIGTERM or SIGINT (what a VM image starts at
// boot: deploy/meshconf-agent.service). The params file is described in agent/params.ts.
import type { Command } from 'commander'

export function registerAgentCommand (program: Command): void {
  program.command('agent')
    .description('run the agent of this machine (connects to the DM, deploys its instances, joins the mesh)')
    .requiredOption('--params <file>', 'the agent params JSON file (application, scoped instance, state folder, DM endpoint …)')
    .action(async (options: { params: string }) => {
      // loaded on demand: libp2p is heavy, and no other command needs it
      const { runAgentProcess } = await import('../../agent/main.js')
      process.exitCode = await runAgentProcess(options.params)
    })
}
