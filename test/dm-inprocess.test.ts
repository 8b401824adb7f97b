// The DM with real in-process agents (engine, script plug-in, in-memory mesh) over the in-memory messaging.
import test from 'ava'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { startInProcessDm, statuses, writeShopTemplate } from './dm-helpers.js'
import { RANDOM_PORT_MAX, RANDOM_PORT_MIN } from '../manager/constants.js'
import { ephemeralPortRange } from '../manager/dm/ports.js'
import { waitFor } from './helpers/wait.js'

function findFiles (root: string, name: string): string[] {
  const out: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry)
      if (statSync(path).isDirectory()) walk(path)
      else if (entry === name) out.push(path)
    }
  }
  if (existsSync(root)) walk(root)
  return out
}

async function setup (t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const { dir, store, dm, target } = await startInProcessDm(t, 'dm-inprocess')
  const events: Array<{ type: string, path?: string, status?: string }> = []
  dm.onEvent(e => events.push(e))
  const source = writeShopTemplate(join(dir.path, 'template'))
  return { dir, store, dm, target, events, source }
}

test('an application is deployed and started on in-process agents; notifications reach the DM', async t => {
  const { dm, store, events, source, dir } = await setup(t)
  const loaded = await dm.loadTemplateFromPath(source)
  t.is(loaded.name, 'Shop')
  dm.createApplication({ name: 'shop1', template: { name: 'Shop', version: '1.0' } })
  t.deepEqual(statuses(dm.instances('shop1')), {
    '/vm1': 'NOT_DEPLOYED', '/vm1/db': 'NOT_DEPLOYED', '/vm2': 'NOT_DEPLOYED', '/vm2/app': 'NOT_DEPLOYED'
  })
  dm.action('shop1', { action: 'deploy-and-start-all' })
  const all = await waitFor('every instance started', () => {
    const s = statuses(dm.instances('shop1'))
    return Object.values(s).every(v => v === 'DEPLOYED_STARTED') ? s : undefined
  })
  t.is(Object.keys(all).length, 4)
  // the machines carry their data, the app resolved its import of the DB through the mesh
  const vm2 = dm.instance('shop1', '/vm2')
  t.truthy(vm2.data['machine.id'])
  t.is(vm2.data['ip.address'], '127.0.0.1')
  const app = store.getInstance('shop1', '/vm2/app')
  t.deepEqual(app?.imports.DB?.map(i => i.instancePath), ['/vm1/db'])
  t.is(app?.imports.DB?.[0].variables['DB.port'], '5432')
  // the random port was assigned by the DM and stored
  t.regex(app?.overriddenExports['App.port'] ?? '', /^\d+$/)
  // the recipes ran on the agents
  const started = findFiles(join(dir.path, 'machines'), 'started.txt')
  t.is(started.length, 2)
  t.true(started.some(f => readFileSync(f, 'utf8').includes('started')))
  // notifications became events
  t.true(events.some(e => e.type === 'instance' && e.path === '/vm2/app' && e.status === 'DEPLOYED_STARTED'))
  t.true(events.some(e => e.type === 'instance' && e.path === '/vm1' && e.status === 'DEPLOYING'))
  t.is(store.pending('shop1', '/vm2').length, 0)
})

test('stop-all, undeploy-all, scale up with replicate and down with delete', async t => {
  const { dm, source, target } = await setup(t)
  await dm.loadTemplateFromPath(source)
  dm.createApplication({ name: 'shop2', template: { name: 'Shop', version: '1.0' } })
  dm.action('shop2', { action: 'deploy-and-start-all' })
  await waitFor('started', () => Object.values(statuses(dm.instances('shop2'))).every(v => v === 'DEPLOYED_STARTED'))

  dm.action('shop2', { action: 'stop-all', component: 'App' })
  await waitFor('app stopped', () => dm.instance('shop2', '/vm2/app').status === 'DEPLOYED_STOPPED')
  t.is(dm.instance('shop2', '/vm1/db').status, 'DEPLOYED_STARTED')

  // scale up: a copy of vm2 with its app, deployed on a new machine
  const copy = dm.replicate('shop2', '/vm2', 'vm3')
  t.deepEqual(statuses([copy]), { '/vm3': 'NOT_DEPLOYED', '/vm3/app': 'NOT_DEPLOYED' })
  t.not(copy.children[0].overriddenExports['App.port'], dm.instance('shop2', '/vm2/app').overriddenExports['App.port'])
  dm.action('shop2', { action: 'deploy-and-start-all', path: '/vm3' })
  await waitFor('vm3 app started', () => dm.instance('shop2', '/vm3/app').status === 'DEPLOYED_STARTED')
  const machineId = dm.instance('shop2', '/vm3').data['machine.id']
  t.true(await target.isRunning(machineId))

  // a deployed subtree cannot be deleted
  t.throws(() => dm.removeInstance('shop2', '/vm3'), { name: 'InstanceDeployedError' })
  // scale down: undeploy terminates the machine, then the subtree can go
  dm.changeState('shop2', '/vm3', 'NOT_DEPLOYED')
  await waitFor('vm3 undeployed', () => Object.values(statuses([dm.instance('shop2', '/vm3')])).every(v => v === 'NOT_DEPLOYED'))
  t.false(await target.isRunning(machineId))
  t.false('machine.id' in dm.instance('shop2', '/vm3').data)
  dm.removeInstance('shop2', '/vm3')
  t.throws(() => dm.instance('shop2', '/vm3'), { name: 'InstanceNotFoundError' })

  // a child added under a running machine reaches its agent, and starts
  dm.addInstance('shop2', { parentPath: '/vm1', name: 'app2', component: 'App' })
  dm.changeState('shop2', '/vm1/app2', 'DEPLOYED_STARTED')
  await waitFor('added app started', () => dm.instance('shop2', '/vm1/app2').status === 'DEPLOYED_STARTED')

  dm.action('shop2', { action: 'undeploy-all' })
  await waitFor('all undeployed', () => Object.values(statuses(dm.instances('shop2'))).every(v => v === 'NOT_DEPLOYED'))
  await dm.deleteApplication('shop2')
  t.deepEqual(dm.listApplications(), [])
})

test('random[port] exports get distinct free ports of the range, from a random point so that two DMs rarely meet', async t => {
  const { dm, source } = await setup(t)
  await dm.loadTemplateFromPath(source)
  const ports: number[] = []
  for (const name of ['shopA', 'shopB']) {
    dm.createApplication({ name, template: { name: 'Shop', version: '1.0' } })
    for (let i = 3; i <= 12; i++) dm.replicate(name, '/vm2', `vm${i}`)
    for (const root of dm.instances(name)) {
      for (const child of root.children) {
        const port = child.overriddenExports?.['App.port']
        if (port !== undefined) ports.push(Number(port))
      }
    }
  }
  t.is(ports.length, 22)
  t.is(new Set(ports).size, ports.length, `ports given twice: ${ports.join(', ')}`)
  t.true(ports.every(p => p >= RANDOM_PORT_MIN && p < RANDOM_PORT_MAX))
  // None in the host's ephemeral range, where outgoing connections take their source ports (the range leaves
  // thousands of ports outside it)
  const ephemeral = ephemeralPortRange()
  if (ephemeral !== undefined) t.deepEqual(ports.filter(p => p >= ephemeral[0] && p <= ephemeral[1]), [], `ephemeral range ${ephemeral.join('-')}`)
  // Not the lowest ports of the range every time: a second DM would then pick the same ones.
  t.true(Math.min(...ports) > RANDOM_PORT_MIN + 100 || Math.max(...ports) - Math.min(...ports) > 1000)
})
