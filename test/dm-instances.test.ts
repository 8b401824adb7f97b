// Instances added to and deleted from a running machine through REST reach its agent process (addInstance,
// removeInstance), which changes its model; the DM's tree follows.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Instance } from '../protocol/model/types.js'
import { statuses } from './dm-helpers.js'
import { shopOnDmService, undeployShop } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

/** The instance paths of the model the agent of a local machine saved (its state file). */
function agentModelPaths (dataDirectory: string, machineId: string): string[] {
  const saved = JSON.parse(readFileSync(join(dataDirectory, 'machines', 'local', machineId, 'state', 'agent-state.json'), 'utf8')) as { model: { instance: Instance } }
  const paths: string[] = []
  const walk = (i: Instance): void => { paths.push(i.path); i.children.forEach(walk) }
  walk(saved.model.instance)
  return paths.sort()
}

test('an undeployed child deleted through REST from a deployed machine leaves its agent\'s model and the DM\'s tree', async t => {
  t.timeout(180_000)
  const { call, dataDirectory } = await shopOnDmService(t, 'local')
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all', path: '/vm1' })
  await waitFor('the database started', async () => (await call('GET', '/api/applications/shop/instances'))
    .find((r: { path: string }) => r.path === '/vm1').children[0].status === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  const machineId = (await call('GET', '/api/applications/shop/instances') as Array<{ path: string, data: Record<string, string> }>)
    .find(r => r.path === '/vm1')!.data['machine.id']

  await call('POST', '/api/applications/shop/instances', { parentPath: '/vm1', name: 'extra', component: 'App' })
  await waitFor('the agent has the new instance', () => agentModelPaths(dataDirectory, machineId).includes('/vm1/extra'))

  await call('DELETE', `/api/applications/shop/instances?path=${encodeURIComponent('/vm1/extra')}`)
  await waitFor('the agent dropped it', () => !agentModelPaths(dataDirectory, machineId).includes('/vm1/extra'))
  t.deepEqual(agentModelPaths(dataDirectory, machineId), ['/vm1', '/vm1/db'])
  const tree = statuses(await call('GET', '/api/applications/shop/instances'))
  t.false('/vm1/extra' in tree)
  // the rest of the machine is untouched
  t.like(tree, { '/vm1': 'DEPLOYED_STARTED', '/vm1/db': 'DEPLOYED_STARTED' })

  await undeployShop(call)
})
