// The agent image as Docker loads it with no registry and no base image (`docker load`'s archive: manifest.json,
// the image config, one layer tar). Everything that goes in is fixed (entry order, times, owners), so the same
// root filesystem gives the same layer digest, the same config and so the same image id.
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Writable, type Readable } from 'node:stream'
import tar, { type Pack } from 'tar-stream'
import { IMAGE_CREATED, IMAGE_FILE_MTIME_S } from './constants.js'
import type { RootfsEntry } from './rootfs.js'

type EntryHeader = Parameters<Pack['entry']>[0]

const FIXED_TIME = new Date(IMAGE_FILE_MTIME_S * 1000)
const OWNER = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: FIXED_TIME }

/** Writes the entries, in their order, as one tar to `sink`. */
async function packEntries (entries: RootfsEntry[], sink: Writable): Promise<void> {
  const pack = tar.pack()
  const piped = new Promise<void>((resolve, reject) => {
    sink.once('finish', resolve)
    sink.once('error', reject)
    pack.once('error', reject)
  })
  pack.pipe(sink)
  try {
    for (const entry of entries) {
      switch (entry.kind) {
        case 'dir':
          await add(pack, { ...OWNER, name: `${entry.path}/`, type: 'directory', mode: entry.mode })
          break
        case 'symlink':
          await add(pack, { ...OWNER, name: entry.path, type: 'symlink', linkname: entry.target, mode: 0o777 })
          break
        case 'content':
          await add(pack, { ...OWNER, name: entry.path, type: 'file', mode: entry.mode, size: entry.content.length }, entry.content)
          break
        case 'file':
          await addFile(pack, { ...OWNER, name: entry.path, type: 'file', mode: entry.mode, size: entry.size }, entry.source)
          break
      }
    }
  } finally {
    pack.finalize()
    await piped
  }
}

async function add (pack: Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null): void => { if (err == null) resolve(); else reject(err) }
    if (content === undefined) pack.entry(header, done)
    else pack.entry(header, content, done)
  })
}

/** Streams a host file into the tar; a file whose size changed since it was listed fails the build. */
async function addFile (pack: Pack, header: EntryHeader, source: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => { reject(new Error(`${source} could not be read or changed while the image was being built (${err.message}): build again`)) }
    const sink = pack.entry(header, err => { if (err == null) resolve(); else fail(err) })
    const stream = createReadStream(source)
    stream.once('error', fail)
    stream.pipe(sink as unknown as NodeJS.WritableStream)
  })
}

export interface Layer {
  file: string
  /** `sha256:<hex>` of the uncompressed tar: the layer's diff id. */
  diffId: string
  sizeBytes: number
}

/** Writes the layer tar to `file`, computing its digest on the way. */
export async function writeLayer (entries: RootfsEntry[], file: string): Promise<Layer> {
  const hash = createHash('sha256')
  const out = createWriteStream(file)
  const tee = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      if (out.write(chunk)) callback()
      else out.once('drain', () => callback())
    },
    final (callback) { out.end(callback) }
  })
  out.on('error', err => tee.destroy(err))
  await packEntries(entries, tee)
  return { file, diffId: `sha256:${hash.digest('hex')}`, sizeBytes: (await stat(file)).size }
}

export interface ImageConfigInputs {
  diffId: string
  entrypoint: string[]
  env: string[]
  labels: Record<string, string>
  workingDir: string
}

/** The image config (OCI/Docker v1 image JSON); its sha256 is the image id. Keys in a fixed order. */
export function imageConfig (inputs: ImageConfigInputs): Buffer {
  const labels = Object.fromEntries(Object.entries(inputs.labels).sort(([a], [b]) => a < b ? -1 : 1))
  return Buffer.from(JSON.stringify({
    architecture: dockerArchitecture(),
    config: { Entrypoint: inputs.entrypoint, Env: inputs.env, Labels: labels, WorkingDir: inputs.workingDir },
    created: IMAGE_CREATED,
    history: [{ created: IMAGE_CREATED, created_by: 'meshconf image build' }],
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [inputs.diffId] }
  }))
}

/** `sha256:<hex>` of a config: the id Docker gives the image. */
export function imageIdOf (config: Buffer): string {
  return `sha256:${createHash('sha256').update(config).digest('hex')}`
}

function dockerArchitecture (): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }
  return map[process.arch] ?? process.arch
}

/** The archive `docker load` reads: manifest.json, the config and the layer, tagged `repoTag`. */
export function dockerArchive (config: Buffer, layer: Layer, repoTag: string): Readable {
  const configName = `${imageIdOf(config).slice('sha256:'.length)}.json`
  const layerName = `${layer.diffId.slice('sha256:'.length)}/layer.tar`
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: [layerName] }]))
  const pack = tar.pack()
  void (async () => {
    try {
      await add(pack, { ...OWNER, name: configName, type: 'file', mode: 0o644, size: config.length }, config)
      await add(pack, { ...OWNER, name: `${layerName.split('/')[0]}/`, type: 'directory', mode: 0o755 })
      await addFile(pack, { ...OWNER, name: layerName, type: 'file', mode: 0o644, size: layer.sizeBytes }, layer.file)
      await add(pack, { ...OWNER, name: 'manifest.json', type: 'file', mode: 0o644, size: manifest.length }, manifest)
      pack.finalize()
    } catch (err) {
      pack.destroy(err as Error)
    }
  })()
  return pack as unknown as Readable
}
