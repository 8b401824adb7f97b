// The `file` plug-in: runs the instructions of `instructions.properties` (in the instance's folder) for a step:
// keys `<step>.<n>.<type>` with type delete (`path`), download (`url`, saved as <tmp>/roboconf_tmp_file),
// move and copy (`source -> destination`), run in increasing <n>. Relative paths are relative to the instance folder.
// A download goes to a file of a fresh private folder (mkdtemp), then is renamed into place (a rename replaces a
// symbolic link planted at that name rather than writing through it), within a timeout and a size cap.
import { createWriteStream } from 'node:fs'
import { cp, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { FileInstructionError } from '../errors.js'
import { parseProperties } from './properties.js'
import type { ExecutionContext, LifecycleStep, Plugin } from './types.js'

const INSTRUCTION_TYPES = ['delete', 'download', 'move', 'copy'] as const
type InstructionType = typeof INSTRUCTION_TYPES[number]

/** Where `download` saves what it fetches (Roboconf's name). */
export const DOWNLOAD_FILE_NAME = 'roboconf_tmp_file'
/** Default longest time one download may take, in ms (2 minutes). */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 120_000
/** Default largest file one download may bring, in bytes (256 MiB). */
export const DEFAULT_DOWNLOAD_MAX_BYTES = 256 * 1024 * 1024

export interface FilePluginOptions {
  /** A download taking longer is aborted and fails the step, in ms. Default DEFAULT_DOWNLOAD_TIMEOUT_MS (120 000). */
  downloadTimeoutMs?: number
  /** A download bigger than this is aborted and fails the step, in bytes. Default DEFAULT_DOWNLOAD_MAX_BYTES (256 MiB). */
  maxDownloadBytes?: number
}

export function createFilePlugin (options: FilePluginOptions = {}): Plugin {
  const limits = {
    timeoutMs: options.downloadTimeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS,
    maxBytes: options.maxDownloadBytes ?? DEFAULT_DOWNLOAD_MAX_BYTES
  }
  const run = (step: LifecycleStep) => async (context: ExecutionContext): Promise<void> => {
    await runInstructions(step, context, limits)
  }
  return {
    name: 'file',
    initialize: async () => {},
    deploy: run('deploy'),
    start: run('start'),
    update: run('update'),
    stop: run('stop'),
    undeploy: run('undeploy')
  }
}

interface Instruction { key: string, order: number, type: InstructionType, value: string }

interface DownloadLimits { timeoutMs: number, maxBytes: number }

async function runInstructions (step: LifecycleStep, context: ExecutionContext, limits: DownloadLimits): Promise<void> {
  let text: string
  try {
    text = await readFile(join(context.instanceDir, 'instructions.properties'), 'utf8')
  } catch {
    context.log.warn(`[${context.instance.path}] file plug-in: no instructions.properties; nothing to do for ${step}`)
    return
  }
  const instructions: Instruction[] = []
  for (const [key, value] of parseProperties(text)) {
    const parts = key.split('.')
    if (parts[0] !== step) continue
    const order = Number(parts[1])
    const type = parts[2] as InstructionType
    if (parts.length !== 3 || !Number.isInteger(order) || !INSTRUCTION_TYPES.includes(type)) {
      throw new FileInstructionError(key, `expected <step>.<number>.<${INSTRUCTION_TYPES.join('|')}>`)
    }
    instructions.push({ key, order, type, value })
  }
  instructions.sort((a, b) => a.order - b.order)
  const at = (p: string): string => resolve(context.instanceDir, p)
  for (const { key, type, value } of instructions) {
    context.log.info(`[${context.instance.path}] file plug-in: ${key} = ${value}`)
    if (type === 'delete') {
      await rm(at(value), { recursive: true, force: true })
    } else if (type === 'download') {
      await download(key, value, limits)
    } else {
      const [source, destination] = value.split('->').map(s => s.trim())
      if (source === undefined || destination === undefined || source === '' || destination === '') {
        throw new FileInstructionError(key, 'expected "source -> destination"')
      }
      if (type === 'move') await rename(at(source), at(destination))
      else await cp(at(source), at(destination), { recursive: true })
    }
  }
}

/** Downloads `url` to <tmp>/roboconf_tmp_file, through a private temporary folder, within the limits. */
async function download (key: string, url: string, limits: DownloadLimits): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'meshconf-download-'))
  try {
    const file = join(folder, DOWNLOAD_FILE_NAME)
    const signal = AbortSignal.timeout(limits.timeoutMs)
    const failed = (err: unknown): FileInstructionError => signal.aborted
      ? new FileInstructionError(key, `download of ${url} took longer than ${limits.timeoutMs} ms; aborted`)
      : err instanceof FileInstructionError ? err : new FileInstructionError(key, `cannot download ${url}: ${String(err)}`)
    try {
      const response = await fetch(url, { signal })
      if (!response.ok) throw new FileInstructionError(key, `download of ${url} answered HTTP ${response.status}`)
      const tooBig = new FileInstructionError(key, `download of ${url} is larger than ${limits.maxBytes} bytes; aborted`)
      if (Number(response.headers.get('content-length') ?? 0) > limits.maxBytes) throw tooBig
      const out = createWriteStream(file, { flags: 'wx', mode: 0o600 })
      const closed = new Promise<void>((resolve, reject) => { out.once('close', resolve); out.once('error', reject) })
      let bytes = 0
      try {
        for await (const chunk of response.body ?? []) {
          bytes += (chunk as Uint8Array).byteLength
          if (bytes > limits.maxBytes) throw tooBig
          if (!out.write(chunk)) await new Promise<void>(resolve => out.once('drain', () => { resolve() }))
        }
      } finally {
        out.end()
        await closed
      }
    } catch (err) {
      throw failed(err)
    }
    await rename(file, join(tmpdir(), DOWNLOAD_FILE_NAME))
  } finally {
    await rm(folder, { recursive: true, force: true })
  }
}
