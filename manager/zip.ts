// A small ZIP writer (deflate, UTF-8 names): the CLI uploads a template folder to the DM as one archive.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { crc32, deflateRawSync } from 'node:zlib'

/** Folders never part of a template: version control metadata. */
const SKIPPED_FOLDERS = new Set(['.git', '.svn', '.hg'])

export interface ZipEntry {
  /** Path inside the archive, `/`-separated. */
  name: string
  data: Uint8Array
  modified?: Date
}

/** DOS date and time fields of a ZIP entry (2-second resolution, local time, years from 1980). */
function dosDateTime (date: Date): { time: number, date: number } {
  const year = Math.max(1980, date.getFullYear())
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate()
  }
}

/** Writes a ZIP archive (deflated entries, UTF-8 names, no ZIP64: meant for templates of a few MB). */
export function writeZip (entries: ZipEntry[]): Buffer {
  const UTF8_NAMES = 0x0800
  const DEFLATE = 8
  const VERSION = 20 // 2.0: deflate
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8')
    const compressed = deflateRawSync(entry.data)
    const crc = crc32(entry.data)
    const { time, date } = dosDateTime(entry.modified ?? new Date())

    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(VERSION, 4)
    local.writeUInt16LE(UTF8_NAMES, 6)
    local.writeUInt16LE(DEFLATE, 8)
    local.writeUInt16LE(time, 10)
    local.writeUInt16LE(date, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(compressed.length, 18)
    local.writeUInt32LE(entry.data.length, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28)
    locals.push(local, name, compressed)

    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(VERSION, 4)
    central.writeUInt16LE(VERSION, 6)
    central.writeUInt16LE(UTF8_NAMES, 8)
    central.writeUInt16LE(DEFLATE, 10)
    central.writeUInt16LE(time, 12)
    central.writeUInt16LE(date, 14)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(compressed.length, 20)
    central.writeUInt32LE(entry.data.length, 24)
    central.writeUInt16LE(name.length, 28)
    // extra length, comment length, disk number, internal and external attributes: all 0
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)

    offset += local.length + name.length + compressed.length
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralSize, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, ...centrals, end])
}

/** Every regular file under `folder`, named relative to it with `/`, sorted for a reproducible archive. */
export async function zipFolder (folder: string): Promise<Buffer> {
  const entries: ZipEntry[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, dirent.name)
      if (dirent.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(dirent.name)) await walk(full)
        continue
      }
      const info = await stat(full) // follows symbolic links
      if (!info.isFile()) continue
      entries.push({ name: relative(folder, full).split(sep).join('/'), data: await readFile(full), modified: info.mtime })
    }
  }
  await walk(folder)
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  return writeZip(entries)
}
