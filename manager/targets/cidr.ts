// IPv4 subnets written as CIDR (10.189.0.0/24): parsing, containment, the first host address (a network's gateway).

export interface Ipv4Subnet {
  /** The network address as a 32-bit number. */
  base: number
  /** Prefix length. */
  bits: number
}

/** `a.b.c.d/n` parsed, the address masked to its network; undefined when malformed. */
export function parseCidr (cidr: string): Ipv4Subnet | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr)
  if (match === null) return undefined
  const octets = match.slice(1, 5).map(Number)
  const bits = Number(match[5])
  if (octets.some(o => o > 255) || bits > 32) return undefined
  const size = 2 ** (32 - bits)
  return { base: Math.floor(octets.reduce((n, o) => n * 256 + o, 0) / size) * size, bits }
}

export function formatIpv4 (address: number): string {
  return [24, 16, 8, 0].map(shift => Math.floor(address / 2 ** shift) % 256).join('.')
}

/** `a.b.c.d/n` of a parsed subnet. */
export function formatCidr (subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.base)}/${subnet.bits}`
}

/** The subnet's first host address (.1 of a /24), where a bridge's host side usually sits. */
export function firstHost (subnet: Ipv4Subnet): string {
  return formatIpv4(subnet.base + 1)
}

/** True when every address of `inner` is in `outer`. */
export function cidrContains (outer: string, inner: string): boolean {
  const o = parseCidr(outer)
  const i = parseCidr(inner)
  if (o === undefined || i === undefined || i.bits < o.bits) return false
  const size = 2 ** (32 - o.bits)
  return Math.floor(i.base / size) === Math.floor(o.base / size)
}
