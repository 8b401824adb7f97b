// The `existing` target for real: a DM assembled as `meshconf dm start` assembles it, a target of existing machines
// defined through the REST API, and the machine's agent started by the test from the params file the DM wrote, the
// way the VM's systemd unit starts it (`meshconf agent --params /etc/meshconf/agent.json`); the same params through
// `meshconf machine params`.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../common/log.js'
import test from 'ava'
import { startDmService } from '../manager/commands/dm.js'
import type { TargetHandler } from '../manager/targets/types.js'
import { runCliInProcess } from './cli-helpers.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { validateCliDocument } from './helpers/cli-schema.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

const BIN = fileURLToPath(new URL('../bin/meshconf.js', import.meta.url))

/** Every file under `folder`, recursively. */
function filesUnder (folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true }).filter(e => e.isFile()).map(e => join(e.parentPath, e.name))
}

test('existing machine: the DM writes its agent params; the agent started from them joins, deploys and starts; heartbeats make it running, across a DM restart too; undeploy forgets it', async t => {
  t.timeout(240_000)
  const dir = tempDir('dm-existing')
  const agentsPort = await freePort()
  // the endpoint listens on every interface; agents are given the address they dial (here loopback: the "VM" is a
  // process of this host), not the one the DM would derive (wss://127.0.0.1:<port>)
  const agentsUrl = `wss://127.0.0.2:${agentsPort}`
  const logged: string[] = []
  const log = { debug: () => {}, info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) }
  // the DM as its unit would start it; the same options again after a restart
  const options = {
    dataDirectory: dir.path, port: await freePort(), agentsPort, agentsHost: '0.0.0.0', agentsUrl, target: 'existing', machineSilenceMs: 8_000, log
  }
  let service = await startDmService(options)
  const agents: number[] = []
  t.teardown(async () => {
    for (const pid of agents) { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }
    await service.stop()
    dir.remove()
  })
  const rest = async (method: string, path: string, body: unknown): Promise<number> =>
    (await fetch(`${service.url}${path}`, {
      method, headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body)
    })).status

  // the operator's target: its state folder and address, as a VM of the lab would have them (the REST API knows
  // the handler: an unknown one is a 400)
  const stateDir = join(dir.path, 'vm1', 'var-lib-meshconf-agent')
  t.is(await rest('POST', '/api/targets', {
    id: 'lab', handler: 'existing', properties: { 'agent.state-dir': stateDir, 'agent.ip-address': '127.0.0.1' }
  }), 201)
  t.is(await rest('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template')) }), 201)
  t.is(await rest('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } }), 201)
  t.is(await rest('POST', '/api/applications/shop/targets', { targetId: 'lab', path: '/vm1' }), 204)
  t.is(await rest('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all', path: '/vm1' }), 202)

  // nothing starts: the DM says where the machine's params are
  const announced = await waitFor('the params file announced', () => logged.map(m => /give the machine (\S+) as \/etc\/meshconf\/agent\.json/.exec(m)?.[1]).find(f => f !== undefined))
  const instance = (path: string) => service.dm.instance('shop', path)
  const machineId = instance('/vm1').data['machine.id']
  t.is(announced, join(dir.path, 'machines', 'existing', machineId, 'agent.json'))
  t.is(statSync(announced).mode & 0o777, 0o600, 'the file holds the agent token')
  t.deepEqual(JSON.parse(readFileSync(announced, 'utf8')), {
    application: 'shop', scopedInstancePath: '/vm1', stateDir, ipAddress: '127.0.0.1',
    messaging: {
      kind: 'embedded', url: `${agentsUrl}/agents`, token: JSON.parse(readFileSync(announced, 'utf8')).messaging.token,
      dmKey: JSON.parse(readFileSync(join(dir.path, 'dm-signing-key.json'), 'utf8')).publicKey,
      // the DM's own certificate authority, which the agent pins (wss://)
      ca: readFileSync(join(dir.path, 'tls', 'ca.pem'), 'utf8')
    }
  })
  t.regex(JSON.parse(readFileSync(announced, 'utf8')).messaging.token, /^m1\.[A-Za-z0-9_-]{43}$/, 'the machine\'s own credential, first generation')
  // the operator can also fetch them from anywhere the CLI reaches the DM
  const cli = { home: dir.path }
  const dmFlags = ['--dm', service.url, '--token', service.token]
  const fetched = await runCliInProcess(['machine', 'params', 'shop', '/vm1', ...dmFlags], cli)
  t.is(fetched.exitCode, 0, fetched.stderr)
  t.deepEqual(JSON.parse(fetched.stdout), JSON.parse(readFileSync(announced, 'utf8')))
  // -o json: the CLI's document around the same params
  const document = await runCliInProcess(['machine', 'params', 'shop', '/vm1', '-o', 'json', ...dmFlags], cli)
  t.is(document.exitCode, 0, document.stderr)
  t.true(validateCliDocument(JSON.parse(document.stdout)), JSON.stringify(validateCliDocument.errors))
  t.deepEqual(JSON.parse(document.stdout), { ok: true, application: 'shop', machine: '/vm1', params: JSON.parse(readFileSync(announced, 'utf8')) })
  const notDeployed = await runCliInProcess(['machine', 'params', 'shop', '/vm2', ...dmFlags], cli)
  t.is(notDeployed.exitCode, 1)
  t.regex(notDeployed.stderr, /\/vm2 of shop has no agent params to hand over: it is not a deployed machine/)
  t.is(notDeployed.stdout, '')
  const existing = (): TargetHandler => {
    const handler = service.targets.find(h => h.id === 'existing')
    if (handler === undefined) throw new Error('no existing target handler')
    return handler
  }
  // no agent, no heartbeat within the window
  t.false(await existing().isRunning(machineId))
  t.is(instance('/vm1/db').status, 'NOT_DEPLOYED')

  // the machine boots: its unit runs the agent on the params file
  const agentLog = openSync(join(dir.path, 'agent.log'), 'a')
  const agent = spawn(process.execPath, [BIN, 'agent', '--params', announced], { detached: true, stdio: ['ignore', agentLog, agentLog] })
  closeSync(agentLog)
  agents.push(agent.pid as number)
  await waitFor('db started by the agent', () => instance('/vm1/db').status === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  t.is(instance('/vm1').status, 'DEPLOYED_STARTED')
  t.is(instance('/vm1').data['ip.address'], '127.0.0.1')
  // its recipe ran on the machine, under the state folder the target gave
  const started = filesUnder(stateDir).find(f => f.endsWith('started.txt'))
  t.truthy(started, `no started.txt under ${stateDir}`)
  t.true(await existing().isRunning(machineId))

  // the DM restarts: the machine is still running (its agent beat recently), nothing is redeployed
  await service.stop()
  service = await startDmService(options)
  t.is(instance('/vm1').data['machine.id'], machineId)
  t.true(existsSync(announced))
  t.true(await existing().isRunning(machineId))
  await waitFor('the agent back with the restarted DM', () =>
    instance('/vm1').status === 'DEPLOYED_STARTED' && instance('/vm1/db').status === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.is(agent.exitCode, null)

  // undeploy: the agent undeploys db, then the DM forgets the machine (the operator stops its agent)
  t.is(await rest('POST', '/api/applications/shop/actions', { action: 'undeploy-all', path: '/vm1' }), 202)
  await waitFor('vm1 undeployed', () => instance('/vm1').status === 'NOT_DEPLOYED', { timeoutMs: 60_000 })
  t.is(instance('/vm1/db').status, 'NOT_DEPLOYED')
  t.false(existsSync(announced))
  t.false(await existing().isRunning(machineId))
  t.true(logged.some(m => m.includes(`machine ${machineId} forgotten`)), logged.join('\n'))
  t.is((await runCliInProcess(['machine', 'params', 'shop', '/vm1', ...dmFlags], cli)).exitCode, 1)
  t.is(agent.exitCode, null, 'the DM does not stop a machine it did not start')
})

test('an existing target with an address the agent could not use fails the machine\'s creation, naming the property', async t => {
  const dir = tempDir('dm-existing-bad')
  const service = await startDmService({ dataDirectory: dir.path, port: 0, agentsPort: 0, log: silentLogger })
  t.teardown(async () => { await service.stop(); dir.remove() })
  const { dm } = service
  dm.createTarget({ id: 'lab', handler: 'existing', properties: { 'agent.ip-address': 'vm1.lab.example' } })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.associateTarget('shop', { targetId: 'lab', path: '/vm1' })
  dm.changeState('shop', '/vm1', 'DEPLOYED_STARTED')
  const problem = await waitFor('the creation refused', () => dm.instance('shop', '/vm1').data['last.problem'])
  t.regex(problem, /target lab \(existing\): property agent\.ip-address = "vm1\.lab\.example" is not an IPv4 or IPv6 address/)
  t.is(dm.instance('shop', '/vm1').status, 'NOT_DEPLOYED')
  t.false(existsSync(join(dir.path, 'machines', 'existing')), 'no params written')
})
