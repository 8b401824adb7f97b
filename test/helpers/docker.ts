// Docker for tests: the agent image (built once, then found by its inputs), and the removal of whatever containers
// and network a test's DM left on the shared Engine.
import Docker from 'dockerode'
import { LABEL_DM } from '../../manager/docker/constants.js'
import { buildAgentImage, type AgentImage } from '../../manager/docker/image.js'

let image: Promise<AgentImage> | undefined

/**
 * The default agent image (meshconf-agent:<version>) of the current build: made once, then found by its inputs.
 * Tests use its id: a build in another checkout sharing the Engine may move the tag.
 */
export async function ensureAgentImage (): Promise<AgentImage> {
  image ??= buildAgentImage({})
  return await image
}


/** Removes the containers of a DM (by its label) and the network, whatever state the test left them in. */
export async function removeDockerLeftovers (dmId: string, network?: string): Promise<void> {
  const docker = new Docker()
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_DM}=${dmId}`] } }).catch(() => [])
  await Promise.all(containers.map(async c => { await docker.getContainer(c.Id).remove({ force: true }).catch(() => {}) }))
  if (network !== undefined) await docker.getNetwork(network).remove().catch(() => {})
}

/** Kills a container as a crashed VM dies (SIGKILL, from outside meshconf). */
export async function dockerKill (containerId: string): Promise<void> {
  await new Docker().getContainer(containerId).kill({ signal: 'SIGKILL' })
}

/** Whether a Docker network exists. */
export async function networkExists (network: string): Promise<boolean> {
  return await new Docker().getNetwork(network).inspect().then(() => true, () => false)
}
