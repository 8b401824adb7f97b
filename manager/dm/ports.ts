// Ports for `random[port]` exports (reference §1.6): unique in the whole DM, not only per machine, and not among
// the ports listening on the DM's host, which machines of the local target share.
import { readFileSync } from 'node:fs'
import { localNameOf } from '../../protocol/model/exports.js'
import type { ApplicationTemplate, Instance } from '../../protocol/model/types.js'
import { RANDOM_PORT_MAX, RANDOM_PORT_MIN } from '../constants.js'
import { InvalidInstanceError } from '../errors.js'
import type { DmCore } from './core.js'
import { flatten } from './model.js'

/** TCP ports listening on this host (Linux /proc/net/tcp and tcp6); empty where they cannot be read. */
function hostListeningPorts (): Set<number> {
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
      // fields[1] is local_address (hex ip:port), fields[3] the state; 0A is LISTEN
      if (fields.length > 3 && fields[3] === '0A') ports.add(parseInt(fields[1].split(':')[1], 16))
    }
  }
  return ports
}

/** Ports the DM's applications already hold, and those listening on the host. */
function usedPorts (core: DmCore): Set<number> {
  const used = hostListeningPorts()
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
 * free port of the range, stored as an overridden export.
 */
export function assignRandomPorts (core: DmCore, template: ApplicationTemplate, instances: Instance[]): void {
  const used = usedPorts(core)
  // From a random point of the range (wrapping): two DMs on one host (tests, simulations) rarely pick the same
  // port before either server listens on it.
  const size = RANDOM_PORT_MAX - RANDOM_PORT_MIN
  const start = Math.floor(Math.random() * size)
  let offset = 0
  for (const i of flatten(instances)) {
    for (const variable of template.components[i.component]?.randomExports ?? []) {
      if (variable in i.overriddenExports || localNameOf(variable) in i.overriddenExports) continue
      while (offset < size && used.has(RANDOM_PORT_MIN + (start + offset) % size)) offset++
      if (offset >= size) throw new InvalidInstanceError(`no free port left in [${RANDOM_PORT_MIN}, ${RANDOM_PORT_MAX}) for ${variable} of ${i.path}: delete unused instances`)
      const port = RANDOM_PORT_MIN + (start + offset) % size
      i.overriddenExports = { ...i.overriddenExports, [variable]: String(port) }
      used.add(port)
    }
  }
}
