// The agent's libp2p identity: an Ed25519 key persisted in its state folder, so the agent keeps its peer id
// across restarts and reports it in heartbeats before its model (and the mesh) arrives.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { PEER_KEY_FILE } from './constants.js'
import { errorMessage } from '../../protocol/errors.js'
import { PRIVATE_FILE_MODE, PRIVATE_FOLDER_MODE, writeAtomically } from '../../common/fs.js'

export interface PeerIdentity {
  privateKey: PrivateKey
  /** The peer id, as text (`12D3KooW…`). */
  peerId: string
}

/** The peer key file exists but does not hold a libp2p private key. */
export class InvalidPeerKeyError extends Error {
  constructor (file: string, cause: string) {
    super(`${file} does not hold a libp2p private key (${cause}): delete it to make a new peer id (the DM then re-signs this agent's ownership)`)
    this.name = 'InvalidPeerKeyError'
  }
}

/** Loads `<stateDir>/peer-key` (protobuf-encoded private key), or creates it (Ed25519, mode 0600). */
export async function loadOrCreatePeerIdentity (stateDir: string): Promise<PeerIdentity> {
  const file = join(stateDir, PEER_KEY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (bytes !== undefined) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new InvalidPeerKeyError(file, errorMessage(err))
    }
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
  }
  const privateKey = await generateKeyPair('Ed25519')
  // Written aside, synced, then renamed: a crash never leaves a half-written or lost key.
  await writeAtomically(file, privateKeyToProtobuf(privateKey), { mode: PRIVATE_FILE_MODE, folderMode: PRIVATE_FOLDER_MODE })
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
}
