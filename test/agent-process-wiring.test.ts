// The agent process's wiring (agent/main.ts createAgentProcess) in-process, over the memory messaging and an
// in-memory mesh: heartbeats before and after the model, a model meant for another machine refused, notifications
// of the engine sent to the DM, machineDown when stopped.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgentProcess } from '../agent/main.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import { createDmSigningKey, generatePnetKey, signOwnership } from '../protocol/mesh.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { captureLogger, waitFor } from './messaging-helpers.js'

function setScopedInstance (application: string, scopedInstancePath: string, peerId: string): DmToAgentMessage {
  const dmKey = createDmSigningKey()
  return {
    v: 1,
    kind: 'setScopedInstance',
    model: {
      application,
      scopedInstancePath,
      components: { VM: { name: 'VM', installer: 'target', exports: {}, randomExports: [], imports: [], facets: [], extendsChain: [], children: [] } },
      instance: { name: scopedInstancePath.slice(1), component: 'VM', path: scopedInstancePath, overriddenExports: {}, data: {}, channels: [], children: [] },
      externalExports: {}
    },
    mesh: { bootstrapPeers: [], pnetKey: generatePnetKey(), ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath }), trustedDmKeys: [dmKey.publicKey] },
    recipes: {}
  }
}

test('heartbeats, a foreign model refused, the own one taken, machineDown on stop', async t => {
  const directory = await mkdtemp(join(tmpdir(), 'agent-wiring-'))
  const dm = createMemoryMessaging({ logger: captureLogger() })
  const heard: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { heard.push(msg) })
  await dm.start()
  const logger = captureLogger()
  const agentProcess = createAgentProcess({
    application: 'app', scopedInstancePath: '/VM 1', stateDir: join(directory, 'state'), messaging: dm.agentEndpoint('app'),
    ipAddress: '127.0.0.1', meshListenHost: '127.0.0.1', meshListenPort: 0, heartbeatPeriodMs: 100
  }, { logger, meshFactory: createMemoryMeshHub().factory() })
  t.teardown(async () => {
    await agentProcess.stop()
    await dm.stop()
    await rm(directory, { recursive: true, force: true })
  })
  await agentProcess.start()
  await waitFor('two heartbeats', () => heard.filter(m => m.kind === 'heartbeat').length >= 2)
  t.like(heard[0], { kind: 'heartbeat', application: 'app', scopedInstancePath: '/VM 1', ipAddress: '127.0.0.1', modelRequired: true, peerId: agentProcess.peerId() })

  // Misrouted: a model for /VM 2 reaches /VM 1's queue.
  await dm.sendToAgent('app', '/VM 1', setScopedInstance('app', '/VM 2', agentProcess.peerId() ?? ''))
  await waitFor('the refusal', () => logger.lines.some(line => line.startsWith('error refused a model for /VM 2 (app)')))
  t.true(agentProcess.agent.modelRequired())

  await dm.sendToAgent('app', '/VM 1', setScopedInstance('app', '/VM 1', agentProcess.peerId() ?? ''))
  await waitFor('the model taken', () => heard.some(m => m.kind === 'heartbeat' && !m.modelRequired))
  await waitFor('the scoped instance reported started',
    () => heard.some(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1' && m.status === 'DEPLOYED_STARTED'))
  t.false(agentProcess.agent.modelRequired())

  await agentProcess.stop()
  await waitFor('machineDown', () => heard.at(-1)?.kind === 'machineDown')
  const count = heard.length
  await new Promise(resolve => setTimeout(resolve, 300))
  t.is(heard.length, count, 'no heartbeat after stop')
})
