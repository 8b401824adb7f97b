// The Agent service as the DM link and the mesh drive it: setScopedInstance, resendStates, resynchronize, bad
// messages; two agents joined by the in-memory mesh resolve each other's imports with no DM.
import test from 'ava'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createAgent } from '../agent/agent.js'
import { createMemoryMeshHub } from '../agent/mesh/memory.js'
import type { DmToAgentMessage, MeshParameters } from '../protocol/messages.js'
import { OWNERSHIP_CLOCK_SKEW_MS, createDmSigningKey, generatePnetKey, signOwnership } from '../protocol/mesh.js'
import {
  instance, lampComponents, MESH_PARAMETERS, recorded, recordingRecipes, RecordingLogger, RecordingNotifier,
  RecordingPublisher, scopedModel, startTestAgent, temporaryDir
} from './lifecycle-fixtures.js'
import { waitFor } from './helpers/wait.js'
import { silentLogger } from '../common/log.js'

test('setScopedInstance: model and recipes saved, scoped instance DEPLOYED_STARTED, exports published, imports requested', async t => {
  const stateDir = await temporaryDir(t, 'state')
  const notifier = new RecordingNotifier()
  const publisher = new RecordingPublisher()
  const agent = createAgent({ stateDir, notifier, publisher, log: new RecordingLogger() }, { ipAddress: '10.0.0.9' })
  await agent.start()
  t.teardown(() => agent.stop())
  t.true(agent.modelRequired())
  t.is(agent.identity(), undefined)
  const root = instance('/VM', 'VM', [instance('/VM/Tomcat', 'Tomcat')])
  root.children[0].status = 'DEPLOYED_STARTED' // whatever the DM believes, nothing runs here yet
  await agent.handle({
    v: 1, kind: 'setScopedInstance', model: scopedModel(root, lampComponents()), mesh: MESH_PARAMETERS,
    recipes: recordingRecipes('/nowhere', ['Tomcat'])
  })
  t.false(agent.modelRequired())
  t.deepEqual(agent.identity(), { application: 'app', scopedInstancePath: '/VM' })
  t.is(agent.instanceStatus('/VM'), 'DEPLOYED_STARTED')
  t.is(agent.instanceStatus('/VM/Tomcat'), 'NOT_DEPLOYED')
  t.deepEqual(notifier.statuses('/VM'), ['DEPLOYED_STARTED', 'DEPLOYED_STARTED'])
  t.deepEqual(notifier.statuses('/VM/Tomcat'), ['NOT_DEPLOYED'])
  t.deepEqual(publisher.calls, [
    { call: 'announce', path: '/VM', component: 'VM', variables: { 'VM.ip': '10.0.0.9' } },
    { call: 'setInterests', prefixes: ['MySQL'] },
    { call: 'request', prefixes: ['MySQL'] }
  ])
  t.true(existsSync(join(stateDir, 'agent-state.json')))
  t.true(existsSync(join(stateDir, 'recipes', 'Tomcat.json')))
  t.deepEqual(agent.meshAddresses(), [])

  // Only the first model is used.
  await agent.handle({
    v: 1, kind: 'setScopedInstance', model: scopedModel(instance('/Other', 'VM'), lampComponents()), mesh: MESH_PARAMETERS, recipes: {}
  })
  t.deepEqual(agent.identity(), { application: 'app', scopedInstancePath: '/VM' })
})

test('resendStates re-reports every instance; resynchronize re-announces the started ones', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  a.notifier.clear()
  a.publisher.calls.length = 0
  await a.agent.handle({ v: 1, kind: 'resendStates' })
  t.deepEqual(a.notifier.changes.map(c => `${c.path} ${c.status}`), [
    '/VM DEPLOYED_STARTED', '/VM/MySQL DEPLOYED_STARTED', '/VM/Tomcat DEPLOYED_STOPPED', '/VM/Tomcat/War NOT_DEPLOYED',
    '/VM/Apache NOT_DEPLOYED'])
  await a.agent.handle({ v: 1, kind: 'resynchronize' })
  t.deepEqual(a.publisher.of('announce').map(c => c.path), ['/VM', '/VM/MySQL'])
})

test('bad messages are logged with a clear error and change nothing', async t => {
  const a = await startTestAgent(t)
  const bad: unknown[] = [
    { v: 2, kind: 'resendStates' },
    { v: 1, kind: 'explode' },
    { v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'RUNNING' },
    { v: 1, kind: 'changeState', instancePath: '/VM/Nope', newState: 'DEPLOYED_STARTED' },
    { v: 1, kind: 'removeInstance', instancePath: '/VM/Nope' },
    null
  ]
  for (const message of bad) await a.agent.handle(message as DmToAgentMessage)
  await a.agent.settled()
  const errors = a.log.lines.filter(l => l.startsWith('ERROR'))
  t.is(errors.length, bad.length)
  t.regex(errors[0], /invalid DM message: version 2, expected 1/)
  t.regex(errors[1], /unknown kind "explode"/)
  t.regex(errors[2], /unknown state "RUNNING"/)
  t.regex(errors[3], /instance "\/VM\/Nope" is not in this agent's model/)
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'NOT_DEPLOYED')

  // A model naming a component its graph lacks is refused; the agent keeps asking for a model.
  const refusing = createAgent({ stateDir: await temporaryDir(t, 'refusing'), notifier: new RecordingNotifier(), log: a.log })
  await refusing.handle({
    v: 1, kind: 'setScopedInstance', mesh: MESH_PARAMETERS, recipes: {},
    model: scopedModel(instance('/VM', 'VM', [instance('/VM/Ghost', 'Ghost')]), lampComponents())
  })
  t.true(refusing.modelRequired())
  t.regex(a.log.lines.at(-1) ?? '', /setScopedInstance not applied: instance "\/VM\/Ghost" cannot be added: component "Ghost" is not in the application's graph/)

  // Before the model, commands are refused the same way.
  const early = createAgent({ stateDir: await temporaryDir(t, 'early'), notifier: new RecordingNotifier(), log: a.log })
  await early.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STARTED' })
  t.regex(a.log.lines.at(-1) ?? '', /changeState before the model/)
})

function meshParameters (dmKey: ReturnType<typeof createDmSigningKey>, pnetKey: string, peerId: string, scopedInstancePath: string): MeshParameters {
  return {
    bootstrapPeers: [],
    pnetKey,
    ownership: signOwnership(dmKey, { peerId, application: 'app', scopedInstancePath }),
    trustedDmKeys: [dmKey.publicKey]
  }
}

test('two agents on the in-memory mesh: Tomcat starts when the other machine\'s MySQL starts, goes UNRESOLVED when it stops', async t => {
  const hub = createMemoryMeshHub()
  const dmKey = createDmSigningKey()
  const pnetKey = generatePnetKey()
  const recordDir = await temporaryDir(t, 'record')
  const start = async (vm: string, child: string): Promise<ReturnType<typeof createAgent>> => {
    const agent = createAgent({
      stateDir: await temporaryDir(t, 'state'), notifier: new RecordingNotifier(), log: new RecordingLogger(),
      meshFactory: hub.factory({ log: silentLogger })
    }, { ipAddress: vm === '/VM 1' ? '10.0.0.1' : '10.0.0.2' })
    await agent.start()
    t.teardown(() => agent.stop())
    await agent.handle({
      v: 1, kind: 'setScopedInstance',
      model: scopedModel(instance(vm, 'VM', [instance(`${vm}/${child}`, child)]), lampComponents()),
      mesh: meshParameters(dmKey, pnetKey, `peer-${vm.slice(4)}`, vm),
      recipes: recordingRecipes(recordDir, [child])
    })
    return agent
  }
  const db = await start('/VM 1', 'MySQL')
  const app = await start('/VM 2', 'Tomcat')
  t.deepEqual(app.meshAddresses(), ['/memory/peer-2'])
  await app.handle({ v: 1, kind: 'changeState', instancePath: '/VM 2/Tomcat', newState: 'DEPLOYED_STARTED' })
  await waitFor('Tomcat UNRESOLVED', () => app.instanceStatus('/VM 2/Tomcat') === 'UNRESOLVED')
  await db.handle({ v: 1, kind: 'changeState', instancePath: '/VM 1/MySQL', newState: 'DEPLOYED_STARTED' })
  await waitFor('Tomcat started through the mesh', () => app.instanceStatus('/VM 2/Tomcat') === 'DEPLOYED_STARTED')
  t.deepEqual(app.importsOf('/VM 2/Tomcat').MySQL.map(i => i.variables), [{ 'MySQL.ip': '10.0.0.1', 'MySQL.port': '3306' }])
  await db.handle({ v: 1, kind: 'changeState', instancePath: '/VM 1/MySQL', newState: 'DEPLOYED_STOPPED' })
  await waitFor('Tomcat UNRESOLVED again', () => app.instanceStatus('/VM 2/Tomcat') === 'UNRESOLVED')
  await app.settled()
  t.deepEqual((await recorded(recordDir)).filter(l => l.includes('Tomcat')),
    ['deploy /VM 2/Tomcat', 'start /VM 2/Tomcat', 'stop /VM 2/Tomcat'])
})

test('an expired ownership is refused by importers; once the DM renews it, the owner announces again and the importer starts', async t => {
  const hub = createMemoryMeshHub()
  const dmKey = createDmSigningKey()
  const pnetKey = generatePnetKey()
  const recordDir = await temporaryDir(t, 'record')
  // Past its expiry by more than the clock skew an importer allows: what an agent cut off from its DM would hold.
  const expiredAt = Date.now() - OWNERSHIP_CLOCK_SKEW_MS - 60_000
  const start = async (vm: string, child: string, expiresAt?: number): Promise<ReturnType<typeof createAgent>> => {
    const agent = createAgent({
      stateDir: await temporaryDir(t, 'state'), notifier: new RecordingNotifier(), log: new RecordingLogger(),
      meshFactory: hub.factory({ log: silentLogger })
    }, { ipAddress: vm === '/VM 1' ? '10.0.0.1' : '10.0.0.2' })
    await agent.start()
    t.teardown(() => agent.stop())
    const mesh = meshParameters(dmKey, pnetKey, `peer-${vm.slice(4)}`, vm)
    await agent.handle({
      v: 1, kind: 'setScopedInstance',
      model: scopedModel(instance(vm, 'VM', [instance(`${vm}/${child}`, child)]), lampComponents()),
      mesh: expiresAt === undefined ? mesh : { ...mesh, ownership: signOwnership(dmKey, { peerId: 'peer-1', application: 'app', scopedInstancePath: vm, expiresAt }) },
      recipes: recordingRecipes(recordDir, [child])
    })
    return agent
  }
  const db = await start('/VM 1', 'MySQL', expiredAt)
  const app = await start('/VM 2', 'Tomcat')
  await db.handle({ v: 1, kind: 'changeState', instancePath: '/VM 1/MySQL', newState: 'DEPLOYED_STARTED' })
  await app.handle({ v: 1, kind: 'changeState', instancePath: '/VM 2/Tomcat', newState: 'DEPLOYED_STARTED' })
  const tomcatMesh = hub.meshes.get('peer-2')
  await waitFor('MySQL\'s announce refused as expired', () => (tomcatMesh?.rejections().expired ?? 0) > 0, { state: () => tomcatMesh?.rejections() })
  t.is(app.instanceStatus('/VM 2/Tomcat'), 'UNRESOLVED')
  // Another agent's ownership, or one of another peer, is no renewal: refused, nothing changes.
  const stranger = signOwnership(dmKey, { peerId: 'peer-9', application: 'app', scopedInstancePath: '/VM 1' })
  const log = new RecordingLogger()
  const checked = createAgent({ stateDir: await temporaryDir(t, 'checked'), notifier: new RecordingNotifier(), log })
  t.teardown(() => checked.stop())
  await checked.start()
  await checked.handle({ v: 1, kind: 'renewOwnership', ownership: stranger })
  t.regex(log.lines.at(-1) ?? '', /renewOwnership before the model/)
  await db.handle({ v: 1, kind: 'renewOwnership', ownership: stranger })
  t.is(hub.meshes.get('peer-1')?.view().ownershipExpiresAt, expiredAt)
  // The DM's renewal: the owner re-announces under it, and Tomcat gets its database.
  const renewed = signOwnership(dmKey, { peerId: 'peer-1', application: 'app', scopedInstancePath: '/VM 1' })
  await db.handle({ v: 1, kind: 'renewOwnership', ownership: renewed })
  t.is(hub.meshes.get('peer-1')?.view().ownershipExpiresAt, renewed.expiresAt)
  await waitFor('Tomcat started through the mesh', () => app.instanceStatus('/VM 2/Tomcat') === 'DEPLOYED_STARTED')
  t.deepEqual(app.importsOf('/VM 2/Tomcat').MySQL.map(i => i.variables), [{ 'MySQL.ip': '10.0.0.1', 'MySQL.port': '3306' }])
})
