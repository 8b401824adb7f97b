// `meshconf image build [--tag meshconf-agent:<version>] [--with-packages puppet,...] [--json]`: the agent image the
// docker target boots its machines from, made from the host's installed files and loaded into the local Docker
// Engine (no registry, no base image). Prints the image id (the same for the same inputs) and its size.
import { InvalidArgumentError, type Command } from 'commander'
import type { CommandRegistration } from '../cli.js'
import { DEFAULT_DOCKER_SOCKET } from '../docker/constants.js'
import { buildAgentImage, checkImageTag } from '../docker/image.js'
import { printJson } from './output.js'

function imageTag (value: string): string {
  const problem = checkImageTag(value)
  if (problem !== undefined) throw new InvalidArgumentError(`expected repository:tag, e.g. meshconf-agent:0.1.0 (${problem})`)
  return value
}

function packageList (value: string): string[] {
  const names = value.split(',').map(s => s.trim()).filter(s => s !== '')
  const bad = names.find(n => !/^[a-z0-9][a-z0-9+.-]+$/.test(n))
  if (names.length === 0 || bad !== undefined) throw new InvalidArgumentError(`expected Debian package names separated by commas, e.g. puppet,curl${bad !== undefined ? ` (${JSON.stringify(bad)} is not one)` : ''}`)
  return names
}

export const registerImageCommands: CommandRegistration = (program: Command) => {
  const image = program.command('image').description('the agent image machines of the docker target boot from')
  image.command('build')
    .description('build the agent image from this host\'s node, bash, coreutils, their libraries and the agent bundle, and load it into the local Docker Engine (no registry, no base image; reproducible)')
    .option('--tag <repository:tag>', 'tag of the image (default meshconf-agent:<meshconf version>, what the docker target uses)', imageTag)
    .option('--with-packages <names>', 'Debian packages installed on this host that recipes need, with their dependencies, comma-separated (e.g. puppet)', packageList)
    .option('--socket <path>', `the Docker Engine's unix socket (default ${DEFAULT_DOCKER_SOCKET})`)
    .option('--no-cache', 'list the files and write the layer even when the inputs did not change since the last build')
    .option('--json', 'print one JSON document: { tag, imageId, sizeBytes, cached, packages, warnings }')
    .action(async (opts: { tag?: string, withPackages?: string[], socket?: string, cache: boolean, json?: boolean }) => {
      const built = await buildAgentImage({
        tag: opts.tag, extraPackages: opts.withPackages, socketPath: opts.socket, noCache: !opts.cache,
        log: opts.json === true ? undefined : line => { console.error(line) }
      })
      if (opts.json === true) {
        printJson(built)
        return
      }
      for (const warning of built.warnings) console.error(`warning: ${warning}`)
      console.log(`${built.tag} ${built.imageId} ${(built.sizeBytes / 1e6).toFixed(1)} MB${built.cached ? ' (already in the Engine: not loaded again)' : ''}`)
    })
}
