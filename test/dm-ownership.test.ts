// The DM signs a machine's ownership for the peer id its agent reports: an agent that asks for its model without
// one gets it only once a heartbeat names its peer (never an ownership signed for an empty peer id, which every
// importer would reject). The test plays the operator who boots the machine and its agent (a real link over the
// DM's in-memory messaging), as with the `existing` target. The ownership expires: the DM renews it while the agent
// beats, and only once a quarter of its lifetime has passed.
import test, { type ExecutionContext } from 'ava'
import { join } from 'node:path'
import { createAgentLink } from '../agent/link/index.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createStore } from '../manager/store.js'
import type { MachineParameters, TargetHandler } from '../manager/targets/types.js'
import type { DmToAgentMessage, SignedOwnership } from '../protocol/messages.js'
import { ownershipExpiry, verifyOwnership } from '../protocol/mesh.js'
import { verifyExternalOwnership, type SignedExternalOwnership } from '../protocol/domain.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { captureLogger, heartbeat } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

/** A DM whose machines the test boots, and the link of the agent of /vm1 of `shop`, started, recording what it gets. */
async function dmWithAgent (t: ExecutionContext, options: { ownershipLifetimeMs?: number } = {}, template: { externalExports?: boolean } = {}) {
  const dir = tempDir('dm-ownership')
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const booted: MachineParameters[] = []
  // The machines are booted by the operator (the test): the DM only records them.
  const operator: TargetHandler = {
    id: 'operator',
    create: async params => { booted.push(params); return params.machineName },
    isRunning: async () => true,
    terminate: async () => {},
    address: async () => '127.0.0.1'
  }
  const log = captureLogger()
  const dm = createDeploymentManager({ store, messaging: createMemoryMessaging({}), targets: [operator], log },
    { dataDirectory: dir.path, defaultTargetHandler: 'operator', ...options })
  await dm.start()
  const links: Array<ReturnType<typeof createAgentLink>> = []
  t.teardown(async () => {
    await Promise.all(links.map(async link => { await link.stop() }))
    await dm.stop()
    store.close()
    dir.remove()
  })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template'), template))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.action('shop', { action: 'deploy-and-start-all', path: '/vm1' })
  const machine = await waitFor('the machine of /vm1', () => booted.find(p => p.agent.scopedInstancePath === '/vm1'))

  const link = createAgentLink({ endpoint: machine.agent.messaging, application: 'shop', scopedInstancePath: '/vm1', logger: captureLogger() })
  links.push(link)
  const models: Array<Extract<DmToAgentMessage, { kind: 'setScopedInstance' }>> = []
  const renewals: SignedOwnership[] = []
  const externalRenewals: Array<SignedExternalOwnership | undefined> = []
  link.onMessage(async msg => {
    if (msg.kind === 'setScopedInstance') models.push(msg)
    if (msg.kind === 'renewOwnership') {
      renewals.push(msg.ownership)
      externalRenewals.push(msg.externalOwnership)
    }
  })
  await link.start()
  return { dm, log, link, models, renewals, externalRenewals }
}

test('the DM hands out an ownership only for the peer id a heartbeat names', async t => {
  const { log, link, models } = await dmWithAgent(t)
  await link.send(heartbeat('shop', '/vm1'))
  await waitFor('the DM\'s warning', () => log.lines.some(line => line.includes('the agent of /vm1 (shop) asks for its model without its peer id')))
  await link.send(heartbeat('shop', '/vm1', { peerId: '12D3KooWPeerOfVm1' }))
  await waitFor('the model', () => models.length > 0)
  t.deepEqual(models.map(m => m.mesh.ownership.peerId), ['12D3KooWPeerOfVm1'])
})

test('the DM renews a beating agent\'s ownership before it expires, and not before a quarter of its lifetime', async t => {
  const lifetimeMs = 8_000
  const { link, models, renewals } = await dmWithAgent(t, { ownershipLifetimeMs: lifetimeMs })
  const peerId = '12D3KooWPeerOfVm1'
  await link.send(heartbeat('shop', '/vm1', { peerId }))
  const model = await waitFor('the model', () => models[0])
  const first = model.mesh.ownership
  const firstExpiry = first.expiresAt ?? 0
  t.true(firstExpiry > Date.now() && firstExpiry <= Date.now() + lifetimeMs, 'the ownership expires within its lifetime')
  // Beating at once: a quarter of the lifetime has not passed, nothing is renewed.
  await link.send(heartbeat('shop', '/vm1', { peerId, modelRequired: false }))
  await link.send(heartbeat('shop', '/vm1', { peerId, modelRequired: false }))
  await new Promise(resolve => setTimeout(resolve, 200))
  t.deepEqual(renewals, [], 'no renewal before a quarter of the lifetime')
  // Beating on: a renewal comes, for the same peer and machine, signed, expiring later.
  const renewed = await waitFor('a renewed ownership', async () => {
    await link.send(heartbeat('shop', '/vm1', { peerId, modelRequired: false }))
    return renewals[0]
  }, { everyMs: 200 })
  t.is(renewed.peerId, peerId)
  t.is(renewed.scopedInstancePath, '/vm1')
  t.is(renewed.generation, first.generation)
  t.true((renewed.expiresAt ?? 0) > firstExpiry, 'the renewed ownership expires later')
  t.deepEqual(verifyOwnership(renewed, { senderPeerId: peerId, application: 'shop', instancePath: '/vm1', trustedDmKeys: model.mesh.trustedDmKeys }), { ok: true })
  // The first one, not renewed, is refused once past its expiry (and the clock skew an importer allows).
  t.is(ownershipExpiry(first, firstExpiry + 1, 0).ok, false)
  t.is(ownershipExpiry(renewed, firstExpiry + 1, 0).ok, true)
})

test('a machine exporting to other applications gets an external ownership expiring with its ownership, renewed with it', async t => {
  const lifetimeMs = 8_000
  const { link, models, externalRenewals } = await dmWithAgent(t, { ownershipLifetimeMs: lifetimeMs }, { externalExports: true })
  const peerId = '12D3KooWPeerOfVm1'
  await link.send(heartbeat('shop', '/vm1', { peerId }))
  const model = await waitFor('the model', () => models[0])
  const first = model.mesh.domain?.ownership
  t.like(first, { peerId, application: 'shop', prefix: 'Shop', scopedInstancePath: '/vm1', expiresAt: model.mesh.ownership.expiresAt })
  const renewed = await waitFor('a renewal', async () => {
    await link.send(heartbeat('shop', '/vm1', { peerId, modelRequired: false }))
    return externalRenewals.length > 0 ? externalRenewals : undefined
  }, { everyMs: 200 })
  const external = renewed[0] as SignedExternalOwnership
  t.like(external, { peerId, application: 'shop', prefix: 'Shop', scopedInstancePath: '/vm1', generation: first?.generation })
  t.true((external.expiresAt ?? 0) > (first?.expiresAt ?? Infinity), 'the renewed external ownership expires later')
  t.deepEqual(verifyExternalOwnership(external, { senderPeerId: peerId, application: 'shop', prefix: 'Shop', instancePath: '/vm1/db', trustedDmKeys: model.mesh.trustedDmKeys }), { ok: true })
})

test('a machine exporting nothing to other applications gets no external ownership, nor with its renewals', async t => {
  const { link, models, externalRenewals } = await dmWithAgent(t, { ownershipLifetimeMs: 8_000 })
  const peerId = '12D3KooWPeerOfVm1'
  await link.send(heartbeat('shop', '/vm1', { peerId }))
  const model = await waitFor('the model', () => models[0])
  t.is(model.mesh.domain, undefined)
  await waitFor('a renewal', async () => {
    await link.send(heartbeat('shop', '/vm1', { peerId, modelRequired: false }))
    return externalRenewals.length > 0
  }, { everyMs: 200 })
  t.deepEqual(externalRenewals, [undefined])
})
