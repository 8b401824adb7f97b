// Which running agents a new agent bootstraps from (manager/bootstrap.ts): those it shares exports with first; and
// the DM's models carry that list (in-process agents over the memory mesh).
import test from 'ava'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { STATE_FILE_NAME } from '../agent/constants.js'
import { MAX_BOOTSTRAP_AGENTS } from '../manager/constants.js'
import { meshRole, pickBootstrapPeers, type MeshRole } from '../manager/bootstrap.js'
import type { Component } from '../protocol/model/types.js'
import { createMemoryMeshHub, type MeshFactory } from '../agent/index.js'
import { startInProcessDm, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

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

test('the DM gives a new machine the agents it shares exports with first', async t => {
  const { dir, dm, store } = await startInProcessDm(t, 'dm-bootstrap')
  const idle = Array.from({ length: 9 }, (_, i) => [`instance of VM {`, `  name: idle${i};`, '  instance of Idle {', '    name: idle;', '  }', '}'])
  writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Bootstrap\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n',
    'graph/main.graph': [
      'VM {', '  installer: target;', '  children: DB, App, Idle;', '}',
      'DB {', '  installer: logger;', '  exports: ip, port = 5432;', '}',
      'App {', '  installer: logger;', '  imports: DB.ip, DB.port;', '}',
      'Idle {', '  installer: logger;', '}', ''
    ].join('\n'),
    'instances/initial.instances': [
      'instance of VM {', '  name: db;', '  instance of DB {', '    name: db;', '  }', '}',
      ...idle.flat(),
      'instance of VM {', '  name: app;', '  instance of App {', '    name: app;', '  }', '}', ''
    ].join('\n')
  })
  await dm.loadTemplateFromPath(join(dir.path, 'template'))
  dm.createApplication({ name: 'boot', template: { name: 'Bootstrap', version: '1.0' } })
  // Ten machines up, the DB's among them; then the App's machine, whose bootstrap list holds 8 of those 10.
  for (const vm of ['db', ...idle.map((_, i) => `idle${i}`)]) dm.action('boot', { action: 'deploy-and-start-all', path: `/${vm}` })
  // (A machine counts as started at its agent's first heartbeat; its mesh listens once it has its model.)
  await waitFor('ten meshes listening', () => store.agents('boot').filter(a => a.listenAddresses.length > 0).length === 10)
  dm.action('boot', { action: 'deploy-and-start-all', path: '/app' })
  await waitFor('App resolved DB', () => dm.instance('boot', '/app/app').status === 'DEPLOYED_STARTED')
  const states = findFiles(join(dir.path, 'machines'), STATE_FILE_NAME).map(f => JSON.parse(readFileSync(f, 'utf8')) as SavedState)
  const app = states.find(s => s.model.scopedInstancePath === '/app')
  const db = states.find(s => s.model.scopedInstancePath === '/db')
  t.is(app?.mesh.bootstrapPeers.length, MAX_BOOTSTRAP_AGENTS)
  // The agent of /db is where the App's agent looks first (memory mesh addresses name the peer).
  t.true((app?.mesh.bootstrapPeers[0] ?? '').endsWith(db?.mesh.ownership.peerId ?? 'no DB agent'), app?.mesh.bootstrapPeers.join(' '))
})

test('an agent that beats while its mesh starts still counts as starting: the next machine\'s model waits for its addresses', async t => {
  // The first machine's mesh starts only when the test says so: meanwhile its agent, which has its model, beats
  // (every 200 ms) without addresses. The second machine's model must wait for the first's mesh (there is no other
  // peer), not go out with no bootstrap peer at all (that agent would never join the mesh).
  const inner = createMemoryMeshHub().factory()
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  let dbMeshWaiting = false
  const meshFactory: MeshFactory = async (model, parameters, engine) => {
    if (model.scopedInstancePath === '/db') {
      dbMeshWaiting = true
      await released
    }
    return await inner(model, parameters, engine)
  }
  const { dir, dm, store } = await startInProcessDm(t, 'dm-bootstrap-starting', { meshFactory })
  t.teardown(() => { release() })
  writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Starting\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n',
    'graph/main.graph': [
      'VM {', '  installer: target;', '  children: DB, App;', '}',
      'DB {', '  installer: logger;', '  exports: ip, port = 5432;', '}',
      'App {', '  installer: logger;', '  imports: DB.ip, DB.port;', '}', ''
    ].join('\n'),
    'instances/initial.instances': [
      'instance of VM {', '  name: db;', '  instance of DB {', '    name: db;', '  }', '}',
      'instance of VM {', '  name: app;', '  instance of App {', '    name: app;', '  }', '}', ''
    ].join('\n')
  })
  await dm.loadTemplateFromPath(join(dir.path, 'template'))
  dm.createApplication({ name: 'boot', template: { name: 'Starting', version: '1.0' } })
  dm.action('boot', { action: 'deploy-and-start-all', path: '/db' })
  await waitFor('the DB machine\'s mesh starting', () => dbMeshWaiting)
  // a beat of the DB's agent with its model and no addresses yet
  const beatAt = store.agent('boot', '/db')?.lastHeartbeatAt
  await waitFor('the DB\'s agent beating while its mesh starts', () => {
    const record = store.agent('boot', '/db')
    return record !== undefined && record.lastHeartbeatAt !== beatAt && record.listenAddresses.length === 0
  })
  dm.action('boot', { action: 'deploy-and-start-all', path: '/app' })
  await waitFor('the App\'s agent beating', () => store.agent('boot', '/app') !== undefined)
  release()
  await waitFor('App resolved DB', () => dm.instance('boot', '/app/app').status === 'DEPLOYED_STARTED')
  const states = findFiles(join(dir.path, 'machines'), STATE_FILE_NAME).map(f => JSON.parse(readFileSync(f, 'utf8')) as SavedState)
  const app = states.find(s => s.model.scopedInstancePath === '/app')
  const db = states.find(s => s.model.scopedInstancePath === '/db')
  t.deepEqual(app?.mesh.bootstrapPeers.map(a => a.endsWith(db?.mesh.ownership.peerId ?? 'no DB agent')), [true], app?.mesh.bootstrapPeers.join(' '))
})

interface SavedState { model: { scopedInstancePath: string }, mesh: { bootstrapPeers: string[], ownership: { peerId: string } } }

function findFiles (root: string, name: string): string[] {
  if (!existsSync(root)) return []
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter(entry => entry.isFile() && entry.name === name).map(entry => join(entry.parentPath, entry.name))
}
