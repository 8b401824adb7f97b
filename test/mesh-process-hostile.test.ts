// An agent process (the real engine over libp2p, fixtures/mesh-node.ts) against hostile peers played by
// libp2p nodes in the test's process: a node without the pnet key, forged ownerships and a forged withdraw, stale
// and reordered messages, a flood of malformed messages. What the agent holds and rejected is read from its view
// over IPC. No DM, no RabbitMQ. (mesh-libp2p.test.ts runs the same attacks on a mesh in the test's process.)
import test, { type ExecutionContext } from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { generatePnetKey, pnetKeyBytes } from '../protocol/mesh.js'
import { cluster, targetOf } from './helpers/mesh-cluster.js'
import { floodThenValid, forgeTomcat, replayTomcat, startRawNode, total, type MeshTarget } from './helpers/mesh-wire.js'
import { waitFor } from './helpers/wait.js'

/** An Apache agent process, the target of the attacks. */
async function apacheProcess (t: ExecutionContext): Promise<MeshTarget> {
  const c = await cluster(t)
  return targetOf(c, await c.agent('Apache VM', 'Apache'))
}

test.serial('an agent process admits no node without the pnet key, or with another one', async t => {
  const apache = await apacheProcess(t)
  const addresses = apache.addresses.map(a => multiaddr(a))
  for (const psk of [undefined, pnetKeyBytes(generatePnetKey())]) {
    const intruder = await startRawNode(t, psk)
    await t.throwsAsync(intruder.node.dial(addresses, { signal: AbortSignal.timeout(3000) }), { any: true })
    t.deepEqual(intruder.node.getConnections(), [])
  }
  const view = await apache.view()
  t.deepEqual(view.connectedPeers, [])
  t.deepEqual(view.held, [])
  // The same dial with the application's key works: what failed was the admission.
  const member = await startRawNode(t, pnetKeyBytes(apache.app.pnetKey))
  await member.node.dial(addresses)
  await waitFor('the member in the agent\'s view', async () => (await apache.view()).connectedPeers.includes(member.peerId), { state: async () => await apache.view(), timeoutMs: 60_000, everyMs: 100 })
})

test.serial('an agent process keeps only legitimate exports: forged ownerships and a forged withdraw are rejected, and logged', async t => {
  const c = await cluster(t)
  const apache = await c.agent('Apache VM', 'Apache')
  await forgeTomcat(t, targetOf(c, apache))
  t.regex(apache.stderr, /rejected a mesh message \(not-owner, 1 so far\)/)
  t.regex(apache.stderr, /rejected a mesh message \(wrong-peer, 1 so far\)/)
})

test.serial('an agent process ignores stale and reordered messages', async t => {
  await replayTomcat(t, await apacheProcess(t))
})

test.serial('an agent process survives 10 000 random and malformed messages, rejects them all, and still takes a valid change', async t => {
  // Every message is signed by the sender and checked by the receiver: on a loaded 2-core machine this takes minutes.
  t.timeout(600_000)
  const c = await cluster(t)
  const agent = await c.agent('Apache VM', 'Apache')
  const apache = targetOf(c, agent)
  const count = 10_000
  const rogue = await floodThenValid(t, apache, count, 100)
  await waitFor('the valid announcement after the flood', async () => (await apache.view()).held.length === 1, { state: async () => await apache.view(), timeoutMs: 60_000, everyMs: 100 })
  const view = await apache.view()
  t.true(agent.alive)
  t.is(total(view.rejections), count)
  t.deepEqual(view.held.map(h => [h.instancePath, h.peerId, h.variables]), [['/Tomcat VM 1/Tomcat', rogue, { 'Tomcat.ip': '10.0.0.1' }]])
})
