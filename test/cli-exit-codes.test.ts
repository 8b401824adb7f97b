// Exit codes of the CLI run as a user runs it (`node bin/meshconf.js`): a DM URL or a config file that cannot be
// used is a failure (exit 1), a malformed option value a usage error (exit 2); both say what to fix, on stderr only.
import { execa } from 'execa'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'

const BIN = fileURLToPath(new URL('../bin/meshconf.js', import.meta.url))

/** A HOME of its own, so that the user's ~/.meshconf/config.json plays no part. */
function home (t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshconf-exit-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

async function meshconf (args: string[], homeDir: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: homeDir }
  delete env.MESHCONF_DM
  delete env.MESHCONF_TOKEN
  return await execa(process.execPath, [BIN, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000 })
}

test('a DM URL that is not http(s) exits 1 and names the flag to fix', async t => {
  const r = await meshconf(['app', 'list', '--dm', 'localhost:7400'], home(t))
  t.is(r.exitCode, 1)
  t.regex(r.stderr, /the DM URL "localhost:7400" \(from --dm\) is not an http:\/\/ or https:\/\/ URL/)
  t.is(r.stdout, '')
})

test('a broken ~/.meshconf/config.json exits 1 and says to fix or delete it', async t => {
  const dir = home(t)
  mkdirSync(join(dir, '.meshconf'))
  writeFileSync(join(dir, '.meshconf', 'config.json'), '{"dm": "http://127.0.0.1:7400", ')
  const r = await meshconf(['status', 'shop'], dir)
  t.is(r.exitCode, 1)
  t.regex(r.stderr, /cannot use .*config\.json: invalid JSON .*fix or delete it, or pass --dm and --token/)
  t.is(r.stdout, '')
})

test('malformed option values are usage errors (exit 2) naming the option and what is expected', async t => {
  const dir = home(t)
  const cases: Array<[string[], RegExp]> = [
    [['dm', 'start', '--agents-host', 'dm.example'], /--agents-host <address>' argument 'dm.example' is invalid. expected an IP address/],
    [['dm', 'start', '--agents-url', 'http://10.0.0.2:7401'], /--agents-url <url>' argument .* is invalid. expected wss:\/\/host:port/],
    [['dm', 'start', '--agents-url', 'amqp://agent:secret@10.0.0.2:5672'], /--agents-url amqp:.* does not fit the embedded endpoint: give wss:\/\/host:port \(or add --amqp\)/],
    [['dm', 'start', '--amqp', 'amqp://guest:guest@127.0.0.1:5672', '--agents-url', 'ws://10.0.0.2:7401'], /does not fit --amqp: give the broker's amqp:\/\/ URL/],
    [['dm', 'start', '--amqp', 'amqp://guest:guest@127.0.0.1:5672', '--agents-host', '0.0.0.0'], /--agents-host and --agents-port configure the embedded endpoint/],
    [['dm', 'start', '--amqp', 'rabbit:5672'], /--amqp <url>' argument 'rabbit:5672' is invalid. "rabbit:5672" is not an amqp:\/\/ or amqps:\/\/ URL/],
    [['dm', 'start', '--agents-port', '70000'], /expected a TCP port number \(0-65535\)/],
    [['dm', 'start', '--target', 'cloud'], /argument 'cloud' is invalid. Allowed choices are local, netns, docker, existing, in-process/],
    [['machine', 'params', 'shop'], /missing required argument 'path'/],
    [['machine', 'params', 'shop', '//'], /"\/\/" is not an instance path/]
  ]
  for (const [args, message] of cases) {
    const r = await meshconf(args, dir)
    t.is(r.exitCode, 2, args.join(' '))
    t.regex(r.stderr, message, args.join(' '))
    t.is(r.stdout, '', args.join(' '))
  }
})
