// Ports for `random[port]` exports (reference §1.6): unique in the whole DM, not only per machine, and not among
// the ports in use on the DM's host, which machines of the local target share. Ports of the host's ephemeral range
// come last: the kernel gives them to outgoing connections at any time, and a server then fails to listen
// (EADDRINUSE: a simulated MySQL's port taken by a connection's source port, in a benchmark run).
import { readFileSync } from 'node:fs'
import { localNameOf } from '../../protocol/model/exports.js'
import type { ApplicationTemplate, Instance } from '../../protocol/model/types.js'
import { RANDOM_PORT_MAX, RANDOM_PORT_MIN, RANDOM_PORT_START_DRAWS } from '../constants.js'
import { InvalidInstanceError } from '../errors.js'
import type { DmCore } from './core.js'
import { flatten } from './model.js'

/**
 * Local TCP ports of this host's sockets, listening or not (Linux /proc/net/tcp and tcp6); empty where unreadable.
 * Costly: the kernel walks every socket of the host for it (about 10 ms of CPU with 250 sockets, docs/tuning.md).
 */
export function hostPortsInUse (): Set<number> {
  const ports = new Set<number>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // fields[1] is local_address (hex ip:port)
      if (fields.length > 3) ports.add(parseInt(fields[1].split(':')[1], 16))
    }
  }
  return ports
}

/** The host's ephemeral port range, [low, high] (Linux ip_local_port_range); undefined where it cannot be read. */
export function ephemeralPortRange (): [number, number] | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return Number.isInteger(low) && Number.isInteger(high) && low <= high ? [low, high] : undefined
  } catch {
    return undefined
  }
}

/** Ports the DM's applications already hold, and those of the host's sockets (`hostPorts`). */
function usedPorts (core: DmCore, hostPorts: () => Set<number>): Set<number> {
  const used = hostPorts()
  for (const record of core.store.listApplications()) {
    const template = core.templateOf(record)
    for (const i of flatten(core.store.instanceTrees(record.name))) {
      for (const variable of template.components[i.component]?.randomExports ?? []) {
        const value = i.overriddenExports[variable] ?? i.overriddenExports[localNameOf(variable)]
        if (value !== undefined) used.add(Number(value))
      }
    }
  }
  return used
}

/**
 * Gives every exported `random[port]` variable of `instances` (and their subtrees) without an overridden value a
 * free port of the range, stored as an overridden export. The ports in use (the host's sockets, every application's
 * instances) are read only when some variable needs one: most instances added (a machine of an elastic tier) have
 * none. `hostPorts`: the host's ports in use (tests count its calls).
 */
export function assignRandomPorts (core: DmCore, template: ApplicationTemplate, instances: Instance[], hostPorts: () => Set<number> = hostPortsInUse): void {
  let usedCache: Set<number> | undefined
  const used = (): Set<number> => (usedCache ??= usedPorts(core, hostPorts))
  // From a random point of the range (wrapping): two DMs on one host (tests, simulations) rarely pick the same
  // port before either server listens on it.
  const size = RANDOM_PORT_MAX - RANDOM_PORT_MIN
  const ephemeral = ephemeralPortRange()
  const isEphemeral = (port: number): boolean => ephemeral !== undefined && port >= ephemeral[0] && port <= ephemeral[1]
  // A start drawn outside the ephemeral range (a few draws; Linux's default range is half of this one), else two DMs
  // starting in it would both walk to its end.
  let start = Math.floor(Math.random() * size)
  for (let draw = 0; draw < RANDOM_PORT_START_DRAWS && isEphemeral(RANDOM_PORT_MIN + start); draw++) start = Math.floor(Math.random() * size)
  const portAt = (offset: number): number => RANDOM_PORT_MIN + (start + offset) % size
  /** The first free port from `offset` on, outside the ephemeral range when `avoidEphemeral`; undefined if none. */
  const freeFrom = (offset: number, avoidEphemeral: boolean): number | undefined => {
    const taken = used()
    for (let o = offset; o < size; o++) {
      const port = portAt(o)
      if (!taken.has(port) && !(avoidEphemeral && isEphemeral(port))) return o
    }
    return undefined
  }
  let offset = 0
  for (const i of flatten(instances)) {
    for (const variable of template.components[i.component]?.randomExports ?? []) {
      if (variable in i.overriddenExports || localNameOf(variable) in i.overriddenExports) continue
      const found = freeFrom(offset, true) ?? freeFrom(0, false)
      if (found === undefined) throw new InvalidInstanceError(`no free port left in [${RANDOM_PORT_MIN}, ${RANDOM_PORT_MAX}) for ${variable} of ${i.path}: delete unused instances`)
      const port = portAt(found)
      i.overriddenExports = { ...i.overriddenExports, [variable]: String(port) }
      used().add(port)
      offset = found
    }
  }
}
