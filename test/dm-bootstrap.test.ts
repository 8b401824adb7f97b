// Which running agents a new agent bootstraps from (manager/bootstrap.ts): those it shares exports with first.
import test from 'ava'
import { meshRole, pickBootstrapPeers, type MeshRole } from '../manager/bootstrap.js'
import type { Component } from '../protocol/model/types.js'

const component = (name: string, exports: string[], imports: string[] = []): Component => ({
  name, installer: 'logger', exports: Object.fromEntries(exports.map(e => [e, null])), randomExports: [], facets: [],
  extendsChain: [], children: [], imports: imports.map(i => ({ name: i, optional: false, external: false }))
})
const vm = component('VM', [])
const mysql = meshRole([vm, component('MySQL', ['MySQL.ip', 'MySQL.port'])])
const tomcat = meshRole([vm, component('Tomcat', ['Tomcat.ip', 'Tomcat.portAJP'], ['MySQL.ip', 'MySQL.port'])])
const apache = meshRole([vm, component('Apache', ['Apache.ip'], ['Tomcat.*'])])
const probe = meshRole([vm, component('Probe', [])])

test('an agent\'s role: the prefixes its components export and import', t => {
  t.deepEqual([...tomcat.exports], ['Tomcat'])
  t.deepEqual([...tomcat.imports], ['MySQL'])
  t.deepEqual([...apache.imports], ['Tomcat'])
  t.deepEqual([...probe.exports, ...probe.imports], [])
})

test('owners of what the agent imports come first, then importers of what it exports, then the others', t => {
  const candidates: Array<{ peer: string, role: MeshRole }> = [
    ...Array.from({ length: 5 }, (_, i) => ({ peer: `probe ${i}`, role: probe })),
    ...Array.from({ length: 5 }, (_, i) => ({ peer: `apache ${i}`, role: apache })),
    { peer: 'mysql', role: mysql },
    { peer: 'tomcat 2', role: tomcat }
  ]
  const picked = pickBootstrapPeers(tomcat, candidates, 8)
  t.is(picked.length, 8)
  t.is(picked[0], 'mysql')
  t.deepEqual(picked.slice(1, 6).sort(), ['apache 0', 'apache 1', 'apache 2', 'apache 3', 'apache 4'])
  t.true(picked.slice(6).every(p => p.startsWith('probe ') || p === 'tomcat 2'))
  // A new Apache: the Tomcats first; nobody imports what it exports.
  const forApache = pickBootstrapPeers(apache, candidates, 3)
  t.is(forApache[0], 'tomcat 2')
  t.is(forApache.length, 3)
  t.deepEqual(pickBootstrapPeers(apache, candidates, 0), [])
  t.deepEqual(pickBootstrapPeers(apache, [], 8), [])
})

test('within a group, the pick is random: not every newcomer dials the same agents', t => {
  const candidates = Array.from({ length: 20 }, (_, i) => ({ peer: `apache ${i}`, role: apache }))
  const firsts = new Set(Array.from({ length: 50 }, () => pickBootstrapPeers(tomcat, candidates, 4)[0]))
  t.true(firsts.size > 5, `${firsts.size} distinct first picks in 50`)
  // The same random source gives the same pick.
  let seed = 1
  const seeded = (): number => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
  const once = pickBootstrapPeers(tomcat, candidates, 4, seeded)
  seed = 1
  t.deepEqual(pickBootstrapPeers(tomcat, candidates, 4, seeded), once)
})
