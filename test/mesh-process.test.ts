// The mesh with the real engine, one agent per process (simulations/bench/mesh-node.ts), on loopback: the chain
// reaction MySQL -> Tomcat -> Apache, a late joiner, one of two Tomcats stopped, an agent killed -9 and restarted with no DM. The test plays
// the DM only to hand each agent its model; no DM process and no RabbitMQ run.
import test from 'ava'
import { join } from 'node:path'
import { LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS } from '../agent/mesh/constants.js'
import { MeshNodeProcess } from '../simulations/bench/mesh-node-client.js'
import { changeState } from '../simulations/bench/mesh-app.js'
import { cluster, isStatus, LOOPBACK, viewOf } from './helpers/mesh-cluster.js'
import { until } from './helpers/mesh-wire.js'

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
  await until('both Tomcats held by Apache', async () => (await held()).length === 2, held, { intervalMs: 100 })
  await apache.waitFor('Apache started', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'))

  const from = apache.events.length
  await tomcats[1].dm(changeState('Tomcat VM 2', 'Tomcat', 'DEPLOYED_STOPPED'))
  await apache.waitFor('Apache updated for the stopped Tomcat', e => e.event === 'step' && e.step === 'update' &&
    e.change?.instancePath === '/Tomcat VM 2/Tomcat' && e.change.status === 'DEPLOYED_STOPPED', { from })
  t.deepEqual(await held(), [['/Tomcat VM 1/Tomcat', tomcats[0].peerId]])
  // Tomcat 1 stays: no update about it, and Apache keeps running on it.
  t.deepEqual(apache.events.slice(from).filter(e => e.event === 'step' && e.change?.instancePath === '/Tomcat VM 1/Tomcat'), [])
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
  const restarted = new MeshNodeProcess()
  c.nodes.push(restarted)
  const reply = await restarted.init(join(c.dir, 'Tomcat VM 1'), LOOPBACK)
  t.true(reply.restored)
  t.is(restarted.peerId, peerId)
  const after = apache.events.length
  await apache.waitFor('Apache started again', isStatus('/Apache VM/Apache', 'DEPLOYED_STARTED'), { from: after })
  t.is(restarted.status('/Tomcat VM 1/Tomcat'), 'DEPLOYED_STARTED')
  t.deepEqual((await viewOf(apache)).held.map(h => h.peerId), [peerId])
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
      { from, timeoutMs: 3 * (LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + LIVENESS_GRACE_MS) })
  } finally {
    process.kill(mysql.pid, 'SIGCONT')
  }
  from = tomcat.events.length
  await tomcat.waitFor('Tomcat started again', isStatus('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED'), { from })
  // Its late answer came on the connection it had: the importer neither dropped it nor dialled again.
  t.regex(tomcat.stderr, /did not answer a ping .*counted as lost/)
  t.regex(tomcat.stderr, /answers again/)
  t.notRegex(tomcat.stderr, /dropping its connection|reconnecting/)
})
