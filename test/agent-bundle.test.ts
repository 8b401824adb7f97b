// The agent's cached start (scripts/bundle-agent.mjs, `npm run build` first): the bundle as a classic script with V8's
// code cache of it, which the local and netns targets start (preferBundle). V8 takes the cache under the agents' Node
// flags, the agent behaves as the ES module bundle does, and under other flags V8 compiles the source instead.
import test from 'ava'
import { execa } from 'execa'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AGENT_NODE_FLAGS, defaultAgentCommand, preferBundle } from '../manager/targets/process.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const AGENT = join(ROOT, 'dist', 'agent', 'main')

/** Whether V8 rejects the agent's code cache in a Node process with these flags. */
async function cacheRejected (flags: readonly string[]): Promise<boolean> {
  const { stdout } = await execa(process.execPath, [...flags, '-e', `
const { readFileSync } = require('node:fs')
const { Script } = require('node:vm')
const script = new Script(readFileSync(process.argv[1], 'latin1'), { cachedData: readFileSync(process.argv[2]) })
process.stdout.write(String(script.cachedDataRejected))
`, `${AGENT}.bundle.script.cjs`, `${AGENT}.bundle.script.cache`])
  return stdout === 'true'
}

test('the local target starts the cached start of the agent bundle, and V8 takes its code cache under the agents\' flags', async t => {
  t.is(defaultAgentCommand().at(-1), `${AGENT}.bundle.cached.js`, 'built (npm run build)')
  t.deepEqual(defaultAgentCommand().slice(1, -1), [...AGENT_NODE_FLAGS])
  t.false(await cacheRejected(AGENT_NODE_FLAGS))
  // another V8 flag: V8 refuses the cache (and the cached start compiles the source, below)
  t.true(await cacheRejected(['--max-semi-space-size=4']))
})

test('the cached start behaves as the ES module bundle: usage, unreadable params, with the cache or without', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-agent-bundle-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const params = join(dir, 'params.json')
  await writeFile(params, '{ "application": 3 }')
  for (const flags of [AGENT_NODE_FLAGS, ['--max-semi-space-size=4']]) {
    for (const args of [[], ['--params', join(dir, 'missing.json')], ['--params', params], ['--bogus']]) {
      const run = async (entry: string): Promise<{ exitCode: number | undefined, stderr: string }> => {
        const { exitCode, stderr } = await execa(process.execPath, [...flags, entry, ...args], { reject: false, cwd: dir })
        return { exitCode, stderr: stderr.replaceAll(dir, 'DIR') }
      }
      const cached = await run(`${AGENT}.bundle.cached.js`)
      t.deepEqual(cached, await run(`${AGENT}.bundle.js`), `${flags.join(' ')} ${args.join(' ')}`)
      t.not(cached.exitCode, 0)
      t.regex(cached.stderr, args[0] === '--params' ? /meshconf agent: agent params/ : /usage: /)
    }
  }
})

test('preferBundle: the cached start when it and its script are there, else the bundle, else the entry', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-prefer-bundle-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const entry = join(dir, 'x.js')
  t.is(preferBundle(entry), entry)
  await writeFile(join(dir, 'x.bundle.js'), '')
  t.is(preferBundle(entry), join(dir, 'x.bundle.js'))
  await writeFile(join(dir, 'x.bundle.cached.js'), '')
  t.is(preferBundle(entry), join(dir, 'x.bundle.js'), 'no script form beside it')
  await writeFile(join(dir, 'x.bundle.script.cjs'), '')
  t.is(preferBundle(entry), join(dir, 'x.bundle.cached.js'))
  t.is(preferBundle(join(dir, 'x.ts')), join(dir, 'x.ts'))
  t.true(readFileSync(`${AGENT}.bundle.cached.js`, 'utf8').includes('main.bundle.script.cache'))
})
