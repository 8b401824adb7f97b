// The event history: events stored in SQLite survive a DM killed -9; the WebSocket replays from a cursor, then
// follows, without gaps or duplicates; retention is bounded; a store made before schema versions opens after the
// upgrade with its applications intact.
import test from 'ava'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import { startDmService } from '../manager/commands/dm.js'
import { DATABASE_FILE, EVENT_PRUNE_EVERY } from '../manager/constants.js'
import { createEventLog } from '../manager/events.js'
import { createStore, STORE_SCHEMA_VERSION, StoreTooNewError } from '../manager/store.js'
import { runCliInProcess } from './cli-helpers.js'
import { statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { client, kill9, startDm, stopDm, type RunningDm } from './dm-process-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

interface Received { id: number, type: string, [field: string]: unknown }

/** A WebSocket on /api/events (after `after` when given) collecting what it receives. */
async function listen (dm: { url: string, token: string }, after?: number): Promise<{ received: Received[], close: () => void }> {
  const url = `${dm.url.replace(/^http/, 'ws')}/api/events${after !== undefined ? `?after=${after}` : ''}`
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${dm.token}` } })
  const received: Received[] = []
  socket.on('message', data => { received.push(JSON.parse(data.toString()) as Received) })
  socket.on('error', () => {})
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  return { received, close: () => { socket.close() } }
}

function ids (events: Array<{ id: number }>): number[] {
  return events.map(e => e.id)
}

test('events survive a DM killed -9; the WebSocket replays from a cursor, then follows, without gaps or duplicates', async t => {
  const dir = tempDir('obs-events')
  const options = { dataDirectory: join(dir.path, 'data'), port: 0, agentsPort: await freePort(), target: 'in-process' }
  let dm: RunningDm = await startDm(options)
  t.teardown(async () => { await kill9(dm); dir.remove() })
  let call = client(dm)
  const live = await listen(dm, 0)
  await call('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template')) })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('everything started', async () =>
    Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 60_000 })
  await waitFor('the last state change heard live', () => live.received.filter(e => e.type === 'instance' && e.status === 'DEPLOYED_STARTED').length === 4)
  live.close()
  const seen = [...live.received]

  await kill9(dm)
  dm = await startDm(options)
  call = client(dm)
  const stored = await call('GET', '/api/events?limit=10000') as Array<{ id: number, kind: string, body: Record<string, unknown> }>
  // every event heard before the kill is in the history, as it was heard
  for (const event of seen) {
    const entry = stored.find(e => e.id === event.id)
    t.truthy(entry, `event ${event.id} (${event.type}) survived`)
    const { id: _id, ...body } = event
    t.deepEqual(entry?.body, body)
  }
  t.deepEqual(ids(stored), [...ids(stored)].sort((a, b) => a - b), 'oldest first')
  t.true(stored.some(e => e.kind === 'request'), 'REST writes are events')
  t.true(stored.some(e => e.kind === 'machine'), 'machine creations are events')

  // replay from the middle of what was heard, while new events come: each once, in order
  const cursor = seen[Math.floor(seen.length / 2)].id
  const replay = await listen(dm, cursor)
  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('everything undeployed', async () =>
    Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  const after = await call('GET', `/api/events?after=${cursor}&limit=10000`) as Array<{ id: number }>
  await waitFor('the replay caught up', () => replay.received.length >= after.length)
  replay.close()
  t.deepEqual(ids(replay.received), ids(after), 'the stored events after the cursor, then the live ones, each once')
  t.true(after.length > stored.filter(e => e.id > cursor).length, 'live events followed the replay')
  t.true(ids(replay.received).every((id, i, all) => i === 0 || id > all[i - 1]))

  // the CLI reads the same history
  const cli = await runCliInProcess(['events', 'shop', '--limit', '3', '-o', 'json', '--dm', dm.url, '--token', dm.token], { home: dir.path })
  t.is(cli.exitCode, 0, cli.stderr)
  t.deepEqual(ids(JSON.parse(cli.stdout).events), ids(after.filter(e => (e as { application?: string }).application === 'shop')).slice(-3))
  const lines = await runCliInProcess(['events', 'shop', '--path', '/vm1/db', '--dm', dm.url, '--token', dm.token], { home: dir.path })
  t.regex(lines.stdout, /^\S+Z {2}state +shop {2}\/vm1\/db {2}DEPLOYED_STARTED {2}\(agent\)$/m)
  await stopDm(dm)
})

test('the history keeps at most its count, and drops what is older than its age', t => {
  const dir = tempDir('obs-retention')
  t.teardown(() => { dir.remove() })
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  t.teardown(() => { store.close() })
  const old = new Date(Date.now() - 2 * 86_400_000).toISOString()
  store.appendEvent({ at: old, kind: 'application', application: 'old', reason: 'created', actor: 'dm', body: {} })
  const log = createEventLog({ store }, { maxEvents: 10, maxAgeMs: 86_400_000 })
  t.is(log.count(), 0, 'the event older than a day went when the history opened')
  for (let i = 0; i < EVENT_PRUNE_EVERY; i++) log.record({ type: 'application', application: `app${i}`, action: 'created', at: new Date().toISOString() })
  t.is(log.count(), 10)
  t.deepEqual(log.query({}).map(e => e.application), Array.from({ length: 10 }, (_, i) => `app${EVENT_PRUNE_EVERY - 10 + i}`))
})

test('a store made before schema versions opens after the upgrade with its applications intact; a newer one is refused', async t => {
  const dir = tempDir('obs-upgrade')
  t.teardown(() => { dir.remove() })
  const data = join(dir.path, 'data')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(data)
  copyFileSync(join(process.cwd(), 'test', 'fixtures', 'store-v1.sqlite'), join(data, DATABASE_FILE))
  const service = await startDmService({ dataDirectory: data, port: 0, agentsPort: 0, target: 'in-process', log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } })
  let stopped = false
  t.teardown(async () => { if (!stopped) await service.stop() })
  const call = client(service)
  const app = await call('GET', '/api/applications/Legacy%20LAMP')
  t.like(app, { name: 'Legacy LAMP', description: 'made by the schema before versions', createdAt: '2026-12-01T10:00:00.000Z' })
  t.deepEqual(Object.keys(statuses(app.instances)).sort(),
    ['/Apache VM', '/Apache VM/Apache', '/MySQL VM', '/MySQL VM/MySQL', '/Tomcat VM 1', '/Tomcat VM 1/Tomcat'])
  t.true((await call('GET', '/api/templates')).some((tpl: { name: string }) => tpl.name === 'LAMP'))
  // the new parts work on the old data: the history records, states have their time
  await call('POST', '/api/applications/Legacy%20LAMP/instances', { parentPath: '/Apache VM', name: 'Apache 2', component: 'Apache' })
  const history = await call('GET', '/api/events?app=Legacy%20LAMP')
  t.true(history.some((e: { kind: string, path?: string }) => e.kind === 'state' && e.path === '/Apache VM/Apache 2'))
  await service.stop()
  stopped = true
  const db = new Database(join(data, DATABASE_FILE))
  t.is(db.pragma('user_version', { simple: true }), STORE_SCHEMA_VERSION)
  db.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`)
  db.close()
  t.throws(() => createStore({ file: join(data, DATABASE_FILE) }), { instanceOf: StoreTooNewError, message: new RegExp(`schema version ${STORE_SCHEMA_VERSION + 1}, this meshconf knows up to ${STORE_SCHEMA_VERSION}`) })
})
