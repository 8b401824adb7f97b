// Files that a crash leaves whole: the agent's state, its key, epoch, view and remembered peers; the DM's keys.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { mkdir, open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Temporary files of the writes in flight are told apart by this counter (two writes of one file may overlap). */
let writes = 0

/** Mode of files holding secrets (keys, tokens, the agent's state with the pnet key). */
export const PRIVATE_FILE_MODE = 0o600
/** Mode of folders holding them. */
export const PRIVATE_FOLDER_MODE = 0o700

export interface WriteAtomicallyOptions {
  /** Permission bits of a new file (default 0o666 less the umask); PRIVATE_FILE_MODE for secrets. */
  mode?: number
  /** Permission bits of the folders created for it (default 0o777 less the umask); PRIVATE_FOLDER_MODE for secrets. */
  folderMode?: number
}

/**
 * Writes `file` so that a crash leaves either its old or its new content: written aside, fsynced, renamed over it,
 * and the folder fsynced so that the rename itself is on disk. Creates the folder when missing.
 */
export async function writeAtomically (file: string, content: string | Uint8Array, options: WriteAtomicallyOptions = {}): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true, mode: options.folderMode })
  const temporary = `${file}.${process.pid}.${++writes}.tmp`
  const handle = await open(temporary, 'w', options.mode)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temporary, file)
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
}

/** writeAtomically, synchronously (the DM's synchronous set-up: its signing key, token, agents' params). */
export function writeAtomicallySync (file: string, content: string | Uint8Array, options: WriteAtomicallyOptions = {}): void {
  const dir = dirname(file)
  mkdirSync(dir, { recursive: true, mode: options.folderMode })
  const temporary = `${file}.${process.pid}.${++writes}.tmp`
  const fd = openSync(temporary, 'w', options.mode)
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content
    let written = 0
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, file)
  const dirFd = openSync(dir, 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
}
