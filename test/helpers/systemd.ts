// The systemd units shipped in deploy/: their settings, and what `systemd-analyze verify` says of them.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import type { ExecutionContext } from 'ava'

const run = promisify(execFile)

/** The value of the first `key=` line of a unit file's text. */
export function unitValue (unit: string, key: string): string | undefined {
  return unit.split('\n').find(l => l.startsWith(`${key}=`))?.slice(key.length + 1)
}

/**
 * Asserts that systemd accepts the unit, except that the not yet installed meshconf binary may be missing; where
 * systemd-analyze is not installed, only that the file is there (and says so in the test's log).
 */
export async function assertSystemdAccepts (t: ExecutionContext, unitFile: string): Promise<void> {
  const result = await run('systemd-analyze', ['verify', unitFile]).then(r => r.stderr, (err: { stderr?: string, code?: string }) => {
    if (err.code === 'ENOENT') return undefined
    return err.stderr ?? ''
  })
  if (result === undefined) {
    t.log('systemd-analyze is not installed: unit syntax not verified')
    t.truthy(await readFile(unitFile, 'utf8'))
    return
  }
  const problems = result.split('\n').filter(l => l.trim() !== '' && !/\/usr\/local\/bin\/meshconf is not executable/.test(l))
  t.deepEqual(problems, [])
}
