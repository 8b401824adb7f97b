// An importer finds an owner it is not connected to: in a line MySQL VM — Apache VM — Tomcat VM, where only the
// ends know each other through the middle (which does not import MySQL, so does not subscribe to its topic), Tomcat's
// request crosses the middle on the control topic, MySQL answers with its digest (where it listens), and Tomcat
// dials MySQL and asks again.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import { ImportRecorder } from '../agent/mesh/recorder.js'
import type { MeshServiceHandle, MeshServiceOptions } from '../agent/mesh/service.js'
import { createMeshApp, type MeshAppChild } from '../fixtures/mesh-app.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'

type Starter = (vm: string, child: MeshAppChild, recorder: ImportRecorder, bootstrap: string[]) => Promise<MeshServiceHandle>

/** Starts libp2p meshes of one application in a temporary folder, stopped and removed at the test's end. */
async function meshStarter (t: { teardown: (fn: () => Promise<void>) => void }, options: MeshServiceOptions = {}): Promise<Starter> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-relay-'))
  const app = createMeshApp()
  const meshes: MeshServiceHandle[] = []
  t.teardown(async () => {
    await Promise.all(meshes.map(async m => { await m.stop() }))
    await rm(dir, { recursive: true, force: true })
  })
  return async (vm, child, recorder, bootstrap) => {
    const stateDir = join(dir, vm)
    const identity = await loadOrCreatePeerIdentity(stateDir)
    const { model, parameters } = app.agent(vm, child, identity.peerId, bootstrap)
    const mesh = await startLibp2pMesh(model, parameters, recorder,
      { ...options, stateDir, privateKey: identity.privateKey, log: silentLogger, viewSignal: null })
    meshes.push(mesh)
    return mesh
  }
}


test('an importer finds an owner through an agent that does not import the prefix, and dials it', async t => {
  const start = await meshStarter(t)

  const mysql = await start('MySQL VM', 'MySQL', new ImportRecorder(), [])
  const middle = new ImportRecorder()
  const apache = await start('Apache VM', 'Apache', middle, mysql.listenAddresses())
  apache.setInterests(new Set(['Tomcat']))
  const tomcatImports = new ImportRecorder()
  const tomcat = await start('Tomcat VM', 'Tomcat', tomcatImports, apache.listenAddresses())
  tomcat.setInterests(new Set(['MySQL']))

  mysql.announce('/MySQL VM/MySQL', 'MySQL', { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' })
  await tomcatImports.waitFor('MySQL at Tomcat', () => '/MySQL VM/MySQL' in tomcatImports.imports('MySQL'), 30_000)
  t.deepEqual(tomcatImports.imports('MySQL'), { '/MySQL VM/MySQL': { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' } })
  // Tomcat now holds MySQL from a connection of its own (liveness is watched on it).
  t.true(tomcat.view().connectedPeers.includes(mysql.peerId))
  // The middle agent does not import MySQL: nothing reached its engine.
  t.deepEqual(middle.imports('MySQL'), {})
})

test('a request sent before any peer listened goes again; an owner that starts exporting a prefix an unconnected importer asked for introduces itself at once, not at the next anti-entropy round', async t => {
  // a minute between digests: without the introduction, Tomcat would wait that long for MySQL
  const start = await meshStarter(t, { antiEntropyIntervalMs: 60_000 })
  const mysql = await start('MySQL VM', 'MySQL', new ImportRecorder(), [])
  const apache = await start('Apache VM', 'Apache', new ImportRecorder(), mysql.listenAddresses())
  apache.setInterests(new Set(['Tomcat']))
  const tomcatImports = new ImportRecorder()
  const tomcat = await start('Tomcat VM', 'Tomcat', tomcatImports, apache.listenAddresses())
  // Tomcat asks at once, before any peer listens to it (that request reaches nobody and must go again once the middle
  // is ready), while MySQL exports nothing yet: a Tomcat deployed before its database starts
  tomcat.setInterests(new Set(['MySQL']))
  await waitFor('Tomcat connected to the middle', () => tomcat.view().connectedPeers.includes(apache.peerId), { timeoutMs: 10_000 })
  await new Promise(resolve => setTimeout(resolve, 1_000))
  t.false(tomcat.view().connectedPeers.includes(mysql.peerId))

  const announcedAt = Date.now()
  mysql.announce('/MySQL VM/MySQL', 'MySQL', { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' })
  await tomcatImports.waitFor('MySQL at Tomcat', () => '/MySQL VM/MySQL' in tomcatImports.imports('MySQL'), 20_000)
  t.true(Date.now() - announcedAt < 10_000, `${Date.now() - announcedAt} ms`)
  t.true(tomcat.view().connectedPeers.includes(mysql.peerId))
})
