// An agent whose model carried no bootstrap peer (the first machine of its application, or machines started together
// while the others' meshes were still starting) is sent the application's listening agents once some listen
// (meshPeers): it joins their mesh and imports from them. The DM over its embedded WebSocket endpoint, agents in the
// test's process with real libp2p meshes on loopback.
import test from 'ava'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createAgentProcess, type AgentProcess, type MeshFactory } from '../agent/index.js'
import { startLibp2pMesh } from '../agent/mesh/libp2p.js'
import { silentLogger } from '../common/log.js'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createStore } from '../manager/store.js'
import type { TargetHandler } from '../manager/targets/types.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

/**
 * In-process agents whose libp2p mesh starts only once `meshMayStart(path)` resolves; `models` records the bootstrap
 * peers each scoped instance's model carried.
 */
function libp2pTarget (machines: string, meshMayStart: (scopedInstancePath: string) => Promise<void>): TargetHandler & {
  models: Map<string, string[]>
  close: () => Promise<void>
} {
  const agents = new Map<string, { process: AgentProcess, folder: string }>()
  const models = new Map<string, string[]>()
  return {
    id: 'in-process-libp2p',
    models,
    async create (params) {
      const folder = join(machines, params.machineName)
      const stateDir = join(folder, 'state')
      mkdirSync(folder, { recursive: true })
      const meshFactory: MeshFactory = async (model, parameters, listener) => {
        models.set(model.scopedInstancePath, [...parameters.bootstrapPeers])
        await meshMayStart(model.scopedInstancePath)
        return await startLibp2pMesh(model, parameters, listener, { stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], log: silentLogger, viewSignal: null })
      }
      const agent = createAgentProcess({
        ...params.agent, stateDir, ipAddress: '127.0.0.1', meshListenHost: '127.0.0.1', meshListenPort: 0, heartbeatPeriodMs: 200
      }, { logger: silentLogger, meshFactory })
      agents.set(params.machineName, { process: agent, folder })
      await agent.start()
      return params.machineName
    },
    isRunning: async machineId => agents.has(machineId),
    async terminate (machineId) {
      const machine = agents.get(machineId)
      agents.delete(machineId)
      await machine?.process.stop()
      if (machine !== undefined) rmSync(machine.folder, { recursive: true, force: true })
    },
    address: async machineId => agents.has(machineId) ? '127.0.0.1' : undefined,
    async close () {
      const all = [...agents.values()]
      agents.clear()
      await Promise.all(all.map(async m => { await m.process.stop() }))
    }
  }
}

test('machines whose models carried no bootstrap peer are sent the listening agents: the App joins the DB\'s mesh and imports from it', async t => {
  t.timeout(120_000)
  const dir = tempDir('dm-mesh-peers')
  // The DB's mesh starts only after the App's model has left: the App's model waited for it (a bounded time), then
  // went with no peer, as the DB's had. Before meshPeers, neither agent ever dialled the other.
  let releaseDb!: () => void
  const dbMayStart = new Promise<void>(resolve => { releaseDb = resolve })
  const target = libp2pTarget(join(dir.path, 'machines'), async path => { if (path === '/vm1') await dbMayStart })
  const { token } = loadOrCreateToken(dir.path)
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createEmbeddedMessaging({ dmToken: token, port: 0, host: '127.0.0.1' })
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: silentLogger },
    { dataDirectory: dir.path, defaultTargetHandler: target.id })
  t.teardown(async () => {
    releaseDb()
    await target.close()
    await dm.stop()
    store.close()
    dir.remove()
  })
  await dm.start()
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'peers', template: { name: 'Shop', version: '1.0' } })
  dm.action('peers', { action: 'deploy-and-start-all', path: '/vm1' })
  await waitFor('the DB\'s model', () => target.models.has('/vm1'), { timeoutMs: 60_000 })
  dm.action('peers', { action: 'deploy-and-start-all', path: '/vm2' })
  await waitFor('the App\'s model', () => target.models.has('/vm2'), { timeoutMs: 60_000 })
  t.deepEqual(target.models.get('/vm1'), [])
  t.deepEqual(target.models.get('/vm2'), [])
  releaseDb()
  await waitFor('the DB started', () => dm.instance('peers', '/vm1/db').status === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  // The App starts only once it imports the DB's ip and port, which it can hear only over a connection to the DB's agent.
  await waitFor('the App resolved the DB', () => dm.instance('peers', '/vm2/app').status === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.is(dm.instance('peers', '/vm2/app').status, 'DEPLOYED_STARTED')
})
