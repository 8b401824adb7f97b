// The CLI's verbs against a real DM, bad input included (unknown names, in-use deletes, a malformed target, a
// context that does not exist); the JSON convention of every read command checked against the shipped schema;
// completion in bash.
import test from 'ava'
import { execa } from 'execa'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { completionScript } from '../manager/commands/completion.js'
import { rememberContext } from '../manager/commands/dm.js'
import { runCliInProcess } from './cli-helpers.js'
import { startDm } from './cli-dm-helpers.js'
import { statuses, writeTemplate } from './dm-helpers.js'
import { validateCliDocument } from './helpers/cli-schema.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const validate = validateCliDocument

test('templates, applications and instances: list, show, create, rename, delete; in-use deletes refused naming the user', async t => {
  const { cli, template, dm } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop-a')).exitCode, 0)
  const created = await cli('app', 'create', 'shop-b', '--template', 'Shop', '--description', 'the second one')
  t.is(created.exitCode, 0, created.stderr)
  t.regex(created.stdout, /^created application shop-b from template Shop 1\.0/m)
  t.regex((await cli('app', 'show', 'shop-b')).stdout, /^application shop-b: template Shop 1\.0, created \d{4}-/m)
  const shown = await cli('template', 'show', 'Shop')
  t.regex(shown.stdout, /applications: shop-a, shop-b/)
  t.regex(shown.stdout, /^App +script +DB\.ip, DB\.port/m)

  const inUse = await cli('template', 'delete', 'Shop', '1.0')
  t.is(inUse.exitCode, 1)
  t.regex(inUse.stderr, /used by shop-a, shop-b/)
  const unknown = await cli('template', 'show', 'Nope')
  t.is(unknown.exitCode, 1)
  t.regex(unknown.stderr, /no template named "Nope" is loaded/)
  t.is((await cli('app', 'create', 'shop-c', '--template', 'Nope')).exitCode, 1)
  t.regex((await cli('app', 'show', 'nope')).stderr, /`meshconf app list` lists the applications/)
  // a long description is cut in the table (off a terminal: 60 characters), whole with -o wide
  const long = 'a third copy of the shop, for the load tests of the spring campaign, with its own database'
  t.is((await cli('app', 'create', 'shop-c', '--template', 'Shop', '--description', long)).exitCode, 0)
  const row = (await cli('app', 'list')).stdout.split('\n').find(l => l.startsWith('shop-c ')) ?? ''
  const cell = row.slice(row.indexOf('a third'))
  t.is(cell.length, 60, row)
  t.true(cell.endsWith('…') && long.startsWith(cell.slice(0, -1)), row)
  t.true((await cli('app', 'list', '-o', 'wide')).stdout.split('\n').some(l => l.startsWith('shop-c ') && l.endsWith(long)))
  t.is((await cli('app', 'delete', 'shop-c')).exitCode, 0)

  // rename: free name, NOT_DEPLOYED subtree
  const renamed = await cli('instance', 'rename', 'shop-b', '/vm2', 'web')
  t.is(renamed.exitCode, 0, renamed.stderr)
  t.deepEqual(Object.keys(statuses(dm.instances('shop-b'))), ['/vm1', '/vm1/db', '/web', '/web/app'])
  t.regex((await cli('instance', 'rename', 'shop-b', '/web', 'vm1')).stderr, /already/)
  t.regex((await cli('instance', 'rename', 'shop-b', '/web', 'bad/name')).stderr, /is invalid/)
  // the App imports the DB: both machines run
  t.is((await cli('start', 'shop-b', '--wait=90s')).exitCode, 0)
  const deployed = await cli('instance', 'rename', 'shop-b', '/web', 'web2')
  t.is(deployed.exitCode, 1)
  t.regex(deployed.stderr, /cannot rename \/web of shop-b: .* is DEPLOYED_STARTED.*undeploy it first/)
  const refusedApp = await cli('app', 'delete', 'shop-b')
  t.is(refusedApp.exitCode, 1)
  t.regex(refusedApp.stderr, /still has 2 deployed machines: \/vm1 \(DEPLOYED_STARTED\), \/web \(DEPLOYED_STARTED\); undeploy them first/)
  // --force: undeploy, then delete (Roboconf's command Delete)
  const forced = await cli('instance', 'delete', 'shop-b', '/web', '--force', '--wait=90s')
  t.is(forced.exitCode, 0, forced.stderr)
  t.deepEqual(Object.keys(statuses(dm.instances('shop-b'))), ['/vm1', '/vm1/db'])
  t.is((await cli('undeploy', 'shop-b', '--all', '--wait=90s')).exitCode, 0)
  t.is((await cli('app', 'delete', 'shop-b')).exitCode, 0)
  // once no application uses it, the template goes
  t.regex((await cli('template', 'delete', 'Shop', '1.0')).stderr, /used by shop-a\b/)
  t.is((await cli('app', 'delete', 'shop-a')).exitCode, 0)
  const deleted = await cli('template', 'delete', 'Shop', '1.0')
  t.is(deleted.exitCode, 0, deleted.stderr)
  t.like(JSON.parse((await cli('template', 'list', '-o', 'json')).stdout), { ok: true, templates: [] })
  t.regex((await cli('template', 'delete', 'Shop', '1.0')).stderr, /no application template Shop 1\.0: .*`meshconf template list` lists the templates/)
})

test('targets: add from flags or a file, list, show, associate; a malformed definition and an in-use delete are refused', async t => {
  const { cli, template, dir } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'shop')).exitCode, 0)
  t.is((await cli('target', 'add', 'spare', '--handler', 'in-process', '--property', 'a=b')).exitCode, 0)
  const file = join(dir.path, 'edge.target.properties')
  writeFileSync(file, 'handler = in-process\nname = edge machines\n')
  const noId = await cli('target', 'add', '--file', file)
  t.is(noId.exitCode, 1)
  t.regex(noId.stderr, /edge\.target\.properties: no "id" property \(Roboconf's REC_TARGET_NO_ID\)/)
  writeFileSync(file, 'id = edge\nhandler = in-process\nname = edge machines\nedge.zone = b\n')
  t.is((await cli('target', 'add', '--file', file)).exitCode, 0)
  const badHandler = await cli('target', 'add', 'cloud', '--handler', 'ec2')
  t.is(badHandler.exitCode, 1)
  t.regex(badHandler.stderr, /no target handler "ec2": use one of in-process/)
  t.regex((await cli('target', 'list')).stdout, /^edge +in-process +edge machines +edge\.zone=b$/m)

  t.is((await cli('target', 'associate', 'shop', '/vm1', 'edge')).exitCode, 0)
  t.is((await cli('target', 'associate', 'shop', 'spare')).exitCode, 0)
  t.regex((await cli('target', 'show', 'edge')).stdout, /associated with: shop \/vm1/)
  const inUse = await cli('target', 'delete', 'edge')
  t.is(inUse.exitCode, 1)
  t.regex(inUse.stderr, /in use by association shop \/vm1/)
  t.regex((await cli('target', 'show', 'nope')).stderr, /no target "nope"/)
  // the machine made on it is a user too
  t.is((await cli('start', 'shop', '/vm1', '--wait=90s')).exitCode, 0)
  t.regex((await cli('target', 'delete', 'edge')).stderr, /machine \/vm1 of shop \(DEPLOYED_STARTED\)/)
  t.is((await cli('undeploy', 'shop', '--all', '--wait=90s')).exitCode, 0)
  t.is((await cli('app', 'delete', 'shop')).exitCode, 0)
  t.is((await cli('target', 'delete', 'edge')).exitCode, 0)
})

test('contexts: add, list, use, delete; --context picks one; an unknown one exits 1 naming the known; dm start adds its own', async t => {
  const { url, token, home } = await startDm(t)
  const cli = async (...args: string[]) => await runCliInProcess(args, { home }) // no MESHCONF_DM: contexts only
  t.is((await cli('context', 'add', 'local', '--dm', url, '--token', token)).exitCode, 0)
  t.is((await cli('context', 'add', 'elsewhere', '--dm', 'http://127.0.0.1:9', '--token', 'x')).exitCode, 0)
  const list = JSON.parse((await cli('context', 'list', '-o', 'json')).stdout)
  t.like(list, { ok: true, current: 'local' })
  t.deepEqual(list.contexts.map((c: { name: string, token: string }) => `${c.name} ${c.token}`), ['local inline', 'elsewhere inline'])
  t.is((await cli('app', 'list')).exitCode, 0)
  t.is((await cli('app', 'list', '--context', 'elsewhere')).exitCode, 1)
  t.is((await cli('--context', 'local', 'app', 'list')).exitCode, 0)
  const unknown = await cli('app', 'list', '--context', 'prod', '-o', 'json')
  t.is(unknown.exitCode, 1)
  t.like(JSON.parse(unknown.stdout), { ok: false, code: 'CLI_UNKNOWN_CONTEXT' })
  t.regex(JSON.parse(unknown.stdout).message, /no context named "prod" .*known: local, elsewhere/)
  t.is((await cli('context', 'use', 'elsewhere')).exitCode, 0)
  t.is((await cli('app', 'list')).exitCode, 1)
  t.is((await cli('context', 'delete', 'elsewhere')).exitCode, 0)
  t.regex((await cli('context', 'use', 'nope')).stderr, /no context named "nope"/)

  // dm start: a context named after the data folder, current only when there was none
  const file = join(home, '.meshconf', 'config.json')
  t.is((await cli('context', 'use', 'local')).exitCode, 0)
  const first = await rememberContext({ url, dataDirectory: '/srv/meshconf/blue' }, false, file)
  t.regex(first.message, /^added context blue in .*config\.json; the current context stays local: use this DM with --context blue/)
  const second = await rememberContext({ url, dataDirectory: '/srv/other/blue' }, true, file)
  t.is(second.name, 'blue-2')
  t.regex(second.message, /it is the current context/)
})

test('every read command with -o json prints one document matching docs/cli-output.schema.json; errors too', async t => {
  const { cli, template } = await startDm(t)
  // a commands file and a rule, for the commands, history, rules and schedule reads
  for (const folder of ['commands', 'rules.autonomic']) mkdirSync(join(template, folder), { recursive: true })
  writeFileSync(join(template, 'commands', 'note.commands'), 'write a note into /note.txt\n')
  writeFileSync(join(template, 'rules.autonomic', 'note.drl'), 'rule "note"\nwhen\n  load-high\nthen\n  note\nend\n')
  t.is((await cli('app', 'load', template, '--name', 'shop', '-o', 'json')).exitCode, 0)
  t.is((await cli('start', 'shop', '--wait=90s', '-o', 'json')).exitCode, 0)
  t.is((await cli('commands', 'run', 'shop', 'note', '--wait=30s', '-o', 'json')).exitCode, 0)
  t.is((await cli('schedule', 'add', 'shop', 'note', '--cron', '0 3 * * *', '--name', 'nightly', '-o', 'json')).exitCode, 0)
  const reads = [
    ['app', 'list'], ['app', 'show', 'shop'], ['app', 'templates'], ['template', 'list'], ['template', 'show', 'Shop'],
    ['target', 'list'], ['target', 'show', 'default'], ['status', 'shop'], ['context', 'list'], ['validate', template],
    ['describe', 'shop', '/vm1/db'], ['describe', 'shop'], ['logs', 'shop', '/vm1'], ['events', 'shop'], ['history', 'shop'],
    ['rules', 'shop'], ['schedule', 'list'], ['commands', 'list', 'shop'], ['commands', 'show', 'shop', 'note'],
    ['stop', 'shop', '/vm2/app', '--wait=90s'], ['scale', 'shop', 'App', '--to', '1', '--dry-run']
  ]
  const errors = [
    ['app', 'show', 'nope'], ['template', 'show', 'Nope'], ['status', 'shop', '--wait=1s'], ['target', 'show', 'nope'],
    ['describe', 'shop', '/nope'], ['logs', 'shop', '/nope'], ['commands', 'show', 'shop', 'nope'],
    // the in-process target starts its agents itself: no params to hand over (dm-existing fetches some)
    ['machine', 'params', 'shop', '/vm1']
  ]
  for (const args of [...reads, ...errors]) {
    const r = await cli(...args, '-o', 'json')
    let document: { ok?: unknown }
    try {
      document = JSON.parse(r.stdout)
    } catch {
      t.fail(`${args.join(' ')}: not one JSON document: ${r.stdout} ${r.stderr}`)
      continue
    }
    t.true(validate(document), `${args.join(' ')}: ${JSON.stringify(validate.errors)}`)
    t.is(document.ok, r.exitCode === 0, `${args.join(' ')}: ${r.stdout.slice(0, 300)}`)
    t.is(r.exitCode === 0, reads.includes(args), `${args.join(' ')}: exit ${r.exitCode}: ${r.stdout.slice(0, 300)}`)
  }
  const yaml = await cli('app', 'list', '-o', 'yaml')
  t.regex(yaml.stdout, /^ok: true\napplications:\n {2}- name: shop$/m)
  // a document without ok, or with seconds, does not pass: the schema can fail
  t.false(validate({ applications: [] }))
  t.false(validate({ ok: true, reached: [{ path: '/a', seconds: 1.5 }] }))
  t.false(validate({ ok: true, createdAt: '12/06/2026' }))
})

test('completion in bash: commands, subcommands, options, applications and instance paths from the DM', async t => {
  const { template, url, token, home, cli } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'my shop')).exitCode, 0)
  const entry = join(ROOT, 'test', 'dm-cli-entry.ts')
  const complete = async (line: string): Promise<string[]> => {
    const script = `${completionScript('bash')}
meshconf () { node --import=tsx ${JSON.stringify(entry)} "$@"; }
COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}; COMP_WORDS=($COMP_LINE); COMP_CWORD=\${#COMP_WORDS[@]}
_meshconf
printf '%s\\n' "\${COMPREPLY[@]}"`
    const r = await execa('bash', ['-c', script], { env: { ...process.env, HOME: home, MESHCONF_DM: url, MESHCONF_TOKEN: token }, cwd: ROOT })
    return r.stdout.split('\n').filter(Boolean)
  }
  t.true((await complete('meshconf st')).includes('start'))
  t.deepEqual(await complete('meshconf st'), ['start', 'status', 'stop'])
  t.deepEqual(await complete('meshconf template '), ['delete', 'list', 'show'])
  t.true((await complete('meshconf app list --')).includes('--output'))
  t.deepEqual(await complete('meshconf status '), ['my\\ shop'])
  t.deepEqual(await complete('meshconf start "my shop" /v'), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])
  t.deepEqual(await complete('meshconf app list -o '), ['json', 'table', 'wide', 'yaml'])
  // the script itself, and the generated words, go through compgen as bash's own completion does
  const compgen = await execa('bash', ['-c', `${completionScript('bash')}\ncomplete -p meshconf; compgen -W "$(printf '%s ' start status stop)" -- sta`])
  t.regex(compgen.stdout, /^complete (-o (nospace|default) ){2}-F _meshconf meshconf$/m)
  t.deepEqual(compgen.stdout.split('\n').slice(1), ['start', 'status'])
})

test('completion in zsh and fish: the scripts parse, register with the shell, and complete commands and applications from the DM', async t => {
  const { template, url, token, home, cli, dir } = await startDm(t)
  t.is((await cli('app', 'load', template, '--name', 'my shop')).exitCode, 0)
  const entry = JSON.stringify(join(ROOT, 'test', 'dm-cli-entry.ts'))
  const env = { ...process.env, HOME: home, MESHCONF_DM: url, MESHCONF_TOKEN: token }
  for (const shell of ['zsh', 'fish'] as const) {
    const file = join(dir.path, `meshconf.${shell}`)
    writeFileSync(file, completionScript(shell))
    const parsed = await execa(shell, ['-n', file], { reject: false })
    t.is(parsed.exitCode, 0, `${shell} -n: ${parsed.stderr}`)
    // and -n does find a broken script
    writeFileSync(file, completionScript(shell).replace(/\n\}\n|\)'\n/, '\n'))
    t.not((await execa(shell, ['-n', file], { reject: false })).exitCode, 0, `${shell} -n on a broken script`)
  }

  // zsh: compinit's compdef registers the function; compadd exists only inside a completion widget, so the test
  // takes what the function hands it
  const zsh = async (line: string): Promise<string[]> => {
    const script = `autoload -U compinit && compinit -u -d ${JSON.stringify(join(dir.path, '.zcompdump'))}
meshconf () { node --import=tsx ${entry} "$@"; }
${completionScript('zsh')}
print -r -- "registered: $_comps[meshconf]"
compadd () { while [[ $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }
BUFFER=${JSON.stringify(line)}; CURSOR=\${#BUFFER}
_meshconf`
    const r = await execa('zsh', ['-f', '-c', script], { env, cwd: ROOT })
    return r.stdout.split('\n').filter(Boolean)
  }
  t.deepEqual(await zsh('meshconf st'), ['registered: _meshconf', 'start', 'status', 'stop'])
  t.deepEqual(await zsh('meshconf status '), ['registered: _meshconf', 'my\\ shop'])
  t.deepEqual(await zsh('meshconf start "my shop" /v'), ['registered: _meshconf', '/vm1', '/vm1/db', '/vm2', '/vm2/app'])

  // fish: its own completion engine (complete -C) runs the script's rule
  const fish = async (line: string): Promise<string[]> => {
    const script = `function meshconf; node --import=tsx ${entry} $argv; end
${completionScript('fish')}
complete -C ${JSON.stringify(line)}`
    const r = await execa('fish', ['--no-config', '-c', script], { env, cwd: ROOT })
    return r.stdout.split('\n').filter(Boolean)
  }
  t.deepEqual(await fish('meshconf st'), ['start', 'status', 'stop'])
  t.deepEqual(await fish('meshconf template '), ['delete', 'list', 'show'])
  t.deepEqual(await fish('meshconf status '), ['my shop'])
  t.deepEqual(await fish("meshconf start 'my shop' /v"), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])
})

test('the DM refuses a template whose puppet manifest Puppet cannot parse (REC_PUPPET_SYNTAX_ERROR), and loads it fixed', async t => {
  const { cli, dir } = await startDm(t)
  const manifest = 'graph/Web/roboconf_web/manifests/init.pp'
  const files = {
    'descriptor/application.properties': 'name = Puppet\nversion = 1.0\ngraph-entry-point = main.graph\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Web;\n}\nWeb {\n  installer: puppet;\n}\n',
    [manifest]: 'class roboconf_web($runningState = undef, $importDiff = undef) {\n  notify { "web": \n}\n'
  }
  const template = writeTemplate(join(dir.path, 'puppet'), files)
  const refused = await cli('app', 'load', template)
  t.is(refused.exitCode, 1)
  t.regex(refused.stderr, /graph\/Web\/roboconf_web\/manifests\/init\.pp.*REC_PUPPET_SYNTAX_ERROR/)
  writeTemplate(template, { [manifest]: 'class roboconf_web($runningState = undef, $importDiff = undef) {\n  notify { "web": }\n}\n' })
  const loaded = await cli('app', 'load', template)
  t.is(loaded.exitCode, 0, loaded.stderr)
})
