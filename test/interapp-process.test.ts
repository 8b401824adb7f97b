// Applications importing from each other peer to peer (issue 21), with agent processes of the local target and a DM
// of the test's own, over the embedded endpoint and over RabbitMQ: an external export reaches only the bound
// application's importers, under the descriptor's aliases; internal exports never cross; binding and unbinding while
// running reach the agents at once; a killed exporter is withdrawn at the other application's importers.
import test, { type ExecutionContext } from 'ava'
import { readPidFile } from '../agent/view.js'
import { agentView, recipeOutput, startInterAppDm, stateDirOf, type MessagingKind } from './helpers/interapp.js'
import { waitFor } from './helpers/wait.js'

const statusOf = (env: { dm: { instance: (a: string, p: string) => { status: string } } }, app: string, path: string): string => env.dm.instance(app, path).status

async function acrossApplications (t: ExecutionContext, kind: MessagingKind): Promise<void> {
  t.timeout(300_000)
  const env = await startInterAppDm(t, kind)
  const { dm } = env
  dm.createApplication({ name: 'Db', template: { name: 'Database', version: '1.0' } })
  dm.createApplication({ name: 'Shop A', template: { name: 'Web', version: '1.0' } })
  dm.createApplication({ name: 'Shop B', template: { name: 'Web', version: '1.0' } })
  dm.bind('Shop A', 'Db', 'Db')
  dm.action('Db', { action: 'deploy-and-start-all' })
  dm.action('Shop A', { action: 'deploy-and-start-all' })
  dm.action('Shop B', { action: 'deploy-and-start-all' })

  await waitFor('the bound Web started', () => statusOf(env, 'Shop A', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  const dbIp = dm.instance('Db', '/db vm').data['ip.address']
  const aState = stateDirOf(env, 'Shop A', '/web vm')
  // the descriptor's aliases under the prefix, and nothing else of the Database application
  t.deepEqual(recipeOutput(aState, '/web vm/web', 'started.txt'), { Db_0_ip: dbIp, Db_0_name: '/db vm/database', Db_0_port: '3306', Db_size: '1' })
  // inside the Database application, the internal import still works (and saw the password the others never see)
  await waitFor('the Admin started', () => statusOf(env, 'Db', '/db vm/admin') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.deepEqual(recipeOutput(stateDirOf(env, 'Db', '/db vm'), '/db vm/admin', 'started.txt'), { password: 's3cret' })

  // the unbound application receives nothing: its Web waits, and its agent holds nothing external
  await waitFor('Shop B machine up', () => statusOf(env, 'Shop B', '/web vm') === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  t.is(statusOf(env, 'Shop B', '/web vm/web'), 'UNRESOLVED')
  const bState = stateDirOf(env, 'Shop B', '/web vm')
  const bView = await agentView(bState)
  t.deepEqual(bView.domain?.held, [])
  t.deepEqual(bView.domain?.bindings, [{ prefix: 'Db', exporters: [], version: 0 }])
  // nothing of another application in either Web's application mesh
  t.deepEqual(bView.held, [])
  const aView = await agentView(aState)
  t.deepEqual(aView.held, [])
  t.deepEqual(aView.domain?.held.map(h => [h.prefix, h.application, h.instancePath, Object.keys(h.variables).sort()]),
    [['Db', 'Db', '/db vm/database', ['Db.ip', 'Db.port']]])
  t.deepEqual(aView.domain?.rejections, {})

  // bound while running: Shop B's Web starts
  dm.bind('Shop B', 'Db', 'Db')
  await waitFor('Shop B\'s Web started once bound', () => statusOf(env, 'Shop B', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  t.is(recipeOutput(bState, '/web vm/web', 'started.txt').Db_0_port, '3306')

  // unbound while running: Shop A's Web loses its mandatory import
  dm.unbind('Shop A', 'Db', 'Db')
  await waitFor('Shop A\'s Web unresolved once unbound', () => statusOf(env, 'Shop A', '/web vm/web') === 'UNRESOLVED', { timeoutMs: 60_000 })
  t.deepEqual((await agentView(aState)).domain?.held, [])
  t.deepEqual((await agentView(aState)).domain?.bindings.map(b => [b.exporters, b.version]), [[[], 2]])
  t.is(statusOf(env, 'Shop B', '/web vm/web'), 'DEPLOYED_STARTED')

  // the exporting instance stopped, then started: withdrawn, then announced again at the other application's importer
  dm.changeState('Db', '/db vm/database', 'DEPLOYED_STOPPED')
  await waitFor('Shop B\'s Web unresolved once the database stopped', () => statusOf(env, 'Shop B', '/web vm/web') === 'UNRESOLVED', { timeoutMs: 60_000 })
  dm.changeState('Db', '/db vm/database', 'DEPLOYED_STARTED')
  await waitFor('Shop B\'s Web started again', () => statusOf(env, 'Shop B', '/web vm/web') === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })

  // the exporter's agent killed -9: withdrawn at the other application's importer (liveness, no DM involved)
  const dbPid = (await readPidFile(stateDirOf(env, 'Db', '/db vm')))?.pid as number
  process.kill(dbPid, 'SIGKILL')
  await waitFor('Shop B\'s Web unresolved once the database agent died', () => statusOf(env, 'Shop B', '/web vm/web') === 'UNRESOLVED', { timeoutMs: 60_000 })
  t.deepEqual((await agentView(bState)).domain?.held, [])
}

test('embedded: an external export reaches only the bound application; bind, unbind and kill -9 while running', acrossApplications, 'embedded')
test('RabbitMQ: the same across two applications', acrossApplications, 'amqp')
