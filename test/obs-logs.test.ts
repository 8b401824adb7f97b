// `meshconf logs`: a running machine's log gathered from its agent through the link, on the embedded endpoint and on
// RabbitMQ, recipe output lines attributed to their instance and step; once the machine is terminated, what the DM
// kept of its log, marked as kept.
import test, { type ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startDmService, type DmServiceOptions } from '../manager/commands/dm.js'
import { runCliInProcess } from './cli-helpers.js'
import { agentCommandFromSources, statuses, tempDir, writeShopTemplate, writeTemplate } from './dm-helpers.js'
import { client, killAgents } from './dm-process-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

async function logsOfShop (t: ExecutionContext, messaging: Partial<DmServiceOptions>): Promise<void> {
  const dir = tempDir('obs-logs')
  const dataDirectory = join(dir.path, 'data')
  const service = await startDmService({
    dataDirectory, port: 0, agentsPort: await freePort(), target: 'local', agentCommand: agentCommandFromSources(),
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }, ...messaging
  })
  const call = client(service)
  t.teardown(async () => {
    await call('DELETE', '/api/applications/shop').catch(() => {})
    await service.stop()
    killAgents(dataDirectory)
    dir.remove()
  })
  const template = writeShopTemplate(join(dir.path, 'template'))
  writeTemplate(template, { 'graph/DB/scripts/start.sh': '#!/bin/bash\necho "db ready on 5432"\necho "db: slow disk" >&2\n' })
  await call('POST', '/api/templates', { path: template })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('shop started', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 90_000 })
  const cli = async (...args: string[]): Promise<{ exitCode: number, stdout: string, stderr: string }> =>
    await runCliInProcess(['logs', 'shop', ...args, '--dm', service.url, '--token', service.token], { home: dir.path })

  const running = await cli('/vm1', '--instance', '/vm1/db')
  t.is(running.exitCode, 0, running.stderr)
  t.regex(running.stdout, /INFO {2}\[\/vm1\/db\] start: script scripts\/start\.sh: db ready on 5432/)
  t.regex(running.stdout, /WARN {2}\[\/vm1\/db\] start: script scripts\/start\.sh \(stderr\): db: slow disk/)
  t.false(running.stdout.includes('/vm2'), 'only the lines of the instance asked for')
  t.is(running.stderr, '')
  const doc = JSON.parse((await cli('/vm1', '--tail', '1', '--instance', '/vm1/db', '-o', 'json')).stdout)
  t.like(doc, { ok: true, kept: false })
  t.is(doc.lines.length, 1)
  t.like(doc.lines[0], { instance: '/vm1/db', step: 'start', level: 'warn' })
  const whole = await call('GET', '/api/applications/shop/logs?path=%2Fvm1')
  t.true(whole.lines.some((l: { message: string }) => /connected to the DM/.test(l.message)), 'the agent\'s own lines too')

  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('shop undeployed', async () => Object.values(statuses(await call('GET', '/api/applications/shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 90_000 })
  t.true(existsSync(join(dataDirectory, 'logs', 'shop', '%2Fvm1.jsonl')))
  const kept = await cli('/vm1', '--instance', '/vm1/db')
  t.is(kept.exitCode, 0, kept.stderr)
  t.regex(kept.stderr, /\/vm1 has no machine now: its log as the DM kept it/)
  t.regex(kept.stdout, /\[\/vm1\/db\] start: script scripts\/start\.sh: db ready on 5432/)
  t.regex(kept.stdout, /\[\/vm1\/db\] script plug-in: no script or template for "undeploy"/, 'the undeploy is in it too')
  const never = await runCliInProcess(['logs', 'shop', '/vm9', '--dm', service.url, '--token', service.token], { home: dir.path })
  t.is(never.exitCode, 1)
}

test('logs of a machine through the embedded endpoint, then what the DM kept once it was terminated', async t => {
  await logsOfShop(t, {})
})

test('logs of a machine through RabbitMQ', async t => {
  await logsOfShop(t, { amqpUrl: 'amqp://guest:guest@127.0.0.1:5672', amqpDomain: `obs-logs-${randomBytes(4).toString('hex')}` })
})
