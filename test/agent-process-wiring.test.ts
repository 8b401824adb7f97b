// The agent process's wiring (agent/main.ts createAgentProcess) in-process, over the memory messaging and an
// in-memory mesh: heartbeats before and after the model, a model meant for another machine refused, notifications
// of the engine sent to the DM in order (after the step that made them, before any later message), machineDown when
// stopped.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgentProcess, type AgentProcess } from '../agent/main.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import { createDmSigningKey, generatePnetKey, signOwnership } from '../protocol/mesh.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import type { Component, Instance } from '../protocol/model/types.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { captureLogger } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

/** A model of `scopedInstancePath` alone, or hosting an `App` instance (logger plug-in) when `withApp`. */
function setScopedInstance (application: string, scopedInstancePath: string, peerId: string, withApp = false): DmToAgentMessage {
  const dmKey = createDmSigningKey()
  const component = (name: string, installer: string, children: string[]): Component =>
    ({ name, installer, exports: {}, randomExports: [], imports: [], facets: [], extendsChain: [], children })
  const instance = (name: string, componentName: string, path: string, children: Instance[]): Instance =>
    ({ name, component: componentName, path, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children })
  const app = instance('App', 'App', `${scopedInstancePath}/App`, [])
  return {
    v: 1,
    kind: 'setScopedInstance',
    model: {
      application,
      scopedInstancePath,
      components: { VM: component('VM', 'target', withApp ? ['App'] : []), ...(withApp ? { App: component('App', 'logger', []) } : {}) },
      instance: instance(scopedInstancePath.slice(1), 'VM', scopedInstancePath, withApp ? [app] : []),
      externalExports: {}
    },
    mesh: { bootstrapPeers: [], pnetKey: generatePnetKey(), ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath }), trustedDmKeys: [dmKey.publicKey] },
    recipes: {}
  }
}

/** The agent process of `/VM 1` over a memory DM messaging and an in-memory mesh; `heard`: what the DM received. */
async function wiredAgent (t: ExecutionContext, heartbeatPeriodMs: number): Promise<{ dm: ReturnType<typeof createMemoryMessaging>,
  heard: AgentToDmMessage[], agentProcess: AgentProcess, logger: ReturnType<typeof captureLogger> }> {
  const directory = await mkdtemp(join(tmpdir(), 'agent-wiring-'))
  const dm = createMemoryMessaging({ logger: captureLogger() })
  const heard: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { heard.push(msg) })
  await dm.start()
  const logger = captureLogger()
  const agentProcess = createAgentProcess({
    application: 'app', scopedInstancePath: '/VM 1', stateDir: join(directory, 'state'), messaging: dm.agentEndpoint({ application: 'app', scopedInstancePath: '/VM 1' }),
    ipAddress: '127.0.0.1', meshListenHost: '127.0.0.1', meshListenPort: 0, heartbeatPeriodMs
  }, { logger, meshFactory: createMemoryMeshHub().factory() })
  t.teardown(async () => {
    await agentProcess.stop()
    await dm.stop()
    await rm(directory, { recursive: true, force: true })
  })
  return { dm, heard, agentProcess, logger }
}

test('heartbeats, a foreign model refused, the own one taken, machineDown on stop', async t => {
  const { dm, heard, agentProcess, logger } = await wiredAgent(t, 100)
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

test('state reports reach the DM in the order of the changes, before the messages sent after them', async t => {
  const { dm, heard, agentProcess } = await wiredAgent(t, 60_000)
  await agentProcess.start()
  await dm.sendToAgent('app', '/VM 1', setScopedInstance('app', '/VM 1', agentProcess.peerId() ?? '', true))
  // The agent says where its mesh listens once the model is taken: after the reports of that step.
  await waitFor('the heartbeat after the model', () => heard.some(m => m.kind === 'heartbeat' && !m.modelRequired))
  const started = heard.findIndex(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1' && m.status === 'DEPLOYED_STARTED')
  t.true(started >= 0 && started < heard.findIndex(m => m.kind === 'heartbeat' && !m.modelRequired))

  await dm.sendToAgent('app', '/VM 1', { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STARTED' })
  await waitFor('App started', () => heard.some(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1/App' && m.status === 'DEPLOYED_STARTED'))
  // Stopped right after an undeployment: its reports go before machineDown.
  await agentProcess.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'NOT_DEPLOYED' })
  await agentProcess.stop()
  await waitFor('machineDown', () => heard.some(m => m.kind === 'machineDown'))
  const appStates = heard.flatMap(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1/App' ? [m.status] : [])
  t.deepEqual(appStates.slice(appStates.indexOf('DEPLOYING')),
    ['DEPLOYING', 'DEPLOYED_STOPPED', 'STARTING', 'DEPLOYED_STARTED', 'STOPPING', 'DEPLOYED_STOPPED', 'UNDEPLOYING', 'NOT_DEPLOYED'])
  t.is(heard.at(-1)?.kind, 'machineDown')
})
