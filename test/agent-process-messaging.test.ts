// The compiled agent process (`npx tsc -p .` first: CI's `npm ci` builds dist/), started as a VM image would start
// it, connects to a DmMessaging, sends its heartbeat (asking for its model, with its peer id), receives only its own
// messages, runs them, and says machineDown on SIGTERM.
import test from 'ava'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa, type ResultPromise } from 'execa'
import { createDmSigningKey, generatePnetKey, signOwnership } from '../protocol/mesh.js'
import type { AgentEndpoint } from '../protocol/agent-endpoint.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import type { DmMessaging } from '../manager/messaging/types.js'
import { AMQP_URL, captureLogger, deleteAmqpNames } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MAIN = join(ROOT, 'dist', 'agent', 'main.js')
const BIN = join(ROOT, 'bin', 'meshconf.js')

function requireBuild (): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first with \`npx tsc -p .\``)
}

/** What the DM heard, per scoped instance. */
function listen (dm: DmMessaging): (path: string) => AgentToDmMessage[] {
  const heard = new Map<string, AgentToDmMessage[]>()
  dm.onAgentMessage(msg => {
    const path = msg.kind === 'heartbeat' || msg.kind === 'machineDown' || msg.kind === 'logs' ? msg.scopedInstancePath : `/${msg.instancePath.split('/')[1]}`
    if (!heard.has(path)) heard.set(path, [])
    heard.get(path)?.push(msg)
  })
  return path => heard.get(path) ?? []
}

async function writeParams (directory: string, name: string, application: string, scopedInstancePath: string, messaging: AgentEndpoint): Promise<string> {
  const file = join(directory, `${name}.json`)
  await writeFile(file, JSON.stringify({
    application, scopedInstancePath, stateDir: join(directory, name), messaging, ipAddress: '127.0.0.1',
    meshListenHost: '127.0.0.1', meshListenPort: 0, heartbeatPeriodMs: 200, logFile: join(directory, `${name}.log`)
  }))
  return file
}

function model (application: string, scopedInstancePath: string, peerId: string): DmToAgentMessage {
  const dmKey = createDmSigningKey()
  return {
    v: 1,
    kind: 'setScopedInstance',
    model: {
      application,
      scopedInstancePath,
      components: {
        VM: { name: 'VM', installer: 'target', exports: {}, randomExports: [], imports: [], facets: [], extendsChain: [], children: ['App'] },
        App: { name: 'App', installer: 'logger', exports: { 'App.port': '8080' }, randomExports: [], imports: [], facets: [], extendsChain: [], children: [] }
      },
      instance: {
        name: scopedInstancePath.slice(1), component: 'VM', path: scopedInstancePath, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED',
        children: [{ name: 'App', component: 'App', path: `${scopedInstancePath}/App`, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }]
      },
      externalExports: {}
    },
    mesh: {
      bootstrapPeers: [],
      pnetKey: generatePnetKey(),
      ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath }),
      trustedDmKeys: [dmKey.publicKey]
    },
    recipes: {}
  }
}

function lastHeartbeat (messages: AgentToDmMessage[]): Extract<AgentToDmMessage, { kind: 'heartbeat' }> | undefined {
  return messages.filter(m => m.kind === 'heartbeat').at(-1) as Extract<AgentToDmMessage, { kind: 'heartbeat' }> | undefined
}

async function stopped (child: ResultPromise): Promise<number | undefined> {
  child.kill('SIGTERM')
  return (await child).exitCode
}

test('agent processes (dist/agent/main.js) over the embedded messaging: heartbeats, own messages only, machineDown', async t => {
  requireBuild()
  const directory = await mkdtemp(join(tmpdir(), 'agent-process-'))
  const dm = createDmMessaging({ kind: 'embedded', port: 0, dmToken: randomUUID() }, { logger: captureLogger() })
  const heard = listen(dm)
  await dm.start()
  const application = `process ${randomUUID().slice(0, 6)}`
  const children: ResultPromise[] = []
  t.teardown(async () => {
    for (const child of children) child.kill('SIGKILL')
    await Promise.allSettled(children)
    await dm.stop()
    await rm(directory, { recursive: true, force: true })
  })
  for (const path of ['/VM 1', '/VM 2']) {
    await dm.prepareAgent(application, path)
    const params = await writeParams(directory, path.slice(1).replace(' ', '-'), application, path, dm.agentEndpoint({ application, scopedInstancePath: path }))
    children.push(execa('node', [MAIN, '--params', params], { reject: false, all: true }))
  }

  await waitFor('a heartbeat from each agent', () => lastHeartbeat(heard('/VM 1')) !== undefined && lastHeartbeat(heard('/VM 2')) !== undefined, { timeoutMs: 60_000 })
  const first = lastHeartbeat(heard('/VM 1'))
  t.like(first, { application, scopedInstancePath: '/VM 1', ipAddress: '127.0.0.1', modelRequired: true })
  t.regex(first?.peerId ?? '', /^12D3KooW/)
  t.not(lastHeartbeat(heard('/VM 2'))?.peerId, first?.peerId)

  await dm.sendToAgent(application, '/VM 1', model(application, '/VM 1', first?.peerId ?? ''))
  // the heartbeat sent once the model is taken carries the addresses of the mesh it started
  await waitFor('/VM 1 to have its model and its mesh', () => {
    const beat = lastHeartbeat(heard('/VM 1'))
    return beat?.modelRequired === false && (beat.listenAddresses ?? []).length > 0
  }, { timeoutMs: 60_000 })
  t.true((lastHeartbeat(heard('/VM 1'))?.listenAddresses ?? []).every(a => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes(`/p2p/${first?.peerId ?? ''}`)),
    (lastHeartbeat(heard('/VM 1'))?.listenAddresses ?? []).join(' '))
  await dm.sendToAgent(application, '/VM 1', { v: 1, kind: 'changeState', instancePath: '/VM 1/App', newState: 'DEPLOYED_STARTED' })
  await waitFor('App started', () => heard('/VM 1').some(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1/App' && m.status === 'DEPLOYED_STARTED'), { timeoutMs: 60_000 })

  // /VM 2 received none of it: still asking for its model, and no instance of its own changed
  const heartbeatsOf2 = heard('/VM 2').length
  await waitFor('a later heartbeat from /VM 2', () => heard('/VM 2').length > heartbeatsOf2 + 1)
  t.true(heard('/VM 2').every(m => m.kind === 'heartbeat' && m.modelRequired && m.scopedInstancePath === '/VM 2'))

  const exitCodes = await Promise.all(children.map(stopped))
  t.deepEqual(exitCodes, [0, 0])
  await waitFor('machineDown from both', () => ['/VM 1', '/VM 2'].every(p => heard(p).at(-1)?.kind === 'machineDown'))
  t.is(dm.metrics().rejected, 0)
  // the params' logFile got the agent's log as well: JSON lines, each with the application and an instance path (the
  // instance a line is about, else the agent's machine)
  const log = (await readFile(join(directory, 'VM-1.log'), 'utf8')).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>)
  t.true(log.every(entry => entry.component === 'agent' && entry.application === application && typeof entry.path === 'string'), JSON.stringify(log))
  t.like(log.find(entry => /^agent of \/VM 1 \(.*\) connected to the DM \(embedded\), peer 12D3KooW/.test(String(entry.msg))), { level: 30, path: '/VM 1' })
  t.like(log.find(entry => String(entry.msg).startsWith('[/VM 1/App] logger plug-in: start')), { level: 30, path: '/VM 1/App' })
  t.like(log.at(-1), { msg: 'agent stopped', path: '/VM 1' })
})

test('`meshconf agent --params FILE` over RabbitMQ: heartbeat, model, machineDown on SIGTERM, restart from its state', async t => {
  requireBuild()
  const directory = await mkdtemp(join(tmpdir(), 'agent-process-'))
  const domain = `meshconf-test-${randomUUID().slice(0, 8)}`
  const application = `process ${randomUUID().slice(0, 6)}`
  const dm = createDmMessaging({ kind: 'amqp', url: AMQP_URL, domain }, { logger: captureLogger() })
  const heard = listen(dm)
  await dm.start()
  await dm.prepareAgent(application, '/VM 1')
  // The machine's own broker user, as the DM makes it before creating a machine.
  await dm.provisionAgent?.({ application, scopedInstancePath: '/VM 1' })
  const params = await writeParams(directory, 'vm1', application, '/VM 1', dm.agentEndpoint({ application, scopedInstancePath: '/VM 1' }))
  const children: ResultPromise[] = []
  const startAgent = (): ResultPromise => {
    const child = execa('node', [BIN, 'agent', '--params', params], { reject: false, all: true })
    children.push(child)
    return child
  }
  t.teardown(async () => {
    for (const child of children) child.kill('SIGKILL')
    await Promise.allSettled(children)
    await dm.stop()
    await deleteAmqpNames(AMQP_URL, domain, [[application, '/VM 1']])
    await rm(directory, { recursive: true, force: true })
  })

  const first = startAgent()
  await waitFor('a heartbeat', () => lastHeartbeat(heard('/VM 1')) !== undefined, { timeoutMs: 60_000 })
  const peerId = lastHeartbeat(heard('/VM 1'))?.peerId ?? ''
  await dm.sendToAgent(application, '/VM 1', model(application, '/VM 1', peerId))
  await waitFor('the model taken', () => lastHeartbeat(heard('/VM 1'))?.modelRequired === false, { timeoutMs: 60_000 })
  await waitFor('the scoped instance reported started',
    () => heard('/VM 1').some(m => m.kind === 'instanceChanged' && m.instancePath === '/VM 1' && m.status === 'DEPLOYED_STARTED'), { timeoutMs: 60_000 })

  t.is(await stopped(first), 0)
  await waitFor('machineDown', () => heard('/VM 1').at(-1)?.kind === 'machineDown')
  t.regex(String((await first).all), /SIGTERM received: stopping the agent/)

  // Started again (machine rebooted): same peer id, model restored from its state folder, no model asked for.
  const heardBefore = heard('/VM 1').length
  const second = startAgent()
  await waitFor('a heartbeat after the restart', () => heard('/VM 1').slice(heardBefore).some(m => m.kind === 'heartbeat'), { timeoutMs: 60_000 })
  const again = heard('/VM 1').slice(heardBefore).find(m => m.kind === 'heartbeat')
  t.like(again, { kind: 'heartbeat', modelRequired: false, peerId })
  t.is(await stopped(second), 0)
})

test('the agent process refuses bad params with a clear error and exit code', async t => {
  requireBuild()
  const directory = await mkdtemp(join(tmpdir(), 'agent-process-'))
  t.teardown(async () => { await rm(directory, { recursive: true, force: true }) })
  const file = join(directory, 'params.json')
  await writeFile(file, JSON.stringify({ application: 'a', scopedInstancePath: '/VM', stateDir: directory, messaging: { kind: 'embedded', url: 'ws://127.0.0.1:1/agents' } }))
  const missingToken = await execa('node', [MAIN, '--params', file], { reject: false })
  t.is(missingToken.exitCode, 1)
  t.regex(missingToken.stderr, /params\.json, field "messaging\.token": expected a string/)

  const noParams = await execa('node', [MAIN], { reject: false })
  t.is(noParams.exitCode, 2)
  t.regex(noParams.stderr, /missing --params/)

  const unreadable = await execa('node', [BIN, 'agent', '--params', join(directory, 'nowhere.json')], { reject: false })
  t.is(unreadable.exitCode, 1)
  t.regex(unreadable.stderr, /nowhere\.json: cannot be read/)

  // a wrong token: the DM refuses it, the agent says why and exits instead of retrying forever
  const dm = createDmMessaging({ kind: 'embedded', port: 0, dmToken: randomUUID() }, { logger: captureLogger() })
  await dm.start()
  t.teardown(async () => { await dm.stop() })
  const endpoint = dm.agentEndpoint({ application: 'a', scopedInstancePath: '/VM' })
  await writeFile(file, JSON.stringify({ application: 'a', scopedInstancePath: '/VM', stateDir: join(directory, 'state'), messaging: { ...endpoint, token: 'wrong' } }))
  const refused = await execa('node', [MAIN, '--params', file], { reject: false, timeout: 60_000 })
  t.is(refused.exitCode, 1)
  t.regex(refused.stderr, /refused the agent \(4401/)
})
