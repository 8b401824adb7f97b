// Scheduled jobs: a cron expression executes a commands file; jobs survive a DM restart; a run due while the DM was
// down is not replayed and the history says so; REST and the CLI (`meshconf schedule`).
import test from 'ava'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createRestServer } from '../manager/rest/server.js'
import { createStore } from '../manager/store.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { runCliInProcess } from './cli-helpers.js'
import { tempDir, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

async function startDm (folder: string) {
  const store = createStore({ file: join(folder, 'dm.sqlite') })
  const target = createInProcessTarget({ machinesDirectory: join(folder, 'machines'), heartbeatIntervalMs: 200 })
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }
  const dm = createDeploymentManager({ store, messaging: createMemoryMessaging({}), targets: [target], log: quiet },
    { dataDirectory: folder, defaultTargetHandler: 'in-process' })
  await dm.start()
  return { dm, stop: async () => { await target.close?.(); await dm.stop(); store.close() } }
}

test('a job runs its commands on its cron; it survives a DM restart; runs missed while the DM was down are not replayed', async t => {
  const dir = tempDir('dm-schedule')
  t.teardown(() => dir.remove())
  let first = await startDm(dir.path)
  t.teardown(async () => { await first.stop().catch(() => {}) })
  await first.dm.loadTemplateFromPath(writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Ticks\nversion = 1.0\ngraph-entry-point = main.graph\n',
    'graph/main.graph': 'VM {\n  installer: target;\n}\n',
    'commands/tick.commands': 'append tick into /ticks.txt\n'
  }))
  first.dm.createApplication({ name: 'ticks', template: { name: 'Ticks', version: '1.0' } })
  const ticks = join(dir.path, 'command-files', 'ticks.txt')
  const count = (): number => existsSync(ticks) ? readFileSync(ticks, 'utf8').split('\n').filter(l => l === 'tick').length : 0

  t.throws(() => first.dm.autonomy.schedules.add({ application: 'ticks', command: 'tick', cron: 'every second' }), { message: /cron expression "every second" is invalid/ })
  t.throws(() => first.dm.autonomy.schedules.add({ application: 'ticks', command: 'nope', cron: '* * * * * *' }), { message: /no commands file "nope"/ })
  const job = first.dm.autonomy.schedules.add({ name: 'every-second', application: 'ticks', command: 'tick', cron: '* * * * * *' })
  await waitFor('a scheduled run', () => count() >= 1, { timeoutMs: 10_000 })
  const ran = first.dm.autonomy.history('ticks', { offset: 0, limit: 10 }).entries
  t.like(ran[ran.length - 1], { command: 'tick', source: 'schedule', sourceName: 'every-second', outcome: 'ok' })

  // down for a few seconds: the runs due meanwhile are missed
  await first.stop()
  const before = count()
  await new Promise(resolve => setTimeout(resolve, 2_500))
  t.is(count(), before)
  first = await startDm(dir.path)
  t.deepEqual(first.dm.autonomy.schedules.list().map(j => [j.id, j.name, j.cron]), [[job.id, 'every-second', '* * * * * *']])
  const missed = first.dm.autonomy.history('ticks', { offset: 0, limit: 50 }).entries.filter(e => e.outcome === 'missed')
  t.is(missed.length, 1)
  t.regex(missed[0].detail, /^\d+ run\(s\), the first due at .*, fell due while the DM was down: not replayed$/)
  t.true(Number(/^(\d+)/.exec(missed[0].detail)![1]) >= 2)
  // not replayed: the next tick is a new run, after the restart
  t.true(count() <= before + 1)
  await waitFor('a run after the restart', () => count() >= before + 1, { timeoutMs: 10_000 })
})

test('schedules through REST and the CLI: add, list, delete; bad input gets a clear error', async t => {
  const dir = tempDir('dm-schedule-cli')
  t.teardown(() => dir.remove())
  const { dm, stop } = await startDm(dir.path)
  t.teardown(stop)
  await dm.loadTemplateFromPath(writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Ticks\nversion = 1.0\ngraph-entry-point = main.graph\n',
    'graph/main.graph': 'VM {\n  installer: target;\n}\n',
    'commands/tick.commands': 'append tick into /ticks.txt\n'
  }))
  dm.createApplication({ name: 'ticks', template: { name: 'Ticks', version: '1.0' } })
  const server = createRestServer({ dm, token: 'secret' }, { port: 0 })
  const url = await server.start()
  t.teardown(async () => { await server.stop() })
  const cli = async (...args: string[]) => await runCliInProcess(args, { home: join(dir.path, 'home'), env: { MESHCONF_DM: url, MESHCONF_TOKEN: 'secret' } })

  const added = await cli('schedule', 'add', 'ticks', 'tick', '--cron', '0 3 * * *', '--name', 'nightly', '--json')
  t.is(added.exitCode, 0, added.stderr)
  const { id } = JSON.parse(added.stdout) as { id: string }
  const list = await cli('schedule', 'list', 'ticks')
  t.is(list.exitCode, 0, list.stderr)
  t.regex(list.stdout, new RegExp(`^${id}  nightly  ticks  tick  "0 3 \\* \\* \\*"  next \\d{4}-`, 'm'))
  const bad = await cli('schedule', 'add', 'ticks', 'tick', '--cron', '61 * * * *')
  t.is(bad.exitCode, 1)
  t.regex(bad.stderr, /cron expression "61 \* \* \* \*" is invalid/)
  t.is((await cli('schedule', 'delete', id)).exitCode, 0)
  const gone = await cli('schedule', 'delete', id)
  t.is(gone.exitCode, 1)
  t.regex(gone.stderr, /no scheduled job/)
  t.deepEqual(dm.autonomy.schedules.list(), [])
})
