// Secrets off the command line: the CLI reads the DM's token from --token-file, `dm start` its broker URL (with
// its password) from $MESHCONF_AMQP_URL; the agents a DM starts get an allow-listed environment, none of its secrets.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentEnvironment } from '../manager/targets/process.js'
import { startDmService } from '../manager/commands/dm.js'
import { runCliInProcess, spawnCli, waitForOutput } from './cli-helpers.js'
import { tempDir } from './dm-helpers.js'

test('--token-file: the token is read from the file; an unreadable or empty file is a clear error', async t => {
  const dir = tempDir('cli-token-file')
  const service = await startDmService({ dataDirectory: join(dir.path, 'dm'), port: 0, agentsPort: 0, target: 'in-process' })
  t.teardown(async () => {
    await service.stop()
    dir.remove()
  })
  const tokenFile = join(dir.path, 'token')
  writeFileSync(tokenFile, `${service.token}\n`, { mode: 0o600 })
  const cli = { home: dir.path }
  const listed = await runCliInProcess(['app', 'list', '--json', '--dm', service.url, '--token-file', tokenFile], cli)
  t.is(listed.exitCode, 0, listed.stderr)
  t.like(JSON.parse(listed.stdout), { ok: true, applications: [] })
  const missing = await runCliInProcess(['app', 'list', '--dm', service.url, '--token-file', join(dir.path, 'nope')], cli)
  t.is(missing.exitCode, 1)
  t.regex(missing.stderr, /cannot read the token from --token-file .*nope: ENOENT/)
  writeFileSync(tokenFile, '\n')
  const empty = await runCliInProcess(['app', 'list', '--dm', service.url, '--token-file', tokenFile], cli)
  t.regex(empty.stderr, /it is empty/)
})

test('dm start takes the broker URL from $MESHCONF_AMQP_URL, so its password stays off the command line', async t => {
  const dir = tempDir('cli-amqp-env')
  const dm = spawnCli(['dm', 'start', '--port', '0', '--target', 'in-process', '--data-dir', join(dir.path, 'dm')],
    { home: join(dir.path, 'home'), env: { MESHCONF_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' }, timeoutMs: 60_000 })
  t.teardown(() => { dir.remove() })
  await waitForOutput(dm, /^meshconf DM listening/m)
  dm.kill('SIGTERM')
  const { stdout } = await dm
  t.regex(String(stdout), /agents via RabbitMQ/)
})

test('an agent the DM starts gets PATH, HOME, LANG and the like, never the DM\'s token or broker URL', t => {
  const env = agentEnvironment({
    PATH: '/usr/bin', HOME: '/root', LANG: 'C.UTF-8', MESHCONF_TOKEN: 'secret', MESHCONF_AMQP_URL: 'amqp://u:p@h',
    AWS_SECRET_ACCESS_KEY: 'x', MESHCONF_BENCH_LOG_DIR: '/tmp/logs'
  })
  t.deepEqual(env, { PATH: '/usr/bin', HOME: '/root', LANG: 'C.UTF-8', MESHCONF_BENCH_LOG_DIR: '/tmp/logs' })
})
