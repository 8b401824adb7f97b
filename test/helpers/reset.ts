// Connection resets made by the kernel (`ss -K`, root), as a middlebox or a flapping link makes them: a real
// blip for agents on loopback, in this process or in agent processes, with no hook in the code under test.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * Resets every TCP connection of this network namespace with one end on the port of one of these multiaddrs (the
 * agents' listen addresses: every connection between agents has one at one end). Throws when none was reset.
 */
export async function resetConnections (listenAddresses: string[]): Promise<void> {
  const ports = [...new Set(listenAddresses.map(a => a.match(/\/tcp\/(\d+)/)?.[1]).filter(p => p !== undefined))]
  const filter = ports.flatMap(port => [`sport = :${port}`, `dport = :${port}`]).join(' or ')
  const { stdout } = await run('ss', ['-K', '-t', '-n', `( ${filter} )`])
  if (!stdout.includes('ESTAB')) throw new Error(`ss -K reset no connection on ports ${ports.join(', ')} (it needs root): ${stdout}`)
}
