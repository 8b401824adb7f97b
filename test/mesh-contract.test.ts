// The mesh contract (ExportPublisher / ImportListener / MeshHandle), run over both implementations: real libp2p
// nodes on loopback in this process, and the in-memory hub. No DM, no RabbitMQ.
import { silentLogger } from '../common/log.js'
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { MeshServiceHandle, MeshServiceOptions } from '../agent/mesh/service.js'
import { createMeshApp, type MeshApp } from '../fixtures/mesh-app.js'
import { resetConnections } from './helpers/reset.js'

type Child = 'MySQL' | 'Tomcat' | 'Apache'

interface Network {
  app: MeshApp
  start (vm: string, child: Child, recorder: ImportRecorder, options?: MeshServiceOptions): Promise<MeshServiceHandle>
  /** Cuts every link between the agents and lets them heal at once (a blip): each sees the others disconnect. */
  blip (): Promise<void>
  close (): Promise<void>
}

const quiet = silentLogger

async function memoryNetwork (): Promise<Network> {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const started: MeshServiceHandle[] = []
  return {
    app,
    async start (vm, child, recorder, options = {}) {
      const { model, parameters } = app.agent(vm, child, `memory-${vm}`)
      const mesh = await hub.factory({ ...options, log: quiet })(model, parameters, recorder) as MeshServiceHandle
      started.push(mesh)
      return mesh
    },
    async blip () {
      for (const m of started) hub.setReachable(m.peerId, false)
      await new Promise(resolve => setTimeout(resolve, 10))
      for (const m of started) hub.setReachable(m.peerId, true)
    },
    async close () { await Promise.all(started.map(async m => { await m.stop() })) }
  }
}

async function libp2pNetwork (): Promise<Network> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-contract-'))
  const app = createMeshApp()
  const started: MeshServiceHandle[] = []
  return {
    app,
    async start (vm, child, recorder, options = {}) {
      const stateDir = join(dir, vm)
      const identity = await loadOrCreatePeerIdentity(stateDir)
      const bootstrap = started.flatMap(m => m.listenAddresses())
      const { model, parameters } = app.agent(vm, child, identity.peerId, bootstrap)
      const mesh = await startLibp2pMesh(model, parameters, recorder, { ...options, stateDir, privateKey: identity.privateKey, log: quiet })
      started.push(mesh)
      return mesh
    },
    async blip () {
      // The kernel resets every connection between the agents; they redial at once.
      await resetConnections(started.flatMap(m => m.listenAddresses()))
    },
    async close () {
      await Promise.all(started.map(async m => { await m.stop() }))
      await rm(dir, { recursive: true, force: true })
    }
  }
}

const implementations: Array<[string, () => Promise<Network>]> = [['memory', memoryNetwork], ['libp2p', libp2pNetwork]]

/** A stand-in for the engine: starts its instance (announces) while every import it needs is present. */
function chainAgent (path: string, component: Child, exports: Record<string, string>, needs?: string): {
  recorder: ImportRecorder, bind: (mesh: MeshServiceHandle) => void
} {
  let mesh: MeshServiceHandle | undefined
  let started = false
  const react = (): void => {
    if (mesh === undefined) return
    const ready = needs === undefined || Object.keys(recorder.imports(needs)).length > 0
    if (ready && !started) mesh.announce(path, component, exports)
    if (!ready && started) mesh.withdraw(path)
    started = ready
  }
  const recorder = new ImportRecorder(react)
  return {
    recorder,
    bind: m => {
      mesh = m
      if (needs !== undefined) m.setInterests(new Set([needs]))
      react()
    }
  }
}

/** How many times the importer's listener is called for a burst of 5 changes of one export, sent in one tick. */
async function updatesForBurst (net: Network, importerOptions?: MeshServiceOptions): Promise<number> {
  const apache = new ImportRecorder()
  const apacheMesh = await net.start('Apache VM', 'Apache', apache, importerOptions)
  apacheMesh.setInterests(new Set(['Tomcat']))
  const tomcat = await net.start('Tomcat VM 1', 'Tomcat', new ImportRecorder())
  // Wait until the importer is reachable, then send the burst.
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': 'v0' })
  await apache.waitFor('first value', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat'] !== undefined)
  const before = apache.events.length
  for (let i = 1; i <= 5; i++) tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': `v${i}` })
  await apache.waitFor('last value', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.ip'] === 'v5')
  return apache.events.length - before
}

for (const [name, makeNetwork] of implementations) {
  test(`${name}: chain reaction MySQL -> Tomcat -> Apache, then back down when MySQL stops`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const apache = chainAgent('/Apache VM/Apache', 'Apache', { 'Apache.ip': '127.0.0.3', 'Apache.port': '80' }, 'Tomcat')
    const tomcat = chainAgent('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2', 'Tomcat.portAJP': '8009' }, 'MySQL')
    const mysql = chainAgent('/MySQL VM/MySQL', 'MySQL', { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' })
    apache.bind(await net.start('Apache VM', 'Apache', apache.recorder))
    tomcat.bind(await net.start('Tomcat VM 1', 'Tomcat', tomcat.recorder))
    const mysqlMesh = await net.start('MySQL VM', 'MySQL', mysql.recorder)
    mysql.bind(mysqlMesh)

    await apache.recorder.waitFor('Tomcat import at Apache', () => '/Tomcat VM 1/Tomcat' in apache.recorder.imports('Tomcat'))
    t.deepEqual(tomcat.recorder.imports('MySQL'), { '/MySQL VM/MySQL': { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' } })
    t.deepEqual(apache.recorder.imports('Tomcat'), { '/Tomcat VM 1/Tomcat': { 'Tomcat.ip': '127.0.0.2', 'Tomcat.portAJP': '8009' } })
    const added = apache.recorder.events.find(e => e.kind === 'added')
    t.is(added?.kind === 'added' ? added.exported.component : undefined, 'Tomcat')

    mysqlMesh.withdraw('/MySQL VM/MySQL')
    await apache.recorder.waitFor('Tomcat withdrawn at Apache', () => Object.keys(apache.recorder.imports('Tomcat')).length === 0)
    t.deepEqual(tomcat.recorder.imports('MySQL'), {})
    t.deepEqual(apache.recorder.events.map(e => e.kind), ['added', 'removed'])
  })

  test(`${name}: a Tomcat added late resolves MySQL and reaches Apache; removed, it leaves Apache`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const apache = chainAgent('/Apache VM/Apache', 'Apache', { 'Apache.ip': '127.0.0.3' }, 'Tomcat')
    const tomcat1 = chainAgent('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' }, 'MySQL')
    const mysql = chainAgent('/MySQL VM/MySQL', 'MySQL', { 'MySQL.ip': '127.0.0.1' })
    mysql.bind(await net.start('MySQL VM', 'MySQL', mysql.recorder))
    tomcat1.bind(await net.start('Tomcat VM 1', 'Tomcat', tomcat1.recorder))
    apache.bind(await net.start('Apache VM', 'Apache', apache.recorder))
    await apache.recorder.waitFor('Tomcat 1 at Apache', () => Object.keys(apache.recorder.imports('Tomcat')).length === 1)

    // The late joiner asks for MySQL when its interests are set, and Apache hears its announcement.
    const tomcat2 = chainAgent('/Tomcat VM 2/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.4' }, 'MySQL')
    const tomcat2Mesh = await net.start('Tomcat VM 2', 'Tomcat', tomcat2.recorder)
    tomcat2.bind(tomcat2Mesh)
    await apache.recorder.waitFor('Tomcat 2 at Apache', () => Object.keys(apache.recorder.imports('Tomcat')).length === 2)
    t.deepEqual(tomcat2.recorder.imports('MySQL'), { '/MySQL VM/MySQL': { 'MySQL.ip': '127.0.0.1' } })
    t.deepEqual(apache.recorder.imports('Tomcat')['/Tomcat VM 2/Tomcat'], { 'Tomcat.ip': '127.0.0.4' })

    // Removed: its agent withdraws, then goes away.
    tomcat2Mesh.withdraw('/Tomcat VM 2/Tomcat')
    await tomcat2Mesh.stop()
    await apache.recorder.waitFor('Tomcat 2 gone from Apache', () => Object.keys(apache.recorder.imports('Tomcat')).length === 1)
    t.deepEqual(Object.keys(apache.recorder.imports('Tomcat')), ['/Tomcat VM 1/Tomcat'])
  })

  test(`${name}: an agent that stops without withdrawing has its exports withdrawn after the grace`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const apache = chainAgent('/Apache VM/Apache', 'Apache', { 'Apache.ip': '127.0.0.3' }, 'Tomcat')
    apache.bind(await net.start('Apache VM', 'Apache', apache.recorder))
    const tomcatMesh = await net.start('Tomcat VM 1', 'Tomcat', new ImportRecorder())
    tomcatMesh.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
    await apache.recorder.waitFor('Tomcat at Apache', () => Object.keys(apache.recorder.imports('Tomcat')).length === 1)
    await tomcatMesh.stop()
    await apache.recorder.waitFor('Tomcat withdrawn', () => Object.keys(apache.recorder.imports('Tomcat')).length === 0)
    t.deepEqual(apache.recorder.events.map(e => e.kind), ['added', 'removed'])
  })

  test(`${name}: a blip shorter than the grace withdraws nothing: the importer's update never runs without the export`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const graceMs = 1500
    const apache = new ImportRecorder()
    const apacheMesh = await net.start('Apache VM', 'Apache', apache, { livenessGraceMs: graceMs })
    apacheMesh.setInterests(new Set(['Tomcat']))
    const tomcat = await net.start('Tomcat VM 1', 'Tomcat', new ImportRecorder())
    tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
    await apache.waitFor('Tomcat', () => '/Tomcat VM 1/Tomcat' in apache.imports('Tomcat'))
    await net.blip()
    // A withdrawal would come within the grace (stretched by the importer's lag, on a loaded host): watch twice as long.
    await new Promise(resolve => setTimeout(resolve, 2 * graceMs))
    t.deepEqual(apache.events.map(e => e.kind), ['added'])
    t.deepEqual(apacheMesh.view().held.map(h => h.peerId), [tomcat.peerId])
    t.deepEqual(apacheMesh.view().suspects, [])
  })

  test(`${name}: a changed export reaches importers; a same-valued re-announce does not run update again`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const apache = new ImportRecorder()
    const apacheMesh = await net.start('Apache VM', 'Apache', apache)
    apacheMesh.setInterests(new Set(['Tomcat']))
    const tomcat = await net.start('Tomcat VM 1', 'Tomcat', new ImportRecorder())
    tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2', 'Tomcat.portAJP': '8009' })
    await apache.waitFor('first value', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.portAJP'] === '8009')
    const firstHeld = apacheMesh.view().held[0].since
    // Later by some ms, so that a `since` moved by the re-announces would show.
    await new Promise(resolve => setTimeout(resolve, 20))
    tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2', 'Tomcat.portAJP': '8009' })
    tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2', 'Tomcat.portAJP': '9009' })
    await apache.waitFor('second value', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.portAJP'] === '9009')
    t.is(apache.events.length, 2)
    // The owner's view lists what it announces; the importer's lists what it holds, from whom.
    t.deepEqual(tomcat.view().announced.map(a => a.prefix), ['Tomcat'])
    const held = apacheMesh.view().held
    t.is(held.length, 1)
    t.is(held[0].peerId, tomcat.peerId)
    t.true(held[0].ageMs >= 0)
    // Held since the first announce; the age is that of the last one.
    t.is(held[0].since, firstHeld)
    t.true(held[0].since < Date.now() - held[0].ageMs, `since ${held[0].since}, last announce ${held[0].ageMs} ms ago`)
    t.notThrows(() => JSON.stringify(apacheMesh.view()))
  })

  test(`${name}: an instance hosted by the importing agent itself is imported without the network`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const recorder = new ImportRecorder()
    const mesh = await net.start('Tomcat VM 1', 'Tomcat', recorder)
    mesh.announce('/Tomcat VM 1/MySQL', 'MySQL', { 'MySQL.ip': '127.0.0.2' })
    mesh.setInterests(new Set(['MySQL']))
    await recorder.waitFor('own MySQL', () => '/Tomcat VM 1/MySQL' in recorder.imports('MySQL'))
    mesh.withdraw('/Tomcat VM 1/MySQL')
    t.deepEqual(recorder.imports('MySQL'), {})
  })

  test(`${name}: a debounce window coalesces a burst of changes into one update`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    const updates = await updatesForBurst(net, { debounceMs: 300 })
    t.true(updates < 5, `${updates} updates for 5 changes`)
  })

  test(`${name}: with the default debounce (0), every change of a burst runs update, as in Roboconf`, async t => {
    const net = await makeNetwork()
    t.teardown(async () => { await net.close() })
    t.is(await updatesForBurst(net), 5)
  })
}

test('memory: anti-entropy repairs a lost withdrawal and a lost announcement', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const apache = new ImportRecorder()
  const a = app.agent('Apache VM', 'Apache', 'memory-apache')
  const b = app.agent('Tomcat VM 1', 'Tomcat', 'memory-tomcat')
  const apacheMesh = await hub.factory({ antiEntropyIntervalMs: 100, antiEntropyDigestsPerSecond: 1000, log: quiet })(a.model, a.parameters, apache)
  const tomcatMesh = await hub.factory({ antiEntropyIntervalMs: 100, antiEntropyDigestsPerSecond: 1000, log: quiet })(b.model, b.parameters, new ImportRecorder())
  t.teardown(async () => { await Promise.all([apacheMesh.stop(), tomcatMesh.stop()]) })
  apacheMesh.setInterests(new Set(['Tomcat']))
  tomcatMesh.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await apache.waitFor('Tomcat', () => Object.keys(apache.imports('Tomcat')).length === 1)

  // Exports topics lose everything: the withdrawal never arrives, only the digest on the control topic does.
  hub.setLoss((_from, _to, topic) => topic.includes('/exports/'))
  tomcatMesh.withdraw('/Tomcat VM 1/Tomcat')
  await apache.waitFor('withdrawal repaired', () => Object.keys(apache.imports('Tomcat')).length === 0)

  tomcatMesh.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.9' })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.deepEqual(apache.imports('Tomcat'), {})
  hub.setLoss(undefined)
  // The next digest shows a newer seq: Apache asks Tomcat, which re-announces.
  await apache.waitFor('announcement repaired', () => apache.imports('Tomcat')['/Tomcat VM 1/Tomcat']?.['Tomcat.ip'] === '127.0.0.9')
  t.is(apache.events.filter(e => e.kind === 'removed').length, 1)
})

test('memory: digests slow down as the mesh grows, so the whole mesh sends a bounded number', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => { await Promise.all(meshes.map(async m => { await m.stop() })) })
  const digests = new Map<string, number>()
  // Counts control-topic deliveries per sender; loses nothing.
  hub.setLoss((from, _to, topic) => {
    if (topic.includes('/control')) digests.set(from, (digests.get(from) ?? 0) + 1)
    return false
  })
  // 8 agents, 10 ms shortest interval, 20 digests/s for the whole mesh: each owner waits about 8 / 20 s = 400 ms.
  for (let i = 1; i <= 8; i++) {
    const { model, parameters } = app.agent(`Tomcat VM ${i}`, 'Tomcat', `memory-digest-${i}`)
    const mesh = await hub.factory({ antiEntropyIntervalMs: 10, antiEntropyDigestsPerSecond: 20, log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle
    meshes.push(mesh)
    mesh.announce(`/Tomcat VM ${i}/Tomcat`, 'Tomcat', { 'Tomcat.ip': `127.0.0.${i}` })
  }
  const windowMs = 2000
  digests.clear()
  await new Promise(resolve => setTimeout(resolve, windowMs))
  // Each digest is delivered to the 7 other agents.
  const sent = [...digests.values()].reduce((a, b) => a + b, 0) / 7
  // Unscaled (every 10 ms) it would be about 1600; scaled, about 20/s * 2 s = 40 (jitter and the first rounds: 80).
  t.true(sent >= 10 && sent <= 80, `${sent} digests in ${windowMs} ms`)
})

test('memory: exports no component imports (Apache\'s) reach nobody and are left out of digests', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const delivered: Array<{ from: string, topic: string }> = []
  hub.setLoss((from, _to, topic) => { delivered.push({ from, topic }); return false })
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => { await Promise.all(meshes.map(async m => { await m.stop() })) })
  for (const [vm, child] of [['Tomcat VM 1', 'Tomcat'], ['Apache VM', 'Apache'], ['Apache VM 2', 'Apache']] as const) {
    const { model, parameters } = app.agent(vm, child, `memory-unimported-${vm}`)
    meshes.push(await hub.factory({ antiEntropyIntervalMs: 50, antiEntropyDigestsPerSecond: 1e6, log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle)
  }
  const [tomcat, apache, importer] = meshes
  importer.setInterests(new Set(['Tomcat']))
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.1' })
  apache.announce('/Apache VM/Apache', 'Apache', { 'Apache.ip': '127.0.0.2', 'Apache.port': '80' })
  await new Promise(resolve => setTimeout(resolve, 500))
  const fromApache = delivered.filter(d => d.from === apache.peerId)
  t.deepEqual(fromApache, [], 'nobody subscribes to the Apache topic, and Apache has no digest to send')
  // The Tomcat prefix is imported (by Apache): announced, then digests (50 ms, 100 ms, 200 ms after the change).
  t.true(delivered.some(d => d.from === tomcat.peerId && d.topic.includes('/control')), 'Tomcat sends digests')
  t.true(delivered.some(d => d.from === tomcat.peerId && !d.topic.includes('/control')), 'Tomcat\'s announce is delivered (to its importer)')
})

test('memory: digests back off while an owner\'s exports do not change, and come soon again after a change', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const sentAt: number[] = []
  hub.setLoss((_from, _to, topic) => {
    if (topic.includes('/control')) sentAt.push(performance.now())
    return false
  })
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => { await Promise.all(meshes.map(async m => { await m.stop() })) })
  for (const vm of ['Tomcat VM 1', 'Apache VM']) {
    const { model, parameters } = app.agent(vm, vm === 'Apache VM' ? 'Apache' : 'Tomcat', `memory-backoff-${vm}`)
    meshes.push(await hub.factory({ antiEntropyIntervalMs: 50, antiEntropyDigestsPerSecond: 1e6, log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle)
  }
  const [tomcat] = meshes
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.1' })
  await new Promise(resolve => setTimeout(resolve, 1600))
  // 50, 100, 200, 400, 800 ms apart (±20 %): about 5 digests in 1.6 s, where a fixed 50 ms interval sends 32.
  t.true(sentAt.length >= 3 && sentAt.length <= 6, `${sentAt.length} digests in 1.6 s`)
  sentAt.length = 0
  const changedAt = performance.now()
  tomcat.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await new Promise(resolve => setTimeout(resolve, 600))
  // Backed off, the next digest was due 1.3 s or more later; after the change it comes 50 ms (±20 %) later.
  t.true(sentAt.length >= 1 && sentAt[0] - changedAt < 500, `first digest ${sentAt[0] - changedAt} ms after the change`)
})

test('memory: a cut longer than the grace withdraws (once the grace has run out), and the exports come back when it heals', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const apache = new ImportRecorder()
  const a = app.agent('Apache VM', 'Apache', 'memory-apache')
  const b = app.agent('Tomcat VM 1', 'Tomcat', 'memory-tomcat')
  const graceMs = 300
  const apacheMesh = await hub.factory({ log: quiet, livenessGraceMs: graceMs })(a.model, a.parameters, apache)
  const tomcatMesh = await hub.factory({ log: quiet })(b.model, b.parameters, new ImportRecorder())
  t.teardown(async () => { await Promise.all([apacheMesh.stop(), tomcatMesh.stop()]) })
  apacheMesh.setInterests(new Set(['Tomcat']))
  tomcatMesh.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '127.0.0.2' })
  await apache.waitFor('Tomcat', () => Object.keys(apache.imports('Tomcat')).length === 1)
  const cutAt = performance.now()
  hub.setReachable('memory-tomcat', false)
  await apache.waitFor('Tomcat withdrawn', () => Object.keys(apache.imports('Tomcat')).length === 0)
  // Timers fire on whole milliseconds, up to one early by performance.now().
  t.true(performance.now() - cutAt >= graceMs - 1, `withdrawn ${performance.now() - cutAt} ms after the cut`)
  hub.setReachable('memory-tomcat', true)
  await apache.waitFor('Tomcat back', () => Object.keys(apache.imports('Tomcat')).length === 1)
  t.deepEqual(apache.events.map(e => e.kind), ['added', 'removed', 'added'])
})

test('memory: a late importer asks every owner in one request, and each owner re-announces once', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => { await Promise.all(meshes.map(async m => { await m.stop() })) })
  const owners = 6
  for (let i = 1; i <= owners; i++) {
    const { model, parameters } = app.agent(`Tomcat VM ${i}`, 'Tomcat', `memory-late-${i}`)
    const mesh = await hub.factory({ log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle
    meshes.push(mesh)
    mesh.announce(`/Tomcat VM ${i}/Tomcat`, 'Tomcat', { 'Tomcat.ip': `127.0.0.${i}`, 'Tomcat.port': '8080' })
  }
  // Deliveries per sender and topic from now on (each message reaches every other member); nothing lost.
  const deliveries = new Map<string, number>()
  hub.setLoss((from, _to, topic) => {
    const k = `${from} ${topic.includes('/control') ? 'control' : 'exports'}`
    deliveries.set(k, (deliveries.get(k) ?? 0) + 1)
    return false
  })
  const recorder = new ImportRecorder()
  const { model, parameters } = app.agent('Apache VM', 'Apache', 'memory-late-apache')
  const apache = await hub.factory({ log: quiet })(model, parameters, recorder) as MeshServiceHandle
  meshes.push(apache)
  apache.setInterests(new Set(['Tomcat']))
  await recorder.waitFor('the 6 Tomcats', () => Object.keys(recorder.imports('Tomcat')).length === owners, 3000)
  await new Promise(resolve => setTimeout(resolve, 700)) // past the shortest interval between two requests
  // The importer met 6 owners at once: one request naming them (each delivered to the 6), not one per owner.
  t.is(deliveries.get('memory-late-apache control'), owners)
  // Each owner re-announced its Tomcat once, delivered to the importer alone (only importers subscribe to a prefix).
  for (let i = 1; i <= owners; i++) t.is(deliveries.get(`memory-late-${i} exports`), 1, `Tomcat VM ${i}`)
})

test('memory: a request targeted at a peer met goes to that peer only, not to the whole mesh', async t => {
  const hub = createMemoryMeshHub()
  const app = createMeshApp()
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => { await Promise.all(meshes.map(async m => { await m.stop() })) })
  // Where the importers' control messages go, and when the last one went.
  const delivered: Array<{ from: string, to: string }> = []
  let lastAt = performance.now()
  hub.setLoss((from, to, topic) => {
    if (topic.includes('/control') && from.startsWith('memory-targeted-')) { delivered.push({ from, to }); lastAt = performance.now() }
    return false
  })
  /** Until no importer's control message has gone for 800 ms (their requests are spaced by a throttle), at most 20 s. */
  const untilQuiet = async (): Promise<void> => {
    const until = performance.now() + 20_000
    while (performance.now() - lastAt < 800 && performance.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
  }
  const importers = 5
  for (let i = 1; i <= importers; i++) {
    const { model, parameters } = app.agent(`Apache VM ${i}`, 'Apache', `memory-targeted-${i}`)
    const mesh = await hub.factory({ log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle
    meshes.push(mesh)
    mesh.setInterests(new Set(['Tomcat']))
  }
  await untilQuiet()
  const mark = delivered.length
  // A new agent: every importer asks it (and it alone) whether it owns a Tomcat.
  const { model, parameters } = app.agent('MySQL VM', 'MySQL', 'memory-newcomer')
  meshes.push(await hub.factory({ log: quiet })(model, parameters, new ImportRecorder()) as MeshServiceHandle)
  lastAt = performance.now()
  await untilQuiet()
  const asked = delivered.slice(mark)
  t.is(asked.length, importers, JSON.stringify(asked))
  t.true(asked.every(d => d.to === 'memory-newcomer'), JSON.stringify(asked))
})
