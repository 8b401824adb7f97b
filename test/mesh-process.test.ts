// The mesh with the real engine, one agent per process (fixtures/mesh-node.ts), on loopback: the chain
// reaction MySQL -> Tomcat -> Apache, a late joiner, one of two Tomcats stopped, an agent killed -9 and restarted
// with no DM, a blip, agents rejoining from their remembered peers, a frozen owner. The test plays the DM only to
// hand each agent its model; no DM process and no RabbitMQ run.
import test from 'ava'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS, PROBE_INDIRECT_TIMEOUT_MS, REMEMBERED_PEERS_FILE
} from '../agent/mesh/constants.js'
import type { MeshView } from '../agent/mesh/service.js'
import { changeState } from '../fixtures/mesh-app.js'
import { cluster, isStatus, meshAddresses, viewOf } from './helpers/mesh-cluster.js'
import { occupyPort } from './helpers/ports.js'
import { resetConnections } from './helpers/reset.js'
import { waitFor } from './helpers/wait.js'

test('separate processes: chain reaction MySQL -> Tomcat -> Apache, a late Tomcat, then MySQL stopped', async t => {
  const c = await cluster(t)
  const apache = await c.agent('Apache VM', 'Apache')
  const tomcat = await c.agent('Tomcat VM 1', 'Tomcat')
  const mysql = await c.agent('MySQL VM', 'MySQL')
  await apache.dm(changeState('Apache VM', 'Apache', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  // Nothing to import yet: both wait.
  await tomcat.waitFor('Tomcat unresolved', isStatus('/Tomcat VM 1/Tomcat', 'UNRESOLVED'))
  t.not(apache.status('/Apache VM/Apache'), 'DEPLOYED_STARTED')

  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await apache.waitFor('Apache started', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))
  t.is(tomcat.status('/Tomcat VM 1/Tomcat'), 'DEPLOYED_STARTED')

  // A Tomcat added late: it resolves MySQL by asking, and Apache's update runs for it.
  const late = await c.agent('Tomcat VM 2', 'Tomcat')
  const from = apache.events.length
  await late.dm(changeState('Tomcat VM 2', 'Tomcat', 'DEPLOYED_STARTED'))
  await late.waitFor('late Tomcat started', isStatus('/Tomcat VM 2/Tomcat', 'DEPLOYED_STARTED'))
  await apache.waitFor('Apache updated for Tomcat 2', e => e.event === 'step' && e.step === 'update' &&
    e.change?.instancePath === '/Tomcat VM 2/Tomcat' && e.change.status === 'DEPLOYED_STARTED', { from })

  // MySQL stopped: both Tomcats lose their mandatory import, and then Apache loses its.
  const marks = [tomcat.events.length, late.events.length, apache.events.length]
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STOPPED'))
  await tomcat.waitFor('Tomcat 1 unresolved', isStatus('/Tomcat VM 1/Tomcat', 'UNRESOLVED'), { from: marks[0] })
  await late.waitFor('Tomcat 2 unresolved', isStatus('/Tomcat VM 2/Tomcat', 'UNRESOLVED'), { from: marks[1] })
  await apache.waitFor('Apache unresolved', isStatus('/Apache VM/Apache', 'UNRESOLVED'), { from: marks[2] })
  t.is(apache.status('/Apache VM/Apache'), 'UNRESOLVED')
})

test('separate processes: a Tomcat stopped while another stays: Apache drops exactly that one', async t => {
  const c = await cluster(t)
  const mysql = await c.agent('MySQL VM', 'MySQL')
  const tomcats = [await c.agent('Tomcat VM 1', 'Tomcat'), await c.agent('Tomcat VM 2', 'Tomcat')]
  const apache = await c.agent('Apache VM', 'Apache')
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  for (const [i, tomcat] of tomcats.entries()) await tomcat.dm(changeState(`Tomcat VM ${i + 1}`, 'Tomcat', 'DEPLOYED_STARTED'))
  await apache.dm(changeState('Apache VM', 'Apache', 'DEPLOYED_STARTED'))
  const held = async (): Promise<string[][]> => (await viewOf(apache)).held.map(h => [h.instancePath, h.peerId]).sort()
  await waitFor('both Tomcats held by Apache', async () => (await held()).length === 2, { state: held, timeoutMs: 60_000, everyMs: 100 })
  await apache.waitFor('Apache started', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))

  const from = apache.events.length
  await tomcats[1].dm(changeState('Tomcat VM 2', 'Tomcat', 'DEPLOYED_STOPPED'))
  await apache.waitFor('Apache updated for the stopped Tomcat', e => e.event === 'step' && e.step === 'update' &&
    e.change?.instancePath === '/Tomcat VM 2/Tomcat' && e.change.status === 'DEPLOYED_STOPPED', { from })
  t.deepEqual(await held(), [['/Tomcat VM 1/Tomcat', tomcats[0].peerId]])
  // Tomcat 1 stays: no update removing it, and Apache keeps running on it.
  t.deepEqual(apache.events.slice(from).filter(e => e.event === 'step' && e.change?.instancePath === '/Tomcat VM 1/Tomcat' &&
    e.change.status === 'DEPLOYED_STOPPED'), [])
  t.is(apache.status('/Apache VM/Apache'), 'DEPLOYED_STARTED')
})

test('separate processes: an agent killed -9 is withdrawn; restarted with no DM, it comes back with the same peer id', async t => {
  const c = await cluster(t)
  const apache = await c.agent('Apache VM', 'Apache')
  const tomcat = await c.agent('Tomcat VM 1', 'Tomcat')
  const mysql = await c.agent('MySQL VM', 'MySQL')
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await apache.dm(changeState('Apache VM', 'Apache', 'DEPLOYED_STARTED'))
  await apache.waitFor('Apache started', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))
  const peerId = tomcat.peerId

  const before = apache.events.length
  tomcat.kill('SIGKILL')
  await apache.waitFor('Apache unresolved after the kill', isStatus('/Apache VM/Apache', 'UNRESOLVED'), { from: before })
  t.deepEqual((await viewOf(apache)).held, [])

  // Restarted from its state folder, with no model sent: it restores, rejoins from its remembered peers, restarts Tomcat.
  const restarted = await c.restart('Tomcat VM 1')
  t.is(restarted.peerId, peerId)
  const after = apache.events.length
  await apache.waitFor('Apache started again', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'), { from: after })
  t.is(restarted.status('/Tomcat VM 1/Tomcat'), 'DEPLOYED_STARTED')
  t.deepEqual((await viewOf(apache)).held.map(h => h.peerId), [peerId])
})

test('separate processes: a blip (every connection reset) shorter than the grace: the importer\'s update never runs without its import', async t => {
  const c = await cluster(t)
  const tomcat = await c.agent('Tomcat VM 1', 'Tomcat')
  const mysql = await c.agent('MySQL VM', 'MySQL')
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  // Its announce is reported after its start: from then on, nothing of the Tomcat may change.
  await tomcat.waitFor('Tomcat started and announced', e => e.event === 'published' && e.instancePath === '/Tomcat VM 1/Tomcat')

  const from = tomcat.events.length
  await resetConnections([...meshAddresses(tomcat), ...meshAddresses(mysql)])
  const view = async (): Promise<MeshView> => await viewOf(tomcat)
  await waitFor('MySQL connected again', async () => (await view()).connectedPeers.includes(mysql.peerId), { state: view, timeoutMs: 60_000, everyMs: 50 })
  // A withdrawal would come within the grace (stretched by the importer's lag): watch five times as long.
  await new Promise(resolve => setTimeout(resolve, 5 * LIVENESS_GRACE_MS))
  t.deepEqual(tomcat.events.slice(from).filter(e => e.event === 'instance' || e.event === 'step'), [])
  t.deepEqual((await view()).held.map(h => [h.instancePath, h.peerId]), [['/MySQL VM/MySQL', mysql.peerId]])
})

test('separate processes: importer and owner killed -9, the owner back first on another port: it redials the importer from its remembered peers until it is up', async t => {
  const c = await cluster(t)
  const mysql = await c.agent('MySQL VM', 'MySQL')
  const tomcat = await c.agent('Tomcat VM 1', 'Tomcat')
  // Apache knows Tomcat only: restarted, it can find Tomcat at its old address alone (the DM is down).
  const apache = await c.agent('Apache VM', 'Apache', [tomcat])
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await apache.dm(changeState('Apache VM', 'Apache', 'DEPLOYED_STARTED'))
  await apache.waitFor('Apache started', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))
  const remembered = join(c.dir, 'Tomcat VM 1', REMEMBERED_PEERS_FILE)
  await waitFor('Apache in Tomcat\'s remembered peers', async () => (await readFile(remembered, 'utf8').catch(() => '')).includes(apache.peerId), { state: async () => await readFile(remembered, 'utf8').catch(() => ''), timeoutMs: 60_000, everyMs: 100 })
  const oldTomcat = meshAddresses(tomcat)
  apache.kill('SIGKILL')
  tomcat.kill('SIGKILL')
  await waitFor('both killed', () => !apache.alive && !tomcat.alive, { state: () => [apache.alive, tomcat.alive], timeoutMs: 60_000 })

  // Tomcat's old port taken: it comes back elsewhere, where Apache's bootstrap list and remembered peers do not point.
  const squatter = await occupyPort(Number(oldTomcat[0].match(/\/tcp\/(\d+)/)?.[1]))
  t.teardown(() => { squatter.close() })
  const tomcatAgain = await c.restart('Tomcat VM 1')
  t.notDeepEqual(meshAddresses(tomcatAgain), oldTomcat)
  await tomcatAgain.waitFor('Tomcat started again', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'))
  const apacheAgain = await c.restart('Apache VM')
  const held = async (): Promise<string[][]> => (await viewOf(apacheAgain)).held.map(h => [h.instancePath, h.peerId])
  await waitFor('Tomcat held by the restarted Apache', async () => (await held()).length === 1, { state: held, timeoutMs: 60_000, everyMs: 100 })
  t.deepEqual(await held(), [['/Tomcat VM 1/Tomcat', tomcat.peerId]])
  await apacheAgain.waitFor('Apache started again', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))
})

test('a frozen owner (SIGSTOP) counts as lost; thawed, it is back on the same connection, with no redial', async t => {
  const c = await cluster(t)
  const tomcat = await c.agent('Tomcat VM 1', 'Tomcat')
  const mysql = await c.agent('MySQL VM', 'MySQL')
  await mysql.dm(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.dm(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await tomcat.waitFor('Tomcat started', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'))

  // Frozen as a saturated owner is: its kernel keeps the connection up, but it answers nothing.
  let from = tomcat.events.length
  process.kill(mysql.pid, 'SIGSTOP')
  try {
    await tomcat.waitFor('Tomcat unresolved (MySQL lost)', isStatus('/Tomcat VM 1/Tomcat', 'UNRESOLVED'),
      // No third peer to ask (probe.ts): the indirect wait passes unanswered, then the grace.
      { from, timeoutMs: 3 * (LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS + LIVENESS_GRACE_MS) })
  } finally {
    process.kill(mysql.pid, 'SIGCONT')
  }
  from = tomcat.events.length
  await tomcat.waitFor('Tomcat started again', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'), { from })
  // Its late answer came on the connection it had: the importer neither dropped it nor dialled again.
  t.regex(tomcat.stderr, /answered neither our ping .*counted as lost/)
  t.regex(tomcat.stderr, /answers again/)
  t.notRegex(tomcat.stderr, /dropping its connection|reconnecting/)
})
