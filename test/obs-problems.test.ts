// Failures travel to the DM: a failing recipe's structured problem (step, plug-in, exit code, output tails) reaches
// the DM through the agent's report, ends `start --all` (which waits by default, stdout a pipe or not) with exit 1
// within FAILURE_TO_EXIT_MAX_MS of the failure and the problem printed, shows in `status` and in the event history; a
// machine whose creation fails ends the wait the same way.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startDmService } from '../manager/commands/dm.js'
import { MESHCONF_VERSION } from '../protocol/version.js'
import { runCli, runCliInProcess } from './cli-helpers.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate, writeTemplate } from './dm-helpers.js'
import { client, killAgents, undeployShop } from './dm-process-helpers.js'
import { freePort } from '../common/net.js'

/** Most a waiting CLI may take, from the failure (the problem's `at`) to its exit, in ms (issue 17). */
const FAILURE_TO_EXIT_MAX_MS = 2000

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

test('a failing start recipe ends start --all with exit 1 within 2 s of the failure, the exit code and the recipe\'s output; status and the history show it', async t => {
  const dir = tempDir('obs-problems')
  const dataDirectory = join(dir.path, 'data')
  const service = await startDmService({
    dataDirectory, port: 0, agentsPort: await freePort(), target: 'local', agentCommand: agentCommandFromSources(), log: quiet
  })
  const call = client(service)
  t.teardown(async () => {
    await undeployShop(call).catch(() => {})
    await service.stop()
    killAgents(dataDirectory)
    dir.remove()
  })
  const template = writeShopTemplate(join(dir.path, 'template'))
  writeTemplate(template, {
    'graph/DB/scripts/start.sh': '#!/bin/bash\necho "preparing the database"\necho "db: cannot bind port 5432" >&2\nexit 3\n'
  })
  await call('POST', '/api/templates', { path: template })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
  const cli = { home: dir.path }
  const dm = ['--dm', service.url, '--token', service.token]

  const started = Date.now()
  // a child process, its stdout a pipe, no wait flag: it waits by default, whatever stdout is
  const start = await runCli(['start', 'shop', '--all', ...dm], { ...cli, timeoutMs: 120_000 })
  const exitedAt = Date.now()
  t.log(`start ended after ${((exitedAt - started) / 1000).toFixed(1)} s`)
  t.is(start.exitCode, 1, start.stdout + start.stderr)
  t.regex(start.stdout, /waiting for 4 instance\(s\)/)
  t.regex(start.stderr, /\/vm1\/db failed/)
  t.regex(start.stderr, /step start, plug-in script, exit code 3/)
  t.regex(start.stderr, /stderr:\n {4}db: cannot bind port 5432/)
  t.regex(start.stderr, /stdout:\n {4}preparing the database/)
  t.notRegex(start.stderr, /timeout after/, 'the wait ended on the failure, not on its timeout')
  // the App waits for the DB's exports, which never come: only the failure could end the wait
  t.not(statuses(await call('GET', '/api/applications/shop/instances'))['/vm2/app'], 'DEPLOYED_STARTED')

  const db = (await call('GET', '/api/applications/shop/instances'))[0].children[0]
  t.is(db.status, 'DEPLOYED_STOPPED')
  t.like(db.problem, { step: 'start', plugin: 'script', exitCode: 3 })
  t.is(db.problem.stderr, 'db: cannot bind port 5432\n')
  t.true(Date.parse(db.problem.at) >= started)
  const failureToExitMs = exitedAt - Date.parse(db.problem.at)
  t.log(`from the failure to the CLI's exit: ${failureToExitMs} ms`)
  t.true(failureToExitMs <= FAILURE_TO_EXIT_MAX_MS, `the CLI exited ${failureToExitMs} ms after the failure`)

  const status = await runCliInProcess(['status', 'shop', ...dm], cli)
  t.is(status.exitCode, 0, status.stderr)
  t.regex(status.stdout, /db \(DB\) +DEPLOYED_STOPPED\n.*! start failed: script scripts\/start\.sh for \/vm1\/db exited with code 3/)

  const history = await call('GET', '/api/events?app=shop&path=%2Fvm1%2Fdb')
  const failure = history.find((e: { kind: string }) => e.kind === 'problem')
  t.like(failure, { application: 'shop', path: '/vm1/db', actor: 'agent' })
  t.is(failure.body.problem.exitCode, 3)
  t.regex(failure.reason, /^DEPLOYED_STOPPED: start failed/)
  t.true(history.some((e: { kind: string, reason: string }) => e.kind === 'state' && e.reason === 'STARTING'))
})

test('a machine whose creation fails ends start --wait with exit 1 and the reason', async t => {
  const dir = tempDir('obs-problems-machine')
  const service = await startDmService({ dataDirectory: dir.path, port: 0, agentsPort: 0, log: quiet })
  t.teardown(async () => { await service.stop(); dir.remove() })
  const { dm } = service
  dm.createTarget({ id: 'lab', handler: 'existing', properties: { 'agent.ip-address': 'vm1.lab.example' } })
  await dm.loadTemplateFromPath(writeShopTemplate(join(dir.path, 'template')))
  dm.createApplication({ name: 'shop', template: { name: 'Shop', version: '1.0' } })
  dm.associateTarget('shop', { targetId: 'lab', path: '/vm1' })
  const start = await runCliInProcess(['start', 'shop', '/vm1', '--wait=120s', '--dm', service.url, '--token', service.token], { home: dir.path })
  t.is(start.exitCode, 1, start.stdout + start.stderr)
  t.regex(start.stderr, /\/vm1 failed\n {2}.*property agent\.ip-address = "vm1\.lab\.example" is not an IPv4 or IPv6 address/)
  t.regex(start.stderr, /step create machine, plug-in existing/)
  t.like(dm.instance('shop', '/vm1').problem, { step: 'create machine', plugin: 'existing' })
})

test('the version agents report is the package\'s', t => {
  t.is(MESHCONF_VERSION, JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).version)
})
