// The owner's epoch, the first half of every stamp it sends: importers ignore a message older than the last one they
// applied from that owner, so the epoch must grow at every start. A clock does not guarantee it (stepped back by NTP
// or a wrong RTC, a restarted owner's messages would be ignored by every importer still holding its old stamps): the
// epoch is a counter kept in the agent's state folder, written before the mesh sends anything.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeAtomically } from '../../common/fs.js'
import { MESH_EPOCH_FILE } from './constants.js'
import type { Logger } from '../../common/log.js'

/**
 * Bumps the counter in `<stateDir>/mesh-epoch` and returns it. The first one is the clock's ms (`now`), above the
 * clock-based epochs of agents that kept none, so that an upgraded owner is not ignored either; so is the one after
 * an unreadable file (reported to `log`).
 */
export async function nextMeshEpoch (stateDir: string, log?: Logger, now: () => number = Date.now): Promise<number> {
  const file = join(stateDir, MESH_EPOCH_FILE)
  let previous: number | undefined
  try {
    const content = (await readFile(file, 'utf8')).trim()
    previous = Number(content)
    if (!Number.isSafeInteger(previous) || previous < 0) {
      log?.warn(`${file} holds ${JSON.stringify(content.slice(0, 40))}, not a mesh epoch: starting a new one from the clock`)
      previous = undefined
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const epoch = previous === undefined ? now() : previous + 1
  await writeAtomically(file, String(epoch))
  return epoch
}
