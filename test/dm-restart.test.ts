// The DM as its own process with the local target (agent processes) and the embedded messaging: killed with
// SIGKILL in the middle of a deployment and restarted, it loses nothing; a machine killed while the DM was down is
// shown NOT_DEPLOYED after the restart, the others keep their states.
import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { agentCommandFromSources, freePort, statuses, tempDir, waitFor, writeShopTemplate } from './dm-helpers.js'

interface RunningDm { child: ChildProcess, url: string, token: string }

async function startDm (options: object): Promise<RunningDm> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test', 'dm-process-fixture.ts'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', code => reject(new Error(`the DM exited with ${code} before listening`)))
  })
  const { url, token } = JSON.parse(first) as { url: string, token: string }
  return { child, url, token }
}

async function kill9 (dm: RunningDm): Promise<void> {
  if (dm.child.exitCode !== null) return
  const exited = new Promise(resolve => dm.child.once('exit', resolve))
  dm.child.kill('SIGKILL')
  await exited
}

async function stopDm (dm: RunningDm): Promise<void> {
  if (dm.child.exitCode !== null) return
  const exited = new Promise(resolve => dm.child.once('exit', resolve))
  dm.child.kill('SIGTERM')
  await exited
}

function client (dm: RunningDm) {
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(dm.url + path, {
      method,
      headers: { authorization: `Bearer ${dm.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined
    })
    const text = await response.text()
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text}`)
    return text.length > 0 ? JSON.parse(text) : undefined
  }
}

/** Agent processes of the local target, by machine folder: pid and whether it runs. */
function localAgents (dataDirectory: string): Array<{ machine: string, pid: number, alive: boolean }> {
  const folder = join(dataDirectory, 'machines', 'local')
  if (!existsSync(folder)) return []
  return readdirSync(folder).filter(m => existsSync(join(folder, m, 'pid'))).map(machine => {
    const { pid } = JSON.parse(readFileSync(join(folder, machine, 'pid'), 'utf8')) as { pid: number }
    let alive = true
    try { process.kill(pid, 0) } catch { alive = false }
    return { machine, pid, alive }
  })
}

function killAgents (dataDirectory: string): void {
  for (const agent of localAgents(dataDirectory)) {
    try { process.kill(-agent.pid, 'SIGKILL') } catch { /* gone */ }
  }
}

const INSTANCES = [
  'instance of VM {', '  name: vm1;', '  instance of DB {', '    name: db;', '  }', '}',
  'instance of VM {', '  name: vm2;', '  instance of App {', '    name: app;', '  }', '}',
  'instance of VM {', '  name: vm3;', '  instance of App {', '    name: app;', '  }', '}', ''
].join('\n')

test('the DM killed -9 mid-deploy and restarted: every machine ends up started once, nothing lost', async t => {
  t.timeout(300_000) // a dozen processes started through tsx on a shared machine
  const dir = tempDir('dm-restart')
  const agentsPort = await freePort()
  const options = {
    dataDirectory: join(dir.path, 'data'), port: 0, agentsPort, target: 'local',
    agentCommand: agentCommandFromSources(), machineSilenceMs: 120_000
  }
  let dm = await startDm(options)
  t.teardown(async () => { await kill9(dm); killAgents(options.dataDirectory); dir.remove() })
  let call = client(dm)
  await call('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template'), { instances: INSTANCES }) })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  // mid-deploy: machines requested, agents not all up yet
  await waitFor('a machine being created', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).includes('DEPLOYING'))
  const before = statuses(await call('GET', '/api/applications/shop/instances'))
  t.false(Object.values(before).every(s => s === 'DEPLOYED_STARTED'))
  await kill9(dm)

  dm = await startDm(options)
  call = client(dm)
  const after = await waitFor('every instance started after the restart', async () => {
    const s = statuses(await call('GET', '/api/applications/shop/instances'))
    return Object.values(s).every(v => v === 'DEPLOYED_STARTED') ? s : undefined
  }, 90_000)
  t.deepEqual(Object.keys(after).sort(), ['/vm1', '/vm1/db', '/vm2', '/vm2/app', '/vm3', '/vm3/app'])
  // one agent per machine: none lost, none made twice
  const agents = localAgents(options.dataDirectory)
  t.is(agents.length, 3)
  t.true(agents.every(a => a.alive))
  const tree = await call('GET', '/api/applications/shop/instances') as Array<{ path: string, data: Record<string, string> }>
  t.deepEqual(tree.map(r => r.data['machine.id']).sort(), agents.map(a => a.machine).sort())
  // the apps imported the database through the mesh after the restart too
  t.true(tree.every(r => r.data['ip.address'] === '127.0.0.1'))

  // the DM down again; one machine dies meanwhile; the restarted DM shows it NOT_DEPLOYED and keeps the others
  await kill9(dm)
  const vm3 = tree.find(r => r.path === '/vm3')!.data['machine.id']
  const victim = agents.find(a => a.machine === vm3)!
  process.kill(-victim.pid, 'SIGKILL')
  await waitFor('the agent gone', () => !localAgents(options.dataDirectory).find(a => a.machine === vm3)?.alive)
  dm = await startDm(options)
  call = client(dm)
  const restored = statuses(await call('GET', '/api/applications/shop/instances'))
  t.is(restored['/vm3'], 'NOT_DEPLOYED')
  t.is(restored['/vm3/app'], 'NOT_DEPLOYED')
  t.is(restored['/vm1/db'], 'DEPLOYED_STARTED')
  t.is(restored['/vm2/app'], 'DEPLOYED_STARTED')
  // the surviving agents resend their states: still started
  await new Promise(resolve => setTimeout(resolve, 1_000))
  t.is(statuses(await call('GET', '/api/applications/shop/instances'))['/vm2/app'], 'DEPLOYED_STARTED')
  // it can be deployed again
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all', path: '/vm3' })
  await waitFor('vm3 redeployed', async () => statuses(await call('GET', '/api/applications/shop/instances'))['/vm3/app'] === 'DEPLOYED_STARTED', 60_000)

  // clean up through the API: machines terminated
  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), 60_000)
  t.deepEqual(localAgents(options.dataDirectory), [])
  await stopDm(dm)
})
