// A cut-off agent (its veth set down: no reset, packets vanish) has its exports withdrawn at its importer, and
// they come back when the link heals. Two agent processes with the real engine, each in its own network namespace.
// No DM process, no RabbitMQ.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNetnsPair } from '../fixtures/netns.js'
import { MeshNodeProcess } from '../fixtures/mesh-node-client.js'
import type { MeshNodeEvent } from '../fixtures/mesh-node.js'
import { changeState, createMeshApp } from '../fixtures/mesh-app.js'

const isStatus = (path: string, status: string) => (e: MeshNodeEvent): boolean => e.event === 'instance' && e.path === path && e.status === status

test('a cut-off agent (veth down) is withdrawn at its importer, then healed', async t => {
  t.is(process.getuid?.(), 0, 'this test creates network namespaces: run it as root (CI does)')
  const pair = await createNetnsPair()
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-netns-'))
  const nodes: MeshNodeProcess[] = []
  t.teardown(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await pair.destroy()
    await rm(dir, { recursive: true, force: true })
  })
  const app = createMeshApp()
  const tomcat = new MeshNodeProcess({ netns: pair.a.netns })
  const mysql = new MeshNodeProcess({ netns: pair.b.netns })
  nodes.push(tomcat, mysql)
  await tomcat.init(join(dir, 'tomcat'), [`/ip4/${pair.a.address}/tcp/0`], { allow: [pair.allow] })
  await mysql.init(join(dir, 'mysql'), [`/ip4/${pair.b.address}/tcp/0`], { allow: [pair.allow] })
  await tomcat.dm(app.setScopedInstance('Tomcat VM 1', 'Tomcat', tomcat.peerId))
  const mesh = await tomcat.waitFor('Tomcat mesh', (e): e is Extract<MeshNodeEvent, { event: 'mesh' }> => e.event === 'mesh')
  await mysql.dm(app.setScopedInstance('MySQL VM', 'MySQL', mysql.peerId, mesh.addresses))
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await tomcat.waitFor('Tomcat started', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'))

  // Cut off: MySQL's end goes down. No FIN, no RST: only the liveness pings can tell.
  let from = tomcat.events.length
  await pair.setLink(pair.b, false)
  await tomcat.waitFor('Tomcat unresolved (MySQL withdrawn)', isStatus('/Tomcat VM 1/Tomcat', 'UNRESOLVED'), { from })
  const view = (await tomcat.command({ cmd: 'view' })).view as { held: unknown[] }
  t.deepEqual(view.held, [])

  // Healed: Tomcat redials MySQL, asks it to re-announce, and starts again.
  from = tomcat.events.length
  await pair.setLink(pair.b, true)
  await tomcat.waitFor('Tomcat started again', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'), { from, timeoutMs: 60_000 })
  const healed = (await tomcat.command({ cmd: 'view' })).view as { held: Array<{ peerId: string, instancePath: string }> }
  t.deepEqual(healed.held.map(h => [h.instancePath, h.peerId]), [['/MySQL VM/MySQL', mysql.peerId]])
  t.is(mysql.status('/MySQL VM/MySQL'), 'DEPLOYED_STARTED')
})

test('with mDNS on (a LAN option), agents of one namespace find each other with no bootstrap list', async t => {
  t.is(process.getuid?.(), 0, 'this test creates network namespaces: run it as root (CI does)')
  const pair = await createNetnsPair()
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-mdns-'))
  const nodes: MeshNodeProcess[] = []
  t.teardown(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await pair.destroy()
    await rm(dir, { recursive: true, force: true })
  })
  const app = createMeshApp()
  const tomcat = new MeshNodeProcess({ netns: pair.a.netns })
  const mysql = new MeshNodeProcess({ netns: pair.a.netns })
  nodes.push(tomcat, mysql)
  await pair.routeMulticast(pair.a)
  const listen = [`/ip4/${pair.a.address}/tcp/0`]
  await tomcat.init(join(dir, 'tomcat'), listen, { allow: [pair.allow], mdns: true })
  await mysql.init(join(dir, 'mysql'), listen, { allow: [pair.allow], mdns: true })
  await tomcat.dm(app.setScopedInstance('Tomcat VM 1', 'Tomcat', tomcat.peerId))
  await mysql.dm(app.setScopedInstance('MySQL VM', 'MySQL', mysql.peerId))
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await tomcat.waitFor('Tomcat started', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'), { timeoutMs: 60_000 })
  const view = (await tomcat.command({ cmd: 'view' })).view as { held: Array<{ peerId: string }> }
  t.deepEqual(view.held.map(h => h.peerId), [mysql.peerId])
})
