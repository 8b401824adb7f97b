// Template folders as ZIP archives (yazl: deflate, UTF-8 names): the CLI uploads a template folder to the DM as one
// archive.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { ZipFile } from 'yazl'

/** Folders never part of a template: version control metadata. */
const SKIPPED_FOLDERS = new Set(['.git', '.svn', '.hg'])

export interface ZipEntry {
  /** Path inside the archive, `/`-separated, relative (yazl refuses absolute names and `..`). */
  name: string
  data: Uint8Array
  modified?: Date
}

/** Writes a ZIP archive of `entries`, deflated. */
export async function writeZip (entries: ZipEntry[]): Promise<Buffer> {
  const zip = new ZipFile()
  for (const entry of entries) zip.addBuffer(Buffer.from(entry.data), entry.name, { mtime: entry.modified ?? new Date(), compress: true })
  zip.end()
  const chunks: Buffer[] = []
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
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
  return await writeZip(entries)
}
