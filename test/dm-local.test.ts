// The local target for real: agent processes (sources through tsx) over the DM's embedded WebSocket endpoint.
// A hung machine (SIGSTOP) goes to PROBLEM after the configured silence and comes back when it beats again;
// a killed agent is seen as not running; undeploying terminates the process and removes its folder.
import test from 'ava'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createStore } from '../manager/store.js'
import { createLocalTarget } from '../manager/targets/local.js'
import { agentCommandFromSources, tempDir, writeShopTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

test('a hung agent goes to PROBLEM and back; a killed one is not running; undeploy cleans up', async t => {
  t.timeout(240_000)
  const dir = tempDir('dm-local')
  const { token } = loadOrCreateToken(dir.path)
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createEmbeddedMessaging({ dmToken: token, port: 0 })
  const machines = join(dir.path, 'machines')
  const target = createLocalTarget({ machinesDirectory: machines, agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 300 })
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet },
    { dataDirectory: dir.path, machineSilenceMs: 3_000, heartbeatCheckIntervalMs: 200 })
  const pids: number[] = []
  t.teardown(async () => {
    for (const pid of pids) { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }
    await dm.stop()
    store.close()
    dir.remove()
  })
  await dm.start()
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'local', template: { name: 'Shop', version: '1.0' } })
  dm.action('local', { action: 'deploy-and-start-all', path: '/vm1' })
  await waitFor('db started', () => dm.instance('local', '/vm1/db').status === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  const machineId = dm.instance('local', '/vm1').data['machine.id']
  const folder = join(machines, machineId)
  const { pid } = JSON.parse(readFileSync(join(folder, 'pid'), 'utf8')) as { pid: number }
  pids.push(pid)
  t.true(await target.isRunning(machineId))
  // the agent got its own state folder and the params the agent reads
  const params = JSON.parse(readFileSync(join(folder, 'params.json'), 'utf8'))
  t.like(params, { application: 'local', scopedInstancePath: '/vm1', stateDir: join(folder, 'state'), messaging: { kind: 'embedded' } })
  t.true(existsSync(join(folder, 'state')))

  // hung: no heartbeat for longer than the configured silence
  process.kill(-pid, 'SIGSTOP')
  await waitFor('PROBLEM', () => dm.instance('local', '/vm1').status === 'PROBLEM', { timeoutMs: 60_000 })
  t.regex(dm.instance('local', '/vm1').data['last.problem'], /no heartbeat/)
  process.kill(-pid, 'SIGCONT')
  await waitFor('back', () => dm.instance('local', '/vm1').status === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.false('last.problem' in dm.instance('local', '/vm1').data)

  // killed behind the DM's back: the target no longer sees it running, and the silence makes it PROBLEM
  process.kill(-pid, 'SIGKILL')
  await waitFor('not running', async () => !(await target.isRunning(machineId)))
  await waitFor('PROBLEM again', () => dm.instance('local', '/vm1').status === 'PROBLEM', { timeoutMs: 60_000 })
  // a PROBLEM machine can be undeployed, and redeployed
  dm.changeState('local', '/vm1', 'NOT_DEPLOYED')
  await waitFor('undeployed', () => dm.instance('local', '/vm1').status === 'NOT_DEPLOYED')
  t.false(existsSync(folder))
  dm.changeState('local', '/vm1', 'DEPLOYED_STARTED')
  await waitFor('redeployed', () => dm.instance('local', '/vm1').status === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  const again = dm.instance('local', '/vm1').data['machine.id']
  t.not(again, machineId)
  pids.push((JSON.parse(readFileSync(join(machines, again, 'pid'), 'utf8')) as { pid: number }).pid)
  dm.changeState('local', '/vm1', 'NOT_DEPLOYED')
  await waitFor('undeployed again', () => dm.instance('local', '/vm1').status === 'NOT_DEPLOYED', { timeoutMs: 60_000 })
  t.false(await target.isRunning(again))
})

test('an agent whose pid file was never written (the DM killed right after spawning it) is still found, and stopped', async t => {
  const dir = tempDir('local-orphan')
  t.teardown(() => dir.remove())
  // a stand-in for the agent process: it only has to live and carry `--params <file>` on its command line
  const target = createLocalTarget({ machinesDirectory: dir.path, agentCommand: [process.execPath, '-e', 'setInterval(() => {}, 1000)', '--'] })
  const machineId = await target.create({
    target: { id: 'default', handler: 'local', properties: {} }, machineName: 'shop_vm1-orphan',
    agent: { application: 'shop', scopedInstancePath: '/vm1', messaging: { kind: 'embedded', url: 'ws://127.0.0.1:1', token: 't' } }
  })
  const pidFile = join(dir.path, machineId, 'pid')
  const { pid } = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }
  rmSync(pidFile)
  t.true(await target.isRunning(machineId))
  t.is((JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid, pid)
  rmSync(pidFile)
  await target.terminate(machineId)
  // gone, or a zombie until this process (its parent here) reaps it
  t.true(!existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')))
  t.false(await target.isRunning(machineId))
})
