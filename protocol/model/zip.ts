// Reads a template .zip in memory (nothing is written to disk), refusing unsafe entry names and zip bombs.
import yauzl from 'yauzl'
import { MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MAX_ZIP_UNCOMPRESSED_BYTES } from './constants.js'

export class UnsafeZipError extends Error {
  /** The entry name that would escape the template folder, when that is the reason. */
  readonly entry?: string
  constructor (message: string, entry?: string) {
    super(message)
    this.name = 'UnsafeZipError'
    if (entry !== undefined) this.entry = entry
  }
}

/** yauzl's own refusals of entry names (yauzl.validateFileName). */
const YAUZL_UNSAFE_NAME = /^(?:invalid characters in fileName|absolute path|invalid relative path): (.*)$/s

/** yauzl's refusal of an entry name as an UnsafeZipError naming the entry; any other error as it is. */
function withUnsafeEntry (err: Error): Error {
  const match = YAUZL_UNSAFE_NAME.exec(err.message)
  return match === null ? err : new UnsafeZipError(err.message, match[1])
}

export interface ZipContent {
  files: Record<string, Uint8Array>
  directories: Set<string>
}

/** `a\b/./c/` -> `a/b/c`; throws on absolute names and `..` segments (zip slip). */
export function safeEntryName (raw: string): string {
  const name = raw.replace(/\\/g, '/')
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw new UnsafeZipError(`entry '${raw}' has an absolute path`, raw)
  const segments = name.split('/').filter(s => s !== '' && s !== '.')
  if (segments.includes('..')) throw new UnsafeZipError(`entry '${raw}' contains '..' (it would escape the template folder)`, raw)
  return segments.join('/')
}

export interface ZipLimits {
  /** Largest zip, in bytes (default MAX_ZIP_BYTES). */
  maxZipBytes?: number
  /** Largest sum of uncompressed entry sizes, in bytes (default MAX_ZIP_UNCOMPRESSED_BYTES). */
  maxUncompressedBytes?: number
  /** Most entries (default MAX_ZIP_ENTRIES). */
  maxEntries?: number
}

/** Reads every entry of a zip held in memory. Rejects with UnsafeZipError or yauzl's error on bad input. */
export async function readZip (buffer: Uint8Array, limits: ZipLimits = {}): Promise<ZipContent> {
  const maxZip = limits.maxZipBytes ?? MAX_ZIP_BYTES
  const maxBytes = limits.maxUncompressedBytes ?? MAX_ZIP_UNCOMPRESSED_BYTES
  const maxEntries = limits.maxEntries ?? MAX_ZIP_ENTRIES
  if (buffer.byteLength > maxZip) throw new UnsafeZipError(`the zip is ${buffer.byteLength} bytes, more than the ${maxZip} allowed`)
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    yauzl.fromBuffer(Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength), { lazyEntries: true, decodeStrings: true },
      (err, z) => { if (err != null || z === undefined) reject(err ?? new Error('unreadable zip')); else resolve(z) })
  })
  if (zip.entryCount > maxEntries) {
    zip.close()
    throw new UnsafeZipError(`the zip has ${zip.entryCount} entries, more than the ${maxEntries} allowed`)
  }
  const content: ZipContent = { files: {}, directories: new Set() }
  let total = 0
  return await new Promise<ZipContent>((resolve, reject) => {
    const fail = (err: Error): void => { zip.close(); reject(withUnsafeEntry(err)) }
    zip.on('error', fail)
    zip.on('end', () => resolve(content))
    zip.on('entry', (entry: yauzl.Entry) => {
      let name: string
      try {
        name = safeEntryName(entry.fileName)
      } catch (err) {
        fail(err as Error)
        return
      }
      if (entry.fileName.endsWith('/')) {
        if (name !== '') content.directories.add(name)
        zip.readEntry()
        return
      }
      total += entry.uncompressedSize
      if (total > maxBytes) {
        fail(new UnsafeZipError(`the zip expands to more than ${maxBytes} bytes (zip bomb?)`))
        return
      }
      zip.openReadStream(entry, (err, stream) => {
        if (err != null || stream === undefined) { fail(err ?? new Error(`cannot read entry ${name}`)); return }
        const chunks: Buffer[] = []
        let size = 0
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length
          // The header may lie about the size: count what really comes out
          if (size > entry.uncompressedSize || total - entry.uncompressedSize + size > maxBytes) {
            stream.destroy()
            fail(new UnsafeZipError(`entry '${name}' expands beyond its declared size`))
            return
          }
          chunks.push(chunk)
        })
        stream.on('error', fail)
        stream.on('end', () => {
          content.files[name] = new Uint8Array(Buffer.concat(chunks))
          const parts = name.split('/')
          for (let i = 1; i < parts.length; i++) content.directories.add(parts.slice(0, i).join('/'))
          zip.readEntry()
        })
      })
    })
    zip.readEntry()
  })
}
