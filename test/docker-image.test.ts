// The agent image (`meshconf image build`) against the real Docker Engine: one layer made from the host's files, the
// same image id for the same inputs, an entrypoint that takes the params from a file or an environment variable,
// and extra Debian packages carried with their dependencies.
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import Docker from 'dockerode'
import { IMAGE_ENTRYPOINT, IMAGE_PARAMS_ENV } from '../manager/docker/constants.js'
import { buildAgentImage } from '../manager/docker/image.js'
import { collectRootfs, ImageInputError } from '../manager/docker/rootfs.js'
import { tempDir } from './dm-helpers.js'
import { ensureAgentImage } from './helpers/docker.js'

const docker = new Docker()

/** Runs the image with `options` in a container of the test's own; its exit code and output; the container goes. */
async function runImage (image: string, options: { cmd?: string[], entrypoint?: string[], env?: string[] }): Promise<{ code: number, output: string }> {
  const container = await docker.createContainer({
    name: `mc-image-test-${randomBytes(4).toString('hex')}`, Image: image, Cmd: options.cmd, Entrypoint: options.entrypoint, Env: options.env,
    HostConfig: { NetworkMode: 'none' }
  })
  try {
    await container.start()
    const { StatusCode } = await container.wait() as { StatusCode: number }
    const logs = await container.logs({ stdout: true, stderr: true }) as unknown as Buffer
    // the log stream is multiplexed: 8-byte frame headers before each chunk
    const chunks: Buffer[] = []
    for (let i = 0; i + 8 <= logs.length;) {
      const size = logs.readUInt32BE(i + 4)
      chunks.push(logs.subarray(i + 8, i + 8 + size))
      i += 8 + size
    }
    return { code: StatusCode, output: Buffer.concat(chunks).toString('utf8') }
  } finally {
    await container.remove({ force: true })
  }
}

test('the same inputs give the same image id: one layer of host files, fixed times, a small image', async t => {
  t.timeout(180_000)
  const base = await ensureAgentImage()
  const cacheFile = join(tempDir('image-cache').path, 'cache.json')
  const tags = [1, 2].map(n => `meshconf-agent:test-${randomBytes(4).toString('hex')}-${n}`)
  t.teardown(async () => { for (const tag of tags) await docker.getImage(tag).remove().catch(() => {}) })
  // both list every file and write the layer again (no cache): the ids are computed from what they wrote
  const first = await buildAgentImage({ tag: tags[0], noCache: true, cacheFile })
  const second = await buildAgentImage({ tag: tags[1], noCache: true, cacheFile })
  t.is(first.imageId, second.imageId)
  t.is(first.imageId, base.imageId)
  const info = await docker.getImage(tags[1]).inspect()
  t.is(info.Id, first.imageId)
  t.is(info.RootFS.Layers?.length, 1, 'no base image: one layer')
  t.is(info.Created, '1970-01-01T00:00:00Z')
  t.deepEqual(info.Config.Entrypoint, [IMAGE_ENTRYPOINT])
  t.true(info.Size < 200e6, `the image is ${info.Size} bytes: Node.js, bash, coreutils and libraries should stay well under 200 MB`)
  // the cache now knows the inputs: a third build only tags
  const third = await buildAgentImage({ tag: tags[1], cacheFile })
  t.true(third.cached)
  t.is(third.imageId, first.imageId)
})

test('the image runs node, bash and sh from the host; its entrypoint says where the params go, and takes them from the environment', async t => {
  t.timeout(120_000)
  // by its id: a build in another checkout may move the tag meanwhile
  const { imageId } = await ensureAgentImage()
  const tools = await runImage(imageId, { entrypoint: ['/bin/bash', '-c'], cmd: ['node --version && sh -c "echo sh runs" && command -v setsid grep sed env && ls /etc/meshconf'] })
  t.is(tools.code, 0, tools.output)
  t.regex(tools.output, new RegExp(`^${process.version.replaceAll('.', '\\.')}\\n`))
  t.regex(tools.output, /sh runs/)
  t.regex(tools.output, /\/usr\/bin\/setsid/)

  const noParams = await runImage(imageId, {})
  t.is(noParams.code, 64)
  t.regex(noParams.output, /no params in \/etc\/meshconf\/agent\.json/)
  t.regex(noParams.output, new RegExp(IMAGE_PARAMS_ENV))

  // params through the environment reach the agent, which checks them like a params file
  const badParams = await runImage(imageId, { env: [`${IMAGE_PARAMS_ENV}={"application":"shop"}`] })
  t.not(badParams.code, 0)
  t.regex(badParams.output, /agent params \/etc\/meshconf\/agent\.json, field "scopedInstancePath": missing/)
})

test('extra Debian packages come with their dependencies and the libraries they link; a package the host lacks is refused', async t => {
  const rootfs = await collectRootfs({ extraPackages: ['curl'], files: [] })
  const paths = new Set(rootfs.entries.map(e => e.path))
  t.true(paths.has('usr/bin/curl'))
  t.true(rootfs.packages.includes('libcurl4'), 'curl depends on libcurl4')
  t.true([...paths].some(p => /^usr\/lib\/[^/]+\/libcurl\.so\.4/.test(p)))
  t.true(rootfs.packages.includes('coreutils'))
  t.false([...paths].some(p => p.startsWith('usr/share/doc/')), 'documentation is left out')
  const sorted = [...rootfs.entries.map(e => e.path)]
  t.deepEqual(sorted, [...sorted].sort(), 'entries in a fixed order')

  const error = await t.throwsAsync(collectRootfs({ extraPackages: ['meshconf-no-such-package'], files: [] }), { instanceOf: ImageInputError })
  t.regex(error.message, /apt-get install meshconf-no-such-package/)
})
