// The DM signs a machine's ownership for the peer id its agent reports: an agent that asks for its model without
// one gets it only once a heartbeat names its peer (never an ownership signed for an empty peer id, which every
// importer would reject). The test plays the operator who boots the machine and its agent (a real link over the
// DM's in-memory messaging), as with the `existing` target.
import test from 'ava'
import { join } from 'node:path'
import { createAgentLink } from '../agent/link/index.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createStore } from '../manager/store.js'
import type { MachineParameters, TargetHandler } from '../manager/targets/types.js'
import type { DmToAgentMessage } from '../protocol/messages.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { captureLogger, heartbeat } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

test('the DM hands out an ownership only for the peer id a heartbeat names', async t => {
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
    { dataDirectory: dir.path, defaultTargetHandler: 'operator' })
  await dm.start()
  const links: Array<ReturnType<typeof createAgentLink>> = []
  t.teardown(async () => {
    await Promise.all(links.map(async link => { await link.stop() }))
    await dm.stop()
    store.close()
    dir.remove()
  })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.action('shop', { action: 'deploy-and-start-all', path: '/vm1' })
  const machine = await waitFor('the machine of /vm1', () => booted.find(p => p.agent.scopedInstancePath === '/vm1'))

  const link = createAgentLink({ endpoint: machine.agent.messaging, application: 'shop', scopedInstancePath: '/vm1', logger: captureLogger() })
  links.push(link)
  const models: Array<Extract<DmToAgentMessage, { kind: 'setScopedInstance' }>> = []
  link.onMessage(async msg => { if (msg.kind === 'setScopedInstance') models.push(msg) })
  await link.start()
  await link.send(heartbeat('shop', '/vm1'))
  await waitFor('the DM\'s warning', () => log.lines.some(line => line.includes('the agent of /vm1 (shop) asks for its model without its peer id')))
  await link.send(heartbeat('shop', '/vm1', { peerId: '12D3KooWPeerOfVm1' }))
  await waitFor('the model', () => models.length > 0)
  t.deepEqual(models.map(m => m.mesh.ownership.peerId), ['12D3KooWPeerOfVm1'])
})
