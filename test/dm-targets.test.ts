// Target associations through REST decide which handler creates a machine: with the in-process target as the DM's
// default, a machine associated with a target of the local handler becomes an agent process, the others stay in
// the DM's process.
import test from 'ava'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { statuses } from './dm-helpers.js'
import { localAgents, shopOnDmService, undeployShop } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

/** Two machines, each with a database (no imports: in-process and local agents do not share a mesh). */
const INSTANCES = [
  'instance of VM {', '  name: vm1;', '  instance of DB {', '    name: db;', '  }', '}',
  'instance of VM {', '  name: vm2;', '  instance of DB {', '    name: db;', '  }', '}', ''
].join('\n')

test('a machine associated with a target is created by that target\'s handler', async t => {
  t.timeout(180_000)
  const { call, dataDirectory } = await shopOnDmService(t, 'in-process', INSTANCES)
  await call('POST', '/api/targets', { id: 'lab', handler: 'local' })
  await call('POST', '/api/applications/shop/targets', { targetId: 'lab', path: '/vm2' })
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('every instance started', async () =>
    Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 120_000 })

  const tree = await call('GET', '/api/applications/shop/instances') as Array<{ path: string, data: Record<string, string> }>
  const data = (path: string): Record<string, string> => tree.find(r => r.path === path)!.data
  t.like(data('/vm2'), { 'target.id': 'lab', 'target.handler': 'local' })
  t.like(data('/vm1'), { 'target.id': 'default', 'target.handler': 'in-process' })
  // the associated machine is an agent process of the local target; the other one is not
  t.deepEqual(localAgents(dataDirectory).map(a => [a.machine, a.alive]), [[data('/vm2')['machine.id'], true]])
  t.true(existsSync(join(dataDirectory, 'machines', 'in-process', data('/vm1')['machine.id'])))

  await undeployShop(call)
  t.deepEqual(localAgents(dataDirectory), [])
})
