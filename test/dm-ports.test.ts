// The DM's random ports: the host's sockets are read (a costly walk of /proc/net/tcp) only when an instance needs a port.
import test from 'ava'
import { RANDOM_PORT_MAX, RANDOM_PORT_MIN } from '../manager/constants.js'
import { assignRandomPorts } from '../manager/dm/ports.js'
import type { DmCore } from '../manager/dm/core.js'
import type { ApplicationTemplate, Instance } from '../protocol/model/types.js'

const template = {
  components: { VM: { randomExports: [] }, App: { randomExports: ['App.port'] }, Worker: {} }
} as unknown as ApplicationTemplate

function instance (path: string, component: string, children: Instance[] = [], overriddenExports: Record<string, string> = {}): Instance {
  return { name: path.split('/').pop() ?? '', path, component, children, overriddenExports } as unknown as Instance
}

/** A DM core holding no application (what `usedPorts` reads of it). */
const emptyCore = { store: { listApplications: () => [] } } as unknown as DmCore

test('instances without a random port to give read neither the host\'s sockets nor the applications', t => {
  let reads = 0
  const hostPorts = (): Set<number> => { reads++; return new Set() }
  // a core that throws when read: nothing may look up the applications' ports either
  const untouchable = new Proxy({}, { get: () => { throw new Error('core read') } }) as DmCore
  const vm = instance('/vm1', 'VM', [instance('/vm1/worker', 'Worker'), instance('/vm1/app', 'App', [], { 'App.port': '4000' })])
  assignRandomPorts(untouchable, template, [vm], hostPorts)
  t.is(reads, 0)
  t.deepEqual(vm.children[1].overriddenExports, { 'App.port': '4000' })
})

test('a port to give reads the host\'s sockets once for all the instances, and avoids their ports', t => {
  let reads = 0
  const held = new Set<number>()
  const hostPorts = (): Set<number> => { reads++; return new Set(held) }
  const apps = [instance('/vm1/app1', 'App'), instance('/vm1/app2', 'App'), instance('/vm1/app3', 'App')]
  assignRandomPorts(emptyCore, template, [instance('/vm1', 'VM', apps)], hostPorts)
  t.is(reads, 1)
  const given = apps.map(a => Number(a.overriddenExports['App.port']))
  t.is(new Set(given).size, 3)
  // the host holds every port of the range but one: the next instance gets that one
  const free = RANDOM_PORT_MIN + 1234
  for (let port = RANDOM_PORT_MIN; port < RANDOM_PORT_MAX; port++) if (port !== free) held.add(port)
  const next = instance('/vm2/app', 'App')
  assignRandomPorts(emptyCore, template, [next], hostPorts)
  t.is(reads, 2)
  t.is(next.overriddenExports['App.port'], String(free))
})
