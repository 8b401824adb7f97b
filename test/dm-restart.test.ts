// The DM as its own process with the local target (agent processes), over the embedded messaging and over RabbitMQ:
// killed with SIGKILL in the middle of a deployment and restarted, it loses nothing; a machine killed while the DM was
// down is shown NOT_DEPLOYED after the restart, the others keep their states. Killed between storing a machine as
// DEPLOYING and creating it, the restarted DM creates it.
import test, { type ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { freePort } from '../common/net.js'
import { client, kill9, killAgents, localAgents, startDm, stopDm } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

const RABBITMQ = 'amqp://guest:guest@127.0.0.1:5672'

const INSTANCES = [
  'instance of VM {', '  name: vm1;', '  instance of DB {', '    name: db;', '  }', '}',
  'instance of VM {', '  name: vm2;', '  instance of App {', '    name: app;', '  }', '}',
  'instance of VM {', '  name: vm3;', '  instance of App {', '    name: app;', '  }', '}', ''
].join('\n')

/** The scenario, with the DM talking to its agents as `messaging` says (embedded port, or RabbitMQ URL and domain). */
async function killedMidDeploy (t: ExecutionContext, messaging: { agentsPort: number } | { amqpUrl: string, amqpDomain: string }): Promise<void> {
  t.timeout(300_000) // a dozen processes started through tsx on a shared machine
  const dir = tempDir('dm-restart')
  const options = {
    dataDirectory: join(dir.path, 'data'), port: 0, target: 'local',
    agentCommand: agentCommandFromSources(), machineSilenceMs: 120_000, ...messaging
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
  }, { timeoutMs: 90_000 })
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
  await waitFor('vm3 redeployed', async () => statuses(await call('GET', '/api/applications/shop/instances'))['/vm3/app'] === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })

  // clean up through the API: machines terminated
  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  t.deepEqual(localAgents(options.dataDirectory), [])
  // and its RabbitMQ queues and exchange go with it
  await call('DELETE', '/api/applications/shop')
  await stopDm(dm)
}

test.serial('the DM killed -9 mid-deploy and restarted: every machine ends up started once, nothing lost (embedded messaging)', async t => {
  await killedMidDeploy(t, { agentsPort: await freePort() })
})

test.serial('the DM killed -9 mid-deploy and restarted: every machine ends up started once, nothing lost (RabbitMQ)', async t => {
  await killedMidDeploy(t, { amqpUrl: RABBITMQ, amqpDomain: `meshconf-test-${randomBytes(4).toString('hex')}` })
})

test.serial('the DM killed -9 after storing a machine as DEPLOYING, before creating it: the restarted DM creates it and starts what it carries', async t => {
  t.timeout(240_000)
  const dir = tempDir('dm-held-creation')
  const options = { dataDirectory: join(dir.path, 'data'), port: 0, agentsPort: await freePort(), target: 'local', agentCommand: agentCommandFromSources() }
  let dm = await startDm({
    ...options, templatePath: writeShopTemplate(join(dir.path, 'template')), application: 'shop', heldPath: '/vm2'
  }, 'dm-held-creation-fixture.ts')
  t.teardown(async () => { await kill9(dm); killAgents(options.dataDirectory); dir.remove() })
  // the DM is inside the target's create for /vm2: DEPLOYING is stored, the start of /vm2/app is queued
  await kill9(dm)
  t.false(localAgents(options.dataDirectory).some(a => a.alive && a.machine.includes('vm2')))

  dm = await startDm(options)
  const call = client(dm)
  await waitFor('every instance started after the restart', async () =>
    Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 90_000 })
  const tree = await call('GET', '/api/applications/shop/instances') as Array<{ path: string, data: Record<string, string> }>
  const vm2 = tree.find(r => r.path === '/vm2')!.data['machine.id']
  t.true(localAgents(options.dataDirectory).find(a => a.machine === vm2)?.alive)
  // the queued start reached the new agent, and the app imported the database through the mesh
  const machine = join(options.dataDirectory, 'machines', 'local', vm2)
  const started = readdirSync(machine, { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('started.txt'))
  t.deepEqual(started.map(f => readFileSync(join(machine, f), 'utf8').trim()), ['started with DB port 5432'])
  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  await stopDm(dm)
})
