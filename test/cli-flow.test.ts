// The operator's flow: `meshconf dm start` as a real process (it writes ~/.meshconf/config.json), then the operator
// commands finding the DM through that file alone (the first one as a real process too).
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, runCliInProcess, spawnCli, waitForOutput } from './cli-helpers.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'

test('dm start, then app load, start --wait, status and undeploy with nothing but the config file', async t => {
  const dir = tempDir('cli-flow')
  const home = join(dir.path, 'home')
  const dm = spawnCli(['dm', 'start', '--port', '0', '--agents-port', '0', '--target', 'in-process', '--data-dir', join(dir.path, 'dm')],
    { home, timeoutMs: 110_000 })
  t.teardown(async () => {
    dm.kill('SIGTERM')
    await dm
    dir.remove()
  })
  // the context line comes last, once the context is saved
  await waitForOutput(dm, /^added context \S+ in /m)
  const template = writeShopTemplate(join(dir.path, 'shop'))

  const load = await runCli(['app', 'load', template], { home })
  t.is(load.exitCode, 0, load.stderr)
  t.regex(load.stdout, /^created application Shop/m)

  const start = await runCliInProcess(['start', 'Shop', '--wait=90s'], { home })
  t.is(start.exitCode, 0, start.stderr + start.stdout)
  t.is(start.stdout.split('\n').filter(l => / {2}DEPLOYED_STARTED {2}\d+\.\d s$/.test(l)).length, 4)

  const status = await runCliInProcess(['status', 'Shop', '--json'], { home })
  t.is(status.exitCode, 0, status.stderr)
  const doc = JSON.parse(status.stdout)
  t.deepEqual(doc.application.instances.map((i: { path: string, status: string }) => `${i.path}=${i.status}`), ['/vm1=DEPLOYED_STARTED', '/vm2=DEPLOYED_STARTED'])

  const undeploy = await runCliInProcess(['undeploy', 'Shop', '--wait=90s'], { home })
  t.is(undeploy.exitCode, 0, undeploy.stderr + undeploy.stdout)
  t.regex(undeploy.stdout, /^ {2}\/vm2\/app {2,}NOT_DEPLOYED/m)
  const token = readFileSync(join(dir.path, 'dm', 'token'), 'utf8').trim()
  dm.kill('SIGTERM')
  const output = await dm
  t.false(`${String(output.stdout)}${String(output.stderr)}`.includes(token), 'the token is not in the DM\'s output')
  // piped (not a terminal): the token is only said to be in its file, never printed where a log would keep it
  t.regex(String(output.stdout), /^token created in .*token \(not printed: this output is not a terminal/m)
})
