// The domain exchange against forgers (issue 21), with agent processes: a binding not signed by the DM (or an older one
// replayed) reaching an agent over RabbitMQ, where commands are not signed; a peer holding the domain's pnet key
// announcing with a forged external ownership or someone else's, and asking an exporter with a forged binding. Each
// is refused, counted in the agent's view, and changes nothing the recipes see. Then the DM is stopped and the exporter
// killed and restarted: the other application's importer follows without it.
import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import amqp from 'amqplib'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readPidFile } from '../agent/view.js'
import { loadSigningKey } from '../manager/dm/core.js'
import {
  domainControlTopic, domainExportsTopic, domainPnetKey, encodeDomainMessage, signBinding, signExternalOwnership, type DomainMessage
} from '../protocol/domain.js'
import { agentRoutingKey, agentsExchangeName } from '../protocol/broker-names.js'
import { toAgent } from '../protocol/messages.js'
import { createDmSigningKey, pnetKeyBytes } from '../protocol/mesh.js'
import { startRawNode } from './helpers/mesh-wire.js'
import { agentView, recipeOutput, RABBITMQ_URL, restartAgent, startInterAppDm, stateDirOf, type InterAppDm } from './helpers/interapp.js'
import { waitFor } from './helpers/wait.js'

const statusOf = (env: InterAppDm, app: string, path: string): string => env.dm.instance(app, path).status

/** Db exporting, Shop A bound to it and started, Shop B unbound (its Web UNRESOLVED). */
async function deployed (t: Parameters<typeof startInterAppDm>[0], kind: 'embedded' | 'amqp'): Promise<InterAppDm> {
  const env = await startInterAppDm(t, kind)
  const { dm } = env
  dm.createApplication({ name: 'Db', template: { name: 'Database', version: '1.0' } })
  dm.createApplication({ name: 'Shop A', template: { name: 'Web', version: '1.0' } })
  dm.createApplication({ name: 'Shop B', template: { name: 'Web', version: '1.0' } })
  dm.bind('Shop A', 'Db', 'Db')
  for (const app of ['Db', 'Shop A', 'Shop B']) dm.action(app, { action: 'deploy-and-start-all' })
  await waitFor('Shop A\'s Web started', () => statusOf(env, 'Shop A', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  await waitFor('Shop B\'s Web waiting', () => statusOf(env, 'Shop B', '/web vm/web') === 'UNRESOLVED', { timeoutMs: 120_000 })
  return env
}

test('a binding not signed by the DM, or an older one replayed, is refused and counted: the unbound Web stays unresolved', async t => {
  t.timeout(300_000)
  const env = await deployed(t, 'amqp')
  const bState = stateDirOf(env, 'Shop B', '/web vm')
  const connection = await amqp.connect(RABBITMQ_URL, { noDelay: true })
  t.teardown(async () => { await connection.close() })
  const channel = await connection.createChannel()
  const sendToShopB = (message: object): void => {
    channel.publish(agentsExchangeName(env.domain, 'Shop B'), agentRoutingKey('/web vm'), Buffer.from(JSON.stringify(message)))
  }
  const genuine = loadSigningKey(env.dataDir)
  const attacker = createDmSigningKey()
  // signed by another key; then the DM's public key claimed with the attacker's signature
  const forged = signBinding(attacker, { application: 'Shop B', prefix: 'Db', exporters: ['Db'], version: 50 })
  sendToShopB(toAgent({ kind: 'changeBinding', binding: forged, bootstrapPeers: [] }))
  sendToShopB(toAgent({ kind: 'changeBinding', binding: { ...forged, dmPublicKey: genuine.publicKey }, bootstrapPeers: [] }))
  // a genuine binding of another application, replayed to this one
  sendToShopB(toAgent({ kind: 'changeBinding', binding: signBinding(genuine, { application: 'Shop A', prefix: 'Db', exporters: ['Db'], version: 60 }), bootstrapPeers: [] }))
  await waitFor('three refusals counted', async () => {
    const r = (await agentView(bState)).domain?.rejections ?? {}
    return r['untrusted-dm-key'] === 1 && r['bad-signature'] === 1 && r['wrong-application'] === 1
  })
  const view = await agentView(bState)
  t.deepEqual(view.domain?.bindings, [{ prefix: 'Db', exporters: [], version: 0 }])
  t.deepEqual(view.domain?.held, [])
  t.is(statusOf(env, 'Shop B', '/web vm/web'), 'UNRESOLVED')

  // bound, then unbound by the DM (versions 1 and 2); the genuine version 1 replayed is older: refused
  env.dm.bind('Shop B', 'Db', 'Db')
  await waitFor('Shop B\'s Web started', () => statusOf(env, 'Shop B', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  env.dm.unbind('Shop B', 'Db', 'Db')
  await waitFor('Shop B\'s Web unresolved', () => statusOf(env, 'Shop B', '/web vm/web') === 'UNRESOLVED', { timeoutMs: 60_000 })
  sendToShopB(toAgent({ kind: 'changeBinding', binding: signBinding(genuine, { application: 'Shop B', prefix: 'Db', exporters: ['Db'], version: 1 }), bootstrapPeers: [] }))
  await waitFor('the replay refused', async () => (await agentView(bState)).domain?.rejections['stale-binding'] === 1)
  t.deepEqual((await agentView(bState)).domain?.bindings, [{ prefix: 'Db', exporters: [], version: 2 }])
  t.is(statusOf(env, 'Shop B', '/web vm/web'), 'UNRESOLVED')
})

test('a peer with the domain pnet key: forged or borrowed external ownerships and forged bindings are refused and counted', async t => {
  t.timeout(300_000)
  const env = await deployed(t, 'embedded')
  const aState = stateDirOf(env, 'Shop A', '/web vm')
  const dbState = stateDirOf(env, 'Db', '/db vm')
  const before = recipeOutput(aState, '/web vm/web', 'started.txt')
  const genuine = loadSigningKey(env.dataDir)
  const attacker = createDmSigningKey()
  const raw = await startRawNode(t, pnetKeyBytes(domainPnetKey(genuine)))
  const importer = await agentView(aState)
  const exporter = await agentView(dbState)
  await raw.node.dial((importer.domain?.addresses ?? []).map(a => multiaddr(a)))
  await raw.node.dial((exporter.domain?.addresses ?? []).map(a => multiaddr(a)))
  const topic = domainExportsTopic('Db', 'Db')
  raw.node.services.pubsub.subscribe(topic)
  raw.node.services.pubsub.subscribe(domainControlTopic())
  await waitFor('the importer listens to the raw node on the Db topic', () => raw.node.services.pubsub.getSubscribers(topic).some(p => p.toString() === importer.domain?.peerId))
  await waitFor('the exporter listens on the control topic', () => raw.node.services.pubsub.getSubscribers(domainControlTopic()).some(p => p.toString() === exporter.domain?.peerId))
  const publish = async (topicName: string, message: DomainMessage): Promise<void> => { await raw.node.services.pubsub.publish(topicName, encodeDomainMessage(message)) }

  const announce = (ownership: ReturnType<typeof signExternalOwnership>, seq: number): DomainMessage => ({
    v: 1, kind: 'announce', application: 'Db', prefix: 'Db', instancePath: '/db vm/database', component: 'Database',
    variables: { 'Db.ip': '203.0.113.66', 'Db.port': '6666' }, epoch: Date.now(), seq, ownership, addresses: []
  })
  // an external ownership signed by another key, for the raw node itself
  await publish(topic, announce(signExternalOwnership(attacker, { peerId: raw.peerId, application: 'Db', prefix: 'Db', scopedInstancePath: '/db vm', generation: 99 }), 1))
  // the real exporter's genuine ownership, sent by another peer
  const borrowed = signExternalOwnership(genuine, { peerId: exporter.peerId, application: 'Db', prefix: 'Db', scopedInstancePath: '/db vm', generation: 1 })
  await publish(topic, announce(borrowed, 2))
  // a genuine ownership for another prefix
  await publish(topic, announce(signExternalOwnership(genuine, { peerId: raw.peerId, application: 'Db', prefix: 'Other', scopedInstancePath: '/db vm', generation: 1 }), 3))
  await waitFor('three forged announces counted', async () => {
    const r = (await agentView(aState)).domain?.rejections ?? {}
    return r['untrusted-dm-key'] === 1 && r['wrong-peer'] === 1 && r['wrong-prefix'] === 1
  })
  const held = (await agentView(aState)).domain?.held ?? []
  t.deepEqual(held.map(h => [h.peerId, h.variables['Db.ip']]), [[exporter.domain?.peerId, env.dm.instance('Db', '/db vm').data['ip.address']]])
  t.deepEqual(recipeOutput(aState, '/web vm/web', 'started.txt'), before)
  t.deepEqual(recipeOutput(aState, '/web vm/web', 'updated.txt'), {})

  // asking the exporter with a forged binding (and with a genuine one but another application's ownership)
  const forgedBinding = signBinding(attacker, { application: 'Shop B', prefix: 'Db', exporters: ['Db'], version: 9 })
  const aOwnership = JSON.parse(readFileSync(join(aState, 'agent-state.json'), 'utf8')).mesh.ownership
  await publish(domainControlTopic(), { v: 1, kind: 'request', binding: forgedBinding, ownership: aOwnership, addresses: [] })
  await publish(domainControlTopic(), { v: 1, kind: 'request', binding: signBinding(genuine, { application: 'Shop A', prefix: 'Db', exporters: ['Db'], version: 1 }), ownership: aOwnership, addresses: [] })
  await waitFor('the exporter counted both', async () => {
    const r = (await agentView(dbState)).domain?.rejections ?? {}
    return r['untrusted-dm-key'] === 1 && r['wrong-peer'] === 1
  })
})

test('the DM stopped: the exporter killed -9 is withdrawn at the other application, and back once its agent restarts', async t => {
  t.timeout(300_000)
  const env = await deployed(t, 'embedded')
  const aState = stateDirOf(env, 'Shop A', '/web vm')
  const dbState = stateDirOf(env, 'Db', '/db vm')
  const savedStatus = (): string | undefined => {
    const model = JSON.parse(readFileSync(join(aState, 'agent-state.json'), 'utf8')).model as { instance: { children: Array<{ path: string, status: string }> } }
    return model.instance.children.find(c => c.path === '/web vm/web')?.status
  }
  await env.stop()
  const pid = (await readPidFile(dbState))?.pid as number
  process.kill(pid, 'SIGKILL')
  await waitFor('Shop A\'s Web unresolved without the DM', () => savedStatus() === 'UNRESOLVED', { timeoutMs: 60_000 })
  t.deepEqual((await agentView(aState)).domain?.held, [])
  restartAgent(env, 'Db', '/db vm')
  await waitFor('Shop A\'s Web started again without the DM', () => savedStatus() === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  t.is(recipeOutput(aState, '/web vm/web', 'started.txt').Db_0_port, '3306')
  // the DM back shows the true states
  await env.restart()
  await waitFor('the DM sees Shop A\'s Web started', () => statusOf(env, 'Shop A', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
})
