// The real engine (createAgent) over both meshes in one process: the chain reaction MySQL -> Tomcat -> Apache
// and back, with no DM process and no RabbitMQ (the test hands each agent its model, as the DM would).
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, type Agent } from '../agent/agent.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import { libp2pMeshFactory } from '../agent/mesh/libp2p.js'
import { loadOrCreatePeerIdentity } from '../agent/mesh/identity.js'
import type { MeshFactory } from '../agent/ports.js'
import { changeState, createMeshApp, type MeshAppChild } from '../fixtures/mesh-app.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'

const quietAgentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

/** Polls the agent until the instance has the status (the engine runs its actions in the background). */
async function untilStatus (agent: Agent, path: string, status: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${path} ${status}`, () => agent.instanceStatus(path) === status, { timeoutMs, state: () => agent.instanceStatus(path) })
}

type Implementation = [string, (stateDir: string) => Promise<{ factory: MeshFactory, peerId: string }>]

const hub = createMemoryMeshHub()
let memoryPeers = 0
const implementations: Implementation[] = [
  ['memory', async () => ({ factory: hub.factory({ log: silentLogger }), peerId: `memory-engine-${++memoryPeers}` })],
  ['libp2p', async stateDir => {
    const identity = await loadOrCreatePeerIdentity(stateDir)
    return { factory: libp2pMeshFactory({ stateDir, privateKey: identity.privateKey, log: silentLogger }), peerId: identity.peerId }
  }]
]

for (const [name, makeFactory] of implementations) {
  test(`${name}: the engine's chain reaction MySQL -> Tomcat -> Apache, and back when MySQL stops`, async t => {
    const dir = await mkdtemp(join(tmpdir(), 'meshconf-engine-'))
    const app = createMeshApp()
    const agents: Agent[] = []
    t.teardown(async () => {
      await Promise.all(agents.map(async a => { await a.stop() }))
      await rm(dir, { recursive: true, force: true })
    })
    const start = async (vm: string, child: MeshAppChild): Promise<Agent> => {
      const stateDir = join(dir, vm)
      const { factory, peerId } = await makeFactory(stateDir)
      const agent = createAgent({ stateDir, meshFactory: factory, log: quietAgentLog, notifier: { instanceChanged: () => {}, instanceRemoved: () => {} } })
      await agent.start()
      const bootstrap = agents.flatMap(a => a.meshAddresses())
      agents.push(agent)
      await agent.handle(app.setScopedInstance(vm, child, peerId, bootstrap))
      return agent
    }
    const apache = await start('Apache VM', 'Apache')
    const tomcat = await start('Tomcat VM 1', 'Tomcat')
    const mysql = await start('MySQL VM', 'MySQL')
    await apache.handle(changeState('Apache VM', 'Apache', 'DEPLOYED_STARTED'))
    await tomcat.handle(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
    await untilStatus(tomcat, '/Tomcat VM 1/Tomcat', 'UNRESOLVED')
    await mysql.handle(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
    await untilStatus(apache, '/Apache VM/Apache', 'DEPLOYED_STARTED')
    t.is(tomcat.instanceStatus('/Tomcat VM 1/Tomcat'), 'DEPLOYED_STARTED')
    t.deepEqual(apache.importsOf('/Apache VM/Apache').Tomcat?.map(i => i.instancePath), ['/Tomcat VM 1/Tomcat'])
    t.deepEqual(tomcat.importsOf('/Tomcat VM 1/Tomcat').MySQL?.[0].variables, { 'MySQL.ip': '127.0.0.1', 'MySQL.port': '3306' })

    await mysql.handle(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STOPPED'))
    // Tomcat withdraws its exports as it begins to stop: Apache may be UNRESOLVED before Tomcat's stop ends.
    await untilStatus(apache, '/Apache VM/Apache', 'UNRESOLVED')
    await untilStatus(tomcat, '/Tomcat VM 1/Tomcat', 'UNRESOLVED')
    t.deepEqual(tomcat.importsOf('/Tomcat VM 1/Tomcat').MySQL ?? [], [])
  })
}

test('memory: an import restored after a restart stays while its owner re-announces it, and goes when the owner is gone', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-engine-restore-'))
  const restoreHub = createMemoryMeshHub()
  const app = createMeshApp()
  const running = new Set<Agent>()
  t.teardown(async () => {
    await Promise.all([...running].map(async a => { await a.stop() }))
    await rm(dir, { recursive: true, force: true })
  })
  const factory = restoreHub.factory({ log: silentLogger, restoredGraceMs: 300 })
  const start = async (vm: string, child?: MeshAppChild): Promise<Agent> => {
    const agent = createAgent({ stateDir: join(dir, vm), meshFactory: factory, log: quietAgentLog, notifier: { instanceChanged: () => {}, instanceRemoved: () => {} } })
    await agent.start()
    running.add(agent)
    // a restarted agent has its model already (no DM)
    if (child !== undefined) await agent.handle(app.setScopedInstance(vm, child, `restore-${vm}`, []))
    return agent
  }
  const stop = async (agent: Agent): Promise<void> => { running.delete(agent); await agent.stop() }
  const mysql = await start('MySQL VM', 'MySQL')
  let tomcat = await start('Tomcat VM 1', 'Tomcat')
  await mysql.handle(changeState('MySQL VM', 'MySQL', 'DEPLOYED_STARTED'))
  await tomcat.handle(changeState('Tomcat VM 1', 'Tomcat', 'DEPLOYED_STARTED'))
  await untilStatus(tomcat, '/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED')

  // Restarted while MySQL runs: MySQL re-announces, the restored import stays past the grace.
  await stop(tomcat)
  tomcat = await start('Tomcat VM 1')
  await untilStatus(tomcat, '/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED')
  await new Promise(resolve => setTimeout(resolve, 600))
  t.is(tomcat.instanceStatus('/Tomcat VM 1/Tomcat'), 'DEPLOYED_STARTED')
  t.deepEqual(tomcat.importsOf('/Tomcat VM 1/Tomcat').MySQL?.map(i => i.instancePath), ['/MySQL VM/MySQL'])

  // Restarted after MySQL went away while it was down: nobody re-announces, the restored import goes.
  await stop(tomcat)
  await stop(mysql)
  tomcat = await start('Tomcat VM 1')
  t.deepEqual(tomcat.importsOf('/Tomcat VM 1/Tomcat').MySQL?.map(i => i.instancePath), ['/MySQL VM/MySQL'], 'restored from the saved state')
  await untilStatus(tomcat, '/Tomcat VM 1/Tomcat', 'UNRESOLVED', 5000)
  t.deepEqual(tomcat.importsOf('/Tomcat VM 1/Tomcat').MySQL ?? [], [])
})
