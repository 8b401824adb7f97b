// A network namespace joined to the benchmark's own namespace by a veth pair, so that an agent inside it can be cut
// off (the link goes down: no RST, no FIN, packets just vanish) and healed. Needs root; traffic stays on the pair.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { errorMessage } from '../../protocol/errors.js'

const run = promisify(execFile)

/** A namespace could not be made (not root, no `ip`, name taken). */
export class NetnsError extends Error {
  constructor (action: string, detail: string) {
    super(`network namespace: ${action} failed: ${detail} (needs root and iproute2)`)
    this.name = 'NetnsError'
  }
}

export interface NetnsLink {
  /** Name of the namespace, for `ip netns exec`. */
  readonly netns: string
  /** Address of the host's end of the pair (listen on it so the namespace can reach you). */
  readonly hostAddress: string
  /** Address of the namespace's end. */
  readonly nsAddress: string
  /** Takes the namespace's end down: the namespace is cut off. */
  cut (): Promise<void>
  heal (): Promise<void>
  /** Deletes the namespace (and so the pair). */
  destroy (): Promise<void>
}

/** True when this process may create network namespaces. */
export function canUseNetns (): boolean {
  return process.getuid?.() === 0
}

async function ip (...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (err) {
    throw new NetnsError(`ip ${args.join(' ')}`, (err as { stderr?: string }).stderr?.trim() || errorMessage(err))
  }
}

/**
 * Creates namespace `<tag>` with a /30 link: host end 10.<a>.<b>.1, namespace end .2 where a.b derive from `slot`
 * (0..16383), so concurrent runs pick different slots. `tag` is at most 11 characters.
 */
export async function createNetnsLink (tag: string, slot: number): Promise<NetnsLink> {
  if (tag.length > 11) throw new NetnsError('create', `tag "${tag}" longer than 11 characters (interface names are at most 15)`)
  const a = 200 + Math.floor(slot / 64) % 50
  const b = (slot % 64) * 4
  const hostAddress = `10.${a}.${b}.1`
  const nsAddress = `10.${a}.${b}.2`
  const hostEnd = `${tag}h`
  const nsEnd = `${tag}n`
  await ip('netns', 'add', tag)
  try {
    await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd)
    await ip('link', 'set', nsEnd, 'netns', tag)
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostEnd)
    await ip('link', 'set', hostEnd, 'up')
    await ip('-n', tag, 'addr', 'add', `${nsAddress}/30`, 'dev', nsEnd)
    await ip('-n', tag, 'link', 'set', nsEnd, 'up')
    await ip('-n', tag, 'link', 'set', 'lo', 'up')
  } catch (err) {
    await ip('netns', 'del', tag).catch(() => {})
    await ip('link', 'del', hostEnd).catch(() => {})
    throw err
  }
  return {
    netns: tag,
    hostAddress,
    nsAddress,
    // The namespace's end goes down, never the host's: the host keeps its route to the /30, so packets to the
    // namespace die on the dead link instead of following the default route off the host.
    cut: async () => { await ip('-n', tag, 'link', 'set', nsEnd, 'down') },
    heal: async () => { await ip('-n', tag, 'link', 'set', nsEnd, 'up') },
    destroy: async () => {
      await ip('netns', 'del', tag).catch(() => {})
      await ip('link', 'del', hostEnd).catch(() => {})
    }
  }
}
