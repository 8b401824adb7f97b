// The README's commands are tests: every command of its usage section ("## Using it"), in order, as written,
// against a real DM with local machines (agent processes running the LAMP example's recipes). HOME is a temp folder:
// `dm start` keeps its data in it and adds the context every later command uses. The one addition: `dm start` gets
// `--port 0 --agents-port 0`, so that it shares this machine with other tests.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { splitCommandLine } from '../manager/commands/completion.js'
import { runCli, spawnCli, waitForOutput } from './cli-helpers.js'
import { tempDir } from './dm-helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The commands of the README's usage section: the first code block under "## Using it", comments dropped. */
export function readmeCommands (readme: string): string[][] {
  const section = readme.slice(readme.indexOf('## Using it'))
  const lines = section.split('\n')
  const first = lines.findIndex(l => l.startsWith('    '))
  const block: string[] = []
  for (const line of lines.slice(first)) {
    if (!line.startsWith('    ')) break
    block.push(line.trim())
  }
  return block.map(line => {
    const words = splitCommandLine(line)
    const comment = words.findIndex(w => w.startsWith('#'))
    return (comment < 0 ? words : words.slice(0, comment)).filter(w => w !== '')
  })
}

test('the README parses into commands that all start with npx meshconf', t => {
  const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'))
  t.true(commands.length >= 10)
  for (const c of commands) t.deepEqual(c.slice(0, 2), ['npx', 'meshconf'], c.join(' '))
  t.deepEqual(commands[0], ['npx', 'meshconf', 'dm', 'start'])
  // the names are the shipped example's
  t.true(commands.some(c => c.includes('LAMP')))
  t.false(commands.some(c => c.join(' ').includes('Legacy LAMP')))
})

test('every command of the README\'s usage section runs as written, in order, against a real DM', async t => {
  t.timeout(600_000)
  const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8')).map(c => c.slice(2))
  const dir = tempDir('cli-readme')
  const home = join(dir.path, 'home')
  const [start, ...rest] = commands
  const dm = spawnCli([...start, '--port', '0', '--agents-port', '0'], { home, timeoutMs: 590_000 })
  t.teardown(async () => {
    dm.kill('SIGTERM')
    await dm.catch(() => {})
    dir.remove()
  })
  await waitForOutput(dm, /^added context \S+ in /m)
  const outputs: string[] = []
  for (const args of rest) {
    const r = await runCli(args, { home, timeoutMs: 300_000 })
    t.is(r.exitCode, 0, `meshconf ${args.join(' ')}\n${r.stdout}\n${r.stderr}`)
    if (r.exitCode !== 0) return
    outputs.push(r.stdout)
  }
  // a few of the answers: the context dm start made, the two applications, the plan undone, the target's users
  const at = (words: string): string => outputs[rest.findIndex(c => c.join(' ') === words)]
  t.regex(at('context list'), /^\* +dm +http:\/\/127\.0\.0\.1:\d+ +file .*token$/m)
  t.regex(at('app list'), /^LAMP +LAMP 1\.0\.0 /m)
  t.regex(at('app list'), /^LAMP-2 +LAMP 1\.0\.0 /m)
  t.like(JSON.parse(at('scale LAMP Tomcat --to 1 -o json')), { ok: true, removed: ['/Tomcat VM 2'] })
  t.regex(at('target show spare'), /associated with: LAMP-2 \(application default\)/)
})
