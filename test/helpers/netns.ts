// Two network namespaces joined by a veth pair, for tests that cut a link without a reset (veth down). Each end
// gets an address of a private /24 inside its namespace only; nothing is added to the caller's namespace. Needs root.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { errorMessage } from '../../protocol/errors.js'

const run = promisify(execFile)

/** An `ip` command failed while building or changing the namespaces. */
export class NetnsCommandError extends Error {
  constructor (args: string[], cause: string) {
    super(`ip ${args.join(' ')} failed: ${cause.trim()} (network namespace tests need root and iproute2)`)
    this.name = 'NetnsCommandError'
  }
}

async function ip (...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (err) {
    throw new NetnsCommandError(args, (err as { stderr?: string }).stderr ?? errorMessage(err))
  }
}

export interface NetnsSide {
  /** Namespace name. */
  netns: string
  /** This end's veth device (inside `netns`). */
  device: string
  /** This end's IPv4 address. */
  address: string
}

export interface NetnsPair {
  a: NetnsSide
  b: NetnsSide
  /** The /24 both ends are in, as a libp2p allow-list entry (`/ip4/10.x.y.0/ipcidr/24`). */
  allow: string
  /** Routes multicast (mDNS's 224.0.0.251) out of this side's veth, where its sockets also hear it (loop). */
  routeMulticast (side: NetnsSide): Promise<void>
  /** Sets one end's veth down (cut off: packets vanish, no reset) or up again. */
  setLink (side: NetnsSide, up: boolean): Promise<void>
  /** Deletes both namespaces (and so the veth pair). Safe to call twice. */
  destroy (): Promise<void>
}

/** Creates the pair; on failure, removes whatever was created. */
export async function createNetnsPair (): Promise<NetnsPair> {
  const tag = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`
  const subnet = `10.${200 + (randomBytes(1)[0] % 50)}.${randomBytes(1)[0]}`
  const a: NetnsSide = { netns: `mc-${tag}-a`, device: `mca${tag}`.slice(0, 15), address: `${subnet}.1` }
  const b: NetnsSide = { netns: `mc-${tag}-b`, device: `mcb${tag}`.slice(0, 15), address: `${subnet}.2` }
  let destroyed = false
  const destroy = async (): Promise<void> => {
    if (destroyed) return
    destroyed = true
    for (const side of [a, b]) await ip('netns', 'del', side.netns).catch(() => {})
  }
  try {
    for (const side of [a, b]) {
      await ip('netns', 'add', side.netns)
      await ip('-n', side.netns, 'link', 'set', 'lo', 'up')
    }
    await ip('-n', a.netns, 'link', 'add', a.device, 'type', 'veth', 'peer', 'name', b.device, 'netns', b.netns)
    for (const side of [a, b]) {
      await ip('-n', side.netns, 'addr', 'add', `${side.address}/24`, 'dev', side.device)
      await ip('-n', side.netns, 'link', 'set', side.device, 'up')
    }
  } catch (err) {
    await destroy()
    throw err
  }
  return {
    a,
    b,
    allow: `/ip4/${subnet}.0/ipcidr/24`,
    routeMulticast: async side => { await ip('-n', side.netns, 'route', 'add', '224.0.0.0/4', 'dev', side.device) },
    setLink: async (side, up) => { await ip('-n', side.netns, 'link', 'set', side.device, up ? 'up' : 'down') },
    destroy
  }
}
