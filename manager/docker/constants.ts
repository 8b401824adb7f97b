// Defaults of the agent image and the docker target. Units are in the names or the comments.

/** The Engine API's unix socket when none is configured. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

// ---- the agent image (`meshconf image build`)

/** Repository of the agent image; the tag defaults to meshconf's version (meshconf-agent:0.1.0). */
export const AGENT_IMAGE_REPOSITORY = 'meshconf-agent'
/** Where the agent reads its params (its user data) in the image: the path cloud-init writes on a VM. */
export const IMAGE_PARAMS_FILE = '/etc/meshconf/agent.json'
/** The agent's state folder in the image (the systemd unit's StateDirectory on a VM). */
export const IMAGE_AGENT_STATE_DIR = '/var/lib/meshconf/agent'
/** The agent bundle in the image (.mjs: an ES module whatever package.json is around). */
export const IMAGE_AGENT_BUNDLE = '/opt/meshconf/agent/main.bundle.mjs'
/** The image's entrypoint: a bash script that runs the agent with the params. */
export const IMAGE_ENTRYPOINT = '/usr/local/bin/meshconf-agent'
/** Environment variable the entrypoint takes the params from when no file was written (`docker run -e`). */
export const IMAGE_PARAMS_ENV = 'MESHCONF_AGENT_PARAMS'
/** Modification time of every file in the image, in seconds since the epoch: fixed, so that the build is reproducible. */
export const IMAGE_FILE_MTIME_S = 0
/** Creation date written in the image's config: fixed for the same reason. */
export const IMAGE_CREATED = '1970-01-01T00:00:00Z'
/** Bumped when the image's layout changes, so that cached images of the old layout are not reused. */
export const IMAGE_LAYOUT_VERSION = 1
/** Debian packages whose files every image carries (no dependencies followed: their libraries come from ldd). */
export const IMAGE_BASE_PACKAGES: readonly string[] = ['bash', 'coreutils', 'grep', 'sed', 'findutils']
/** Single commands every image carries (found on PATH): Node.js runs the agent, setsid the recipes' services. */
export const IMAGE_BASE_COMMANDS: readonly string[] = ['node', 'setsid']
/** Host folders left out of the image: documentation and translations recipes do not need. */
export const IMAGE_EXCLUDED_FOLDERS: readonly string[] = [
  'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bug'
]
/** Top-level links of a merged-/usr host (/bin -> usr/bin …), reproduced in the image when the host has them. */
export const IMAGE_ROOT_LINKS: readonly string[] = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']
/** dpkg's database: its size and time change whenever a package is installed, removed or upgraded. */
export const DPKG_STATUS_FILE = '/var/lib/dpkg/status'
/** Files ldd is given at once (one process per batch). */
export const LDD_BATCH_FILES = 200

// ---- the docker target

/** Container labels: the DM finds its containers again by them after a restart. */
export const LABEL_DM = 'meshconf.dm'
export const LABEL_MACHINE = 'meshconf.machine'
export const LABEL_APPLICATION = 'meshconf.application'
export const LABEL_PATH = 'meshconf.path'
/** Container label: the network the container was put on (its address there is the machine's). */
export const LABEL_NETWORK = 'meshconf.network'
/** Network label of the networks the target made (it removes only those, with their last container). */
export const LABEL_MANAGED_NETWORK = 'meshconf.managed'
/** Docker network of the machines when the target does not say. */
export const DEFAULT_DOCKER_NETWORK = 'meshconf'
/**
 * Subnet of that network when the target does not say: private, away from Docker's own pools (172.17-31.x, 192.168.x)
 * and from the 10.192.0.0/10 of the netns target and the benchmarks' namespaces.
 */
export const DEFAULT_DOCKER_SUBNET = '10.189.0.0/24'
/** Grace between SIGTERM and SIGKILL when a container is removed, in seconds (the agent says machineDown). */
export const CONTAINER_STOP_GRACE_S = 5
