// The DM's bearer token: made at first start, kept in <data dir>/token (readable by its owner only).
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TOKEN_FILE } from './constants.js'
import { writePrivateFileSync } from '../common/private-files.js'

/** Length of a new token, in random bytes (hex-encoded: twice as many characters). */
export const TOKEN_BYTES = 32

export class TokenFileError extends Error {
  constructor (file: string, reason: string) {
    super(`cannot use the DM token file ${file}: ${reason} (delete it to make a new token at the next start)`)
    this.name = 'TokenFileError'
  }
}

/** The DM's token; `created` is true when this call made it (the only time it is printed). */
export function loadOrCreateToken (dataDirectory: string): { token: string, created: boolean, file: string } {
  const file = join(dataDirectory, TOKEN_FILE)
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim()
    if (token.length < 16) throw new TokenFileError(file, 'the token in it is shorter than 16 characters')
    return { token, created: false, file }
  }
  const token = randomBytes(TOKEN_BYTES).toString('hex')
  writePrivateFileSync(file, token + '\n')
  return { token, created: true, file }
}

/** True when the `Authorization` header carries `Bearer <token>` (constant-time comparison). */
export function isAuthorized (authorization: string | undefined, token: string): boolean {
  if (authorization === undefined) return false
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
  if (match === null) return false
  const given = Buffer.from(match[1])
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
