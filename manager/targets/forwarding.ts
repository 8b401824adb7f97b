// Forwarding between network namespaces while dockerd runs. dockerd sets the iptables FORWARD policy to DROP and
// loads br_netfilter, so packets between two namespaces on the netns target's bridge (or routed through the host)
// are dropped unless a rule accepts them: "timed out waiting for started in namespaces". An ACCEPT rule in FORWARD
// for traffic inside the namespaces' subnet keeps them working, whether dockerd starts before or after it (dockerd
// inserts its own chains above it and never drops traffic that is not its bridges').
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { cidrContains } from './cidr.js'

const run = promisify(execFile)

/**
 * Where meshconf's network namespaces live: the netns target's default subnet (10.213.77.0/24) and the ones tests
 * pick (10.213.x), the benchmarks' namespaces (10.200-249.x). Docker's own pools (172.17-31.x, 192.168.x) and the
 * docker target's default subnet (10.189.0.0/24) are outside it.
 */
export const NETNS_FORWARD_RANGE = '10.192.0.0/10'
/** Comment of our rules, so that an operator sees whose they are (iptables -S FORWARD). */
const RULE_COMMENT = 'meshconf-netns'

function rule (cidr: string): string[] {
  return ['FORWARD', '-s', cidr, '-d', cidr, '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'ACCEPT']
}

/** The host has iptables and we may use it (root); otherwise there is no firewall of ours to open. */
async function iptables (...args: string[]): Promise<boolean> {
  try {
    await run('iptables', ['-w', ...args])
    return true
  } catch {
    return false
  }
}

/**
 * Accepts forwarded traffic between addresses of `cidr` (default NETNS_FORWARD_RANGE), once: a no-op when the rule is
 * there, or when iptables is missing or refuses (not root: then the DM cannot make namespaces either).
 */
export async function allowForwardingWithin (cidr: string = NETNS_FORWARD_RANGE): Promise<void> {
  if (await iptables('-C', ...rule(cidr))) return
  // a subnet inside the whole range needs no rule of its own once the range has one (no rule per test subnet)
  if (cidr !== NETNS_FORWARD_RANGE && cidrContains(NETNS_FORWARD_RANGE, cidr) && await iptables('-C', ...rule(NETNS_FORWARD_RANGE))) return
  await iptables('-I', ...rule(cidr))
}
