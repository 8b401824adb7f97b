// `meshconf image build`: the agent image, made locally from what the host has installed (Node.js, bash, coreutils,
// their libraries, the agent bundle, optional Debian packages for recipes) and loaded into the Docker Engine with no
// registry and no base image. Reproducible: the same inputs give the same image id. A build whose inputs did not
// change since the last one (same files, sizes, times) only tags the image it made then.
import { errorMessage } from '../../protocol/errors.js'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AGENT_ENVIRONMENT, AGENT_NODE_FLAGS } from '../targets/process.js'
import { dockerArchive, imageConfig, imageIdOf, writeLayer } from './archive.js'
import {
  AGENT_IMAGE_REPOSITORY, DPKG_STATUS_FILE, IMAGE_AGENT_BUNDLE, IMAGE_AGENT_STATE_DIR, IMAGE_BASE_COMMANDS, IMAGE_ENTRYPOINT,
  IMAGE_LAYOUT_VERSION, IMAGE_PARAMS_ENV, IMAGE_PARAMS_FILE
} from './constants.js'
import { createDockerEngine, DockerRequestError, followProgress, type DockerEngine } from './engine.js'
import { collectRootfs, findCommand, ImageInputError, type RootfsEntry } from './rootfs.js'

export interface AgentImageOptions {
  /** `repository:tag` of the image; default `meshconf-agent:<meshconf's version>` (defaultAgentImageTag). */
  tag?: string
  /** Debian packages installed on the host that recipes need (puppet …), carried with their dependencies; default none. */
  extraPackages?: string[]
  /** The agent bundle; default dist/agent/main.bundle.js of this meshconf (made by npm run build). */
  bundle?: string
  /** The Engine's unix socket; default /var/run/docker.sock. */
  socketPath?: string
  /**
   * List the files and write the layer even when the cache knows the inputs (the image id comes out the same; an
   * image of that id already in the Engine is not loaded again); default false.
   */
  noCache?: boolean
  /** Where input fingerprints and the images made from them are remembered; default ~/.cache/meshconf/agent-images.json. */
  cacheFile?: string
  /** Progress lines; default none. */
  log?: (line: string) => void
}

export interface AgentImage {
  tag: string
  /** `sha256:<hex>`: the same for the same inputs. */
  imageId: string
  /** Size of the image as the Engine reports it, in bytes (uncompressed). */
  sizeBytes: number
  /** True when nothing was built: an image of the same inputs was already in the Engine. */
  cached: boolean
  /** Debian packages whose files the image carries. */
  packages: string[]
  /** Libraries ldd could not find for some carried file. */
  warnings: string[]
}

/** The meshconf checkout or package this file belongs to (its package.json), from the sources or from dist/. */
export function meshconfRoot (): string {
  let folder = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(folder, 'package.json')) && existsSync(join(folder, 'agent'))) return folder
    folder = dirname(folder)
  }
  throw new ImageInputError(`cannot find meshconf's package.json above ${dirname(fileURLToPath(import.meta.url))}`)
}

function meshconfVersion (): string {
  return (JSON.parse(readFileSync(join(meshconfRoot(), 'package.json'), 'utf8')) as { version: string }).version
}

/** `meshconf-agent:<version>`: the image the docker target uses when its definition names none. */
export function defaultAgentImageTag (): string {
  return `${AGENT_IMAGE_REPOSITORY}:${meshconfVersion()}`
}

/** `repo:tag` split for the Engine (a registry host's port is not a tag). */
export function splitImageTag (repoTag: string): { repo: string, tag: string } {
  const colon = repoTag.lastIndexOf(':')
  if (colon > repoTag.lastIndexOf('/') && colon > 0) return { repo: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) }
  return { repo: repoTag, tag: 'latest' }
}

/** A tag Docker accepts (lowercase repository, tag of letters, digits, `_.-`). */
export function checkImageTag (repoTag: string): string | undefined {
  const { repo, tag } = splitImageTag(repoTag)
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repo)) return `repository ${JSON.stringify(repo)}: lowercase letters, digits and . _ - / only`
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) return `tag ${JSON.stringify(tag)}: letters, digits and _ . - only, at most 128`
  return undefined
}

/**
 * The entrypoint: the params come from the file the DM (or cloud-init on a VM) wrote, or from an environment
 * variable (`docker run -e MESHCONF_AGENT_PARAMS="$(cat agent.json)"`), which is then written to the file and
 * dropped from the agent's environment (it holds the application's token). The agent runs with AGENT_NODE_FLAGS and
 * AGENT_ENVIRONMENT, as the local and netns targets start it (a container's `docker.env.<NAME>` still wins).
 */
function entrypointScript (): string {
  return `#!/bin/bash
# meshconf agent image: runs the agent with the machine's params (its user data), as the VM unit does.
set -eu
params=${IMAGE_PARAMS_FILE}
if [ -n "\${${IMAGE_PARAMS_ENV}:-}" ]; then
  (umask 077 && mkdir -p "$(dirname "$params")" && printf '%s\\n' "$${IMAGE_PARAMS_ENV}" > "$params")
  unset ${IMAGE_PARAMS_ENV}
fi
if [ ! -s "$params" ]; then
  echo "meshconf-agent: no params in $params: write the agent params (meshconf machine params) there, or pass them in ${IMAGE_PARAMS_ENV}" >&2
  exit 64
fi
mkdir -p ${IMAGE_AGENT_STATE_DIR}
${Object.entries(AGENT_ENVIRONMENT).map(([name, value]) => `export ${name}="\${${name}:-${value}}"`).join('\n')}
exec node ${AGENT_NODE_FLAGS.join(' ')} ${IMAGE_AGENT_BUNDLE} --params "$params"
`
}

/** Our own files in the image: the agent, its entrypoint, the folders and /etc files a process expects. */
function ownFiles (bundle: Buffer): RootfsEntry[] {
  const content = (path: string, mode: number, text: string | Buffer): RootfsEntry =>
    ({ kind: 'content', path, mode, content: typeof text === 'string' ? Buffer.from(text) : text })
  const dir = (path: string, mode: number): RootfsEntry => ({ kind: 'dir', path, mode })
  return [
    content(IMAGE_AGENT_BUNDLE.slice(1), 0o644, bundle),
    content(IMAGE_ENTRYPOINT.slice(1), 0o755, entrypointScript()),
    content('etc/passwd', 0o644, 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'),
    content('etc/group', 0o644, 'root:x:0:\nnogroup:x:65534:\n'),
    content('etc/nsswitch.conf', 0o644, 'passwd: files\ngroup: files\nhosts: files dns\n'),
    { kind: 'symlink', path: 'usr/bin/sh', target: 'bash' }, // recipes with #!/bin/sh run under bash
    dir('etc/meshconf', 0o700), dir(IMAGE_AGENT_STATE_DIR.slice(1), 0o700), dir('root', 0o700),
    dir('tmp', 0o1777), dir('var/tmp', 0o1777), dir('run', 0o755), dir('proc', 0o555), dir('sys', 0o555), dir('dev', 0o755)
  ]
}

/** Builds the cache file keeps (the oldest go first). */
const MAX_CACHED_BUILDS = 20

/** A digest of everything the image is made from: host files by path, size and time; our files by content. */
function inputsFingerprint (entries: RootfsEntry[], extraPackages: string[]): string {
  const hash = createHash('sha256').update(JSON.stringify({ layout: IMAGE_LAYOUT_VERSION, extraPackages }))
  for (const e of entries) {
    switch (e.kind) {
      case 'dir': hash.update(`d ${e.path} ${e.mode}\n`); break
      case 'symlink': hash.update(`l ${e.path} ${e.target}\n`); break
      case 'file': hash.update(`f ${e.path} ${e.mode} ${e.source} ${e.size} ${e.mtimeMs}\n`); break
      case 'content': hash.update(`c ${e.path} ${e.mode} ${createHash('sha256').update(e.content).digest('hex')}\n`); break
    }
  }
  return hash.digest('hex')
}

/**
 * A cheap digest of the inputs, read before the files are listed (ldd takes a second or two): the bundle's content,
 * the state of dpkg's database (which changes whenever a package is installed, removed or upgraded) and the commands
 * taken from PATH. When it matches a previous build, that build's image is the answer.
 */
function quickFingerprint (bundle: Buffer, extraPackages: string[]): string {
  const stamp = (file: string): string => {
    try {
      const stats = statSync(file)
      return `${file} ${stats.size} ${stats.mtimeMs} ${stats.ino}`
    } catch {
      return `${file} missing`
    }
  }
  return createHash('sha256').update(JSON.stringify({
    layout: IMAGE_LAYOUT_VERSION, version: meshconfVersion(), extraPackages,
    bundle: createHash('sha256').update(bundle).digest('hex'),
    dpkg: stamp(DPKG_STATUS_FILE),
    commands: IMAGE_BASE_COMMANDS.map(command => stamp(findCommand(command)))
  })).digest('hex')
}

/** What the cache remembers of a build. */
interface CachedBuild { imageId: string, packages: string[], warnings: string[] }

function defaultCacheFile (): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'meshconf', 'agent-images.json')
}

function readCache (file: string): Record<string, CachedBuild> {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown
    if (typeof value !== 'object' || value === null) return {}
    return Object.fromEntries(Object.entries(value as Record<string, unknown>)
      .filter(([, build]) => typeof (build as CachedBuild | undefined)?.imageId === 'string')) as Record<string, CachedBuild>
  } catch {
    return {}
  }
}

/** Remembers a build under its fingerprints (the cache is an optimisation: failing to write it is only logged). */
function remember (file: string, keys: string[], build: CachedBuild, log: (line: string) => void): void {
  try {
    mkdirSync(dirname(file), { recursive: true })
    const cache = readCache(file)
    // only the builds still in use are kept: one per set of inputs is plenty
    const kept = Object.fromEntries(Object.entries(cache).slice(-MAX_CACHED_BUILDS))
    for (const key of keys) kept[key] = build
    writeFileSync(file, JSON.stringify(kept, null, 2) + '\n')
  } catch (err) {
    log(`could not remember the build in ${file} (${errorMessage(err)}): the next build reads every file again`)
  }
}

/** The Engine's size of an image, or undefined when it does not have it. */
async function imageSize (engine: DockerEngine, id: string): Promise<number | undefined> {
  const info = await engine.requestOrMissing(`inspecting image ${id}`, async d => await d.getImage(id).inspect())
  return info?.Size
}

/**
 * Tags the image. The image the tag named before stays (untagged): machines may still be created from it by its id
 * (`docker image prune` removes such images once unused).
 */
async function tagImage (engine: DockerEngine, id: string, repoTag: string): Promise<void> {
  await engine.request(`tagging ${id} as ${repoTag}`, async d => await d.getImage(id).tag(splitImageTag(repoTag)))
}

/** Builds (or finds in the cache) the agent image and tags it. */
export async function buildAgentImage (options: AgentImageOptions = {}): Promise<AgentImage> {
  const log = options.log ?? (() => {})
  const tag = options.tag ?? defaultAgentImageTag()
  const tagProblem = checkImageTag(tag)
  if (tagProblem !== undefined) throw new ImageInputError(`image tag ${tag}: ${tagProblem}`)
  const extraPackages = [...new Set(options.extraPackages ?? [])].sort()
  for (const name of extraPackages) {
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name)) throw new ImageInputError(`--with-packages: ${JSON.stringify(name)} is not a Debian package name`)
  }
  const engine = createDockerEngine(options.socketPath)
  await engine.request('ping', async d => await d.ping())

  const bundlePath = resolve(options.bundle ?? join(meshconfRoot(), 'dist', 'agent', 'main.bundle.js'))
  let bundle: Buffer
  try {
    bundle = readFileSync(bundlePath)
  } catch (err) {
    throw new ImageInputError(`cannot read the agent bundle ${bundlePath} (${errorMessage(err)}): run npm run build first`)
  }
  const cacheFile = options.cacheFile ?? defaultCacheFile()
  /** The image a previous build made from these inputs, when the Engine still has it. */
  const fromCache = async (key: string): Promise<AgentImage | undefined> => {
    const known = options.noCache === true ? undefined : readCache(cacheFile)[key]
    const size = known === undefined ? undefined : await imageSize(engine, known.imageId)
    if (known === undefined || size === undefined) return undefined
    await tagImage(engine, known.imageId, tag)
    log(`inputs unchanged since image ${known.imageId.slice(7, 19)} was built: tagged ${tag}`)
    return { tag, imageId: known.imageId, sizeBytes: size, cached: true, packages: known.packages, warnings: known.warnings }
  }
  const quickKey = quickFingerprint(bundle, extraPackages)
  const quick = await fromCache(quickKey)
  if (quick !== undefined) return quick

  log(`collecting the root filesystem (base packages, node, their libraries${extraPackages.length > 0 ? `, ${extraPackages.join(', ')} and dependencies` : ''})`)
  const rootfs = await collectRootfs({ extraPackages, files: ownFiles(bundle) })
  const fingerprint = inputsFingerprint(rootfs.entries, extraPackages)
  const build = (imageId: string): CachedBuild => ({ imageId, packages: rootfs.packages, warnings: rootfs.warnings })
  const known = await fromCache(fingerprint)
  if (known !== undefined) {
    remember(cacheFile, [quickKey], build(known.imageId), log)
    return known
  }

  const work = mkdtempSync(join(tmpdir(), 'meshconf-image-'))
  try {
    log(`writing the layer (${rootfs.entries.length} entries)`)
    const layer = await writeLayer(rootfs.entries, join(work, 'layer.tar'))
    const config = imageConfig({
      diffId: layer.diffId,
      entrypoint: [IMAGE_ENTRYPOINT],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      workingDir: '/',
      labels: {
        'org.opencontainers.image.title': 'meshconf agent',
        'org.opencontainers.image.version': meshconfVersion(),
        'meshconf.packages': rootfs.packages.join(' ')
      }
    })
    const imageId = imageIdOf(config)
    let cached = true
    // the Engine's copy of the same id is the same image (its id is the digest of the config, which names the layer's)
    if (await imageSize(engine, imageId) === undefined) {
      log(`loading image ${imageId.slice(7, 19)} (layer ${Math.round(layer.sizeBytes / 1e6)} MB) into the Engine`)
      const response = await engine.request('loading the image', async d => await d.loadImage(dockerArchive(config, layer, tag), { quiet: true }))
      await followProgress(engine, 'loading the image', response)
      cached = false
    }
    await tagImage(engine, imageId, tag)
    const size = await imageSize(engine, imageId)
    if (size === undefined) throw new DockerRequestError('loading the image', `the Engine has no image ${imageId} after loading it`)
    remember(cacheFile, [quickKey, fingerprint], build(imageId), log)
    return { tag, imageId, sizeBytes: size, cached, packages: rootfs.packages, warnings: rootfs.warnings }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
