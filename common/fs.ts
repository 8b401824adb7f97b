// Files that a crash leaves whole: the agent's state, its key, epoch, view and remembered peers.
import { mkdir, open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Temporary files of the writes in flight are told apart by this counter (two writes of one file may overlap). */
let writes = 0

export interface WriteAtomicallyOptions {
  /** Permission bits of a new file (default 0o666 less the umask); 0o600 for keys. */
  mode?: number
}

/**
 * Writes `file` so that a crash leaves either its old or its new content: written aside, fsynced, renamed over it,
 * and the folder fsynced so that the rename itself is on disk. Creates the folder when missing.
 */
export async function writeAtomically (file: string, content: string | Uint8Array, options: WriteAtomicallyOptions = {}): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
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
