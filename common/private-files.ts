// Files that hold secrets (the agent's token and pnet key, keys, the DM's database): created 0600 in folders 0700,
// written whole or not at all (common/fs.ts: temporary file, fsync, rename, fsync of the folder), and an existing folder checked:
// a folder another user owns, or a symbolic link, is refused; one that others may read is closed (0700).
// Explicit modes rather than a process-wide umask: recipes inherit the agent's umask, and the services they install
// (run by other users) must read what they write.
import { chmodSync, lstatSync, mkdirSync } from 'node:fs'
import { chmod, lstat, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { PRIVATE_FILE_MODE, PRIVATE_FOLDER_MODE, writeAtomically, writeAtomicallySync } from './fs.js'

/** A folder meant for secrets cannot be used as one. */
export class PrivateFolderError extends Error {
  constructor (folder: string, reason: string) {
    super(`folder ${folder} cannot hold secrets: ${reason}`)
    this.name = 'PrivateFolderError'
  }
}

/** What ensurePrivateFolder did to an existing folder: nothing, or closed it to its owner (was `previousMode`). */
export type PrivateFolderOutcome = { tightened: false } | { tightened: true, previousMode: number }

function check (folder: string, stats: { isDirectory: () => boolean, isSymbolicLink: () => boolean, uid: number, mode: number }): PrivateFolderOutcome {
  if (stats.isSymbolicLink()) throw new PrivateFolderError(folder, 'it is a symbolic link; give the real folder')
  if (!stats.isDirectory()) throw new PrivateFolderError(folder, 'it is not a folder')
  const uid = process.getuid?.()
  if (uid !== undefined && stats.uid !== uid) {
    throw new PrivateFolderError(folder, `it belongs to user ${stats.uid}, not to this process's user ${uid}; ` +
      'give a folder of this user, or chown it')
  }
  return (stats.mode & 0o077) === 0 ? { tightened: false } : { tightened: true, previousMode: stats.mode & 0o777 }
}

/** Creates the folder (and its parents) 0700, or checks an existing one; closes it to its owner when others may enter. */
export async function ensurePrivateFolder (folder: string): Promise<PrivateFolderOutcome> {
  await mkdir(folder, { recursive: true, mode: PRIVATE_FOLDER_MODE })
  const outcome = check(folder, await lstat(folder))
  if (outcome.tightened) await chmod(folder, PRIVATE_FOLDER_MODE)
  return outcome
}

/** ensurePrivateFolder, synchronously (for the DM's synchronous set-up paths). */
export function ensurePrivateFolderSync (folder: string): PrivateFolderOutcome {
  mkdirSync(folder, { recursive: true, mode: PRIVATE_FOLDER_MODE })
  const outcome = check(folder, lstatSync(folder))
  if (outcome.tightened) chmodSync(folder, PRIVATE_FOLDER_MODE)
  return outcome
}

/** A log line for a folder that ensurePrivateFolder closed, or undefined. */
export function describeTightened (folder: string, outcome: PrivateFolderOutcome): string | undefined {
  return outcome.tightened
    ? `folder ${folder} was open to other users (mode ${outcome.previousMode.toString(8)}); it holds secrets: now 700`
    : undefined
}

/** Writes a secret file: 0600, in a folder made private (ensurePrivateFolder), atomically and durably. */
export async function writePrivateFile (file: string, content: string | Uint8Array): Promise<void> {
  await ensurePrivateFolder(dirname(file))
  await writeAtomically(file, content, { mode: PRIVATE_FILE_MODE })
}

/** writePrivateFile, synchronously (for the DM's synchronous set-up paths). */
export function writePrivateFileSync (file: string, content: string | Uint8Array): void {
  ensurePrivateFolderSync(dirname(file))
  writeAtomicallySync(file, content, { mode: PRIVATE_FILE_MODE })
}
