// A DM in its own process (so that a test can kill -9 it), its REST client, and the agent processes of its local
// target.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { startDmService, type DmServiceOptions } from '../manager/commands/dm.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

export interface RunningDm { child: ChildProcess, url: string, token: string }

/** Runs `fixture` (default test/dm-process-fixture.ts: the DM service) with `options`; resolves once it listens. */
export async function startDm (options: Omit<DmServiceOptions, 'log'> | object, fixture = 'dm-process-fixture.ts'): Promise<RunningDm> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test', fixture), JSON.stringify(options)], {
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

export async function kill9 (dm: RunningDm): Promise<void> {
  if (dm.child.exitCode !== null || dm.child.signalCode !== null) return
  const exited = new Promise(resolve => dm.child.once('exit', resolve))
  dm.child.kill('SIGKILL')
  await exited
}

export async function stopDm (dm: RunningDm): Promise<void> {
  if (dm.child.exitCode !== null || dm.child.signalCode !== null) return
  const exited = new Promise(resolve => dm.child.once('exit', resolve))
  dm.child.kill('SIGTERM')
  await exited
}

export type RestCall = (method: string, path: string, body?: unknown) => Promise<any>

/** Calls the DM's REST API with its token; a status of 400 or more throws. */
export function client (dm: { url: string, token: string }): RestCall {
  return async (method, path, body) => {
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
export function localAgents (dataDirectory: string): Array<{ machine: string, pid: number, alive: boolean }> {
  const folder = join(dataDirectory, 'machines', 'local')
  if (!existsSync(folder)) return []
  return readdirSync(folder).filter(m => existsSync(join(folder, m, 'pid'))).map(machine => {
    const { pid } = JSON.parse(readFileSync(join(folder, machine, 'pid'), 'utf8')) as { pid: number }
    let alive = true
    try { process.kill(pid, 0) } catch { alive = false }
    return { machine, pid, alive }
  })
}

export function killAgents (dataDirectory: string): void {
  for (const agent of localAgents(dataDirectory)) {
    try { process.kill(-agent.pid, 'SIGKILL') } catch { /* gone */ }
  }
}

/**
 * A DM service in the test's process on a temporary data folder (agents run from the sources) with the Shop
 * application `shop` created (`instances`: its instances file, default the template's); stopped, its agents killed
 * and the folder removed at the test's end.
 */
export async function shopOnDmService (t: { teardown: (fn: () => Promise<void>) => void }, target: string, instances?: string): Promise<{ call: RestCall, dataDirectory: string }> {
  const dir = tempDir('dm-service')
  const dataDirectory = join(dir.path, 'data')
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }
  const service = await startDmService({
    dataDirectory, port: 0, agentsPort: await freePort(), target, agentCommand: agentCommandFromSources(), log
  })
  t.teardown(async () => { await service.stop(); killAgents(dataDirectory); dir.remove() })
  const call = client(service)
  await call('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template'), { instances }) })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
  return { call, dataDirectory }
}

/** Undeploys every instance of `shop` and waits until all are NOT_DEPLOYED. */
export async function undeployShop (call: RestCall): Promise<void> {
  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () =>
    Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
}
