// The peers a mesh remembers across restarts (`<stateDir>/mesh-peers.json`): with the DM down, how it finds the
// mesh again.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeAtomically } from '../../common/fs.js'
import { errorMessage } from '../../protocol/errors.js'
import type { Logger } from '../../common/log.js'
import { REMEMBERED_PEERS_FILE } from './constants.js'

export interface RememberedPeer { peerId: string, addresses: string[] }

export async function readRememberedPeers (stateDir: string, log: Logger): Promise<RememberedPeer[]> {
  const file = join(stateDir, REMEMBERED_PEERS_FILE)
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
    if (!Array.isArray(parsed)) throw new Error('not a list')
    return parsed.filter((e): e is RememberedPeer => typeof e?.peerId === 'string' && Array.isArray(e.addresses) &&
      e.addresses.every((a: unknown) => typeof a === 'string'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`ignoring ${file}: ${errorMessage(err)}`)
    return []
  }
}

/** `remembered`: addresses by peer id. */
export async function writeRememberedPeers (stateDir: string, remembered: Map<string, string[]>, log: Logger): Promise<void> {
  const file = join(stateDir, REMEMBERED_PEERS_FILE)
  const entries: RememberedPeer[] = [...remembered].map(([peerId, addresses]) => ({ peerId, addresses }))
  try {
    await writeAtomically(file, JSON.stringify(entries, null, 2))
  } catch (err) {
    log.warn(`could not remember mesh peers in ${file}: ${errorMessage(err)}`)
  }
}
