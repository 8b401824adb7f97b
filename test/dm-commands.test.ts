// Commands files executed by a real DM on real agent processes (local target, embedded WebSocket messaging): every
// instruction, $(SMART_INDEX) and $(EXISTING_INDEX ...) on the live instances, the history of each instruction, the
// REST endpoints and the CLI (`meshconf commands`, `meshconf history`).
import test from 'ava'
import { existsSync, readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createRestServer } from '../manager/rest/server.js'
import { createStore } from '../manager/store.js'
import { createLocalTarget } from '../manager/targets/local.js'
import { runCliInProcess } from './cli-helpers.js'
import { agentCommandFromSources, statuses, tempDir, writeTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

/** A loopback SMTP server that keeps what it is sent (the test's own relay). */
async function smtpRelay (t: { teardown: (fn: () => void) => void }): Promise<{ port: number, messages: Array<{ from: string, to: string[], data: string }> }> {
  const messages: Array<{ from: string, to: string[], data: string }> = []
  const server = createServer((socket: Socket) => {
    let from = ''; let to: string[] = []; let data: string | undefined; let buffer = ''
    socket.write('220 test relay\r\n')
    socket.on('data', chunk => {
      buffer += chunk.toString('utf8')
      let end: number
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (data !== undefined) {
          if (line === '.') { messages.push({ from, to, data }); data = undefined; socket.write('250 queued\r\n') } else data += `${line}\n`
        } else if (/^HELO/i.test(line)) socket.write('250 hello\r\n')
        else if (/^MAIL FROM:<(.*)>/i.test(line)) { from = /<(.*)>/.exec(line)![1]; to = []; socket.write('250 ok\r\n') }
        else if (/^RCPT TO:<(.*)>/i.test(line)) { to.push(/<(.*)>/.exec(line)![1]); socket.write('250 ok\r\n') }
        else if (/^DATA/i.test(line)) { data = ''; socket.write('354 go on\r\n') }
        else if (/^QUIT/i.test(line)) { socket.end('221 bye\r\n') }
        else socket.write('500 what\r\n')
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { port: (server.address() as { port: number }).port, messages }
}

/** Tomcat machines; each recipe appends "<instance path> <step>" to the journal. */
function writeWebTemplate (root: string, journal: string): string {
  const recipes: Record<string, string> = {}
  for (const step of ['deploy', 'start', 'stop', 'undeploy']) recipes[`graph/Tomcat/scripts/${step}.sh`] = `#!/bin/bash\necho "$ROBOCONF_INSTANCE_PATH ${step}" >> '${journal}'\n`
  return writeTemplate(root, {
    'descriptor/application.properties': 'name = Web\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Tomcat;\n}\nTomcat {\n  installer: script;\n  exports: ip, port = 8080;\n}\n',
    'instances/initial.instances': 'instance of VM {\n  name: vm 1;\n  instance of Tomcat {\n    name: tomcat;\n  }\n}\n',
    ...recipes,
    // two new machines, each named with the first free index, deployed and started
    'commands/grow.commands': [
      'define N = vm $(SMART_INDEX)', 'replicate /vm 1 as $(N)', 'deploy and start all /$(N)',
      'define M = vm $(SMART_INDEX)', 'create VM as $(M)', 'create Tomcat as tomcat under /$(M)', 'deploy and start all /$(M)'
    ].join('\n'),
    // the highest-numbered machine stopped then removed; a query matching nothing disables its lines
    'commands/shrink.commands': [
      'define LAST = vm $(EXISTING_INDEX MAX)', 'stop all /$(LAST)', 'delete /$(LAST)',
      'define NONE = vm $(EXISTING_INDEX MIN > 50)', 'delete /$(NONE)', 'append shrunk into %TMP%/log.txt'
    ].join('\n'),
    'commands/misc.commands': [
      'create VM as spare', 'rename /spare as spare 2', 'associate /spare 2 with other',
      'change status of /spare 2 to DEPLOYED_STARTED', 'change status of /spare 2/tomcat to DEPLOYED_STARTED',
      'write one into /reports/out.txt', 'append two into /reports/out.txt', 'execute notify',
      'undeploy all /spare 2', 'delete all instances of Tomcat', 'change status of /vm 1 to NOT_DEPLOYED'
    ].join('\n').replace('create VM as spare', 'create VM as spare\ncreate Tomcat as tomcat under /spare'),
    'commands/notify.commands': 'email ops@example.org, dev@example.org with Subject: spare up\\nThe spare machine runs.\n',
    'commands/broken.commands': 'write x into /ok.txt\nstop all /vm 1/tomcat\n',
    'commands/escape.commands': 'write x into /link/out.txt\nwrite y into /after.txt\n'
  })
}

async function realDm (t: Parameters<typeof smtpRelay>[0] & { timeout: (ms: number) => void }) {
  t.timeout(300_000)
  const dir = tempDir('dm-commands')
  const { token } = loadOrCreateToken(dir.path)
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }
  const messaging = createEmbeddedMessaging({ dmToken: token, port: 0, logger: quiet })
  const target = createLocalTarget({ machinesDirectory: join(dir.path, 'machines'), agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 300 })
  const relay = await smtpRelay(t)
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet },
    { dataDirectory: dir.path, autonomy: { smtp: { host: '127.0.0.1', port: relay.port, from: 'dm@example.org' }, instructionWaitMs: 120_000 } })
  await dm.start()
  const server = createRestServer({ dm, token }, { port: 0 })
  const url = await server.start()
  t.teardown(async () => {
    for (const app of dm.listApplications()) await dm.deleteApplication(app.name).catch(() => {})
    await server.stop()
    await dm.stop()
    store.close()
    dir.remove()
  })
  const journal = join(dir.path, 'journal.txt')
  await dm.loadTemplateFromPath(writeWebTemplate(join(dir.path, 'template'), journal))
  dm.createApplication({ name: 'web', template: { name: 'Web', version: '1.0' } })
  dm.createTarget({ id: 'other', handler: 'local', properties: {} })
  const cli = async (...args: string[]) => await runCliInProcess(args, { home: join(dir.path, 'home'), env: { MESHCONF_DM: url, MESHCONF_TOKEN: token } })
  const readJournal = (): string[] => existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n') : []
  return { dir, dm, store, relay, cli, readJournal }
}

test('every instruction runs on real agent processes, in sequence, each in the history', async t => {
  const { dir, dm, store, relay, cli, readJournal } = await realDm(t)
  dm.action('web', { action: 'deploy-and-start-all' })
  await waitFor('vm 1 started', () => dm.instance('web', '/vm 1/tomcat').status === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })

  // $(SMART_INDEX): vm 2 (a replica of vm 1) and vm 3 (created), both deployed before the file ends
  const grow = await dm.autonomy.runCommands('web', 'grow')
  t.true(grow.ok, JSON.stringify(grow.instructions))
  t.deepEqual(grow.instructions.map(i => i.text), [
    'define N = vm $(SMART_INDEX)', 'replicate /vm 1 as vm 2', 'deploy and start all /vm 2',
    'define M = vm $(SMART_INDEX)', 'create VM as vm 3', 'create Tomcat as tomcat under /vm 3', 'deploy and start all /vm 3'
  ])
  t.like(statuses(dm.instances('web')), { '/vm 2/tomcat': 'DEPLOYED_STARTED', '/vm 3/tomcat': 'DEPLOYED_STARTED' })
  t.true(readJournal().includes('/vm 3/tomcat start'))

  // $(EXISTING_INDEX MAX) is vm 3: stopped (its stop recipe ran), then undeployed and deleted; MIN > 50 matched nothing
  const shrink = await dm.autonomy.runCommands('web', 'shrink', { who: { source: 'schedule', name: 'nightly' } })
  t.true(shrink.ok, JSON.stringify(shrink.instructions))
  t.deepEqual(shrink.instructions.map(i => `${i.text}: ${i.outcome}`), [
    'define LAST = vm $(EXISTING_INDEX MAX): ok', 'stop all /vm 3: ok', 'delete /vm 3: ok', 'define NONE = vm $(EXISTING_INDEX MIN > 50): skipped',
    'delete /fake: skipped', `append shrunk into %TMP%/log.txt: ok`
  ])
  t.deepEqual(readJournal().filter(l => l.startsWith('/vm 3/')), ['/vm 3/tomcat deploy', '/vm 3/tomcat start', '/vm 3/tomcat stop', '/vm 3/tomcat undeploy'])
  t.false(Object.keys(statuses(dm.instances('web'))).includes('/vm 3'))
  t.is(readFileSync(join(dir.path, 'command-files', 'tmp', 'log.txt'), 'utf8'), 'shrunk\n')

  // the rest: create, rename, associate, change status (machine and child), write, append, execute (email), undeploy
  // all, delete all instances of, a machine undeployed through its status
  const misc = await dm.autonomy.runCommands('web', 'misc')
  t.true(misc.ok, JSON.stringify(misc.instructions, null, 1))
  t.is(readFileSync(join(dir.path, 'command-files', 'reports', 'out.txt'), 'utf8'), 'one\ntwo\n')
  t.is(relay.messages.length, 1)
  t.like(relay.messages[0], { from: 'dm@example.org', to: ['ops@example.org', 'dev@example.org'] })
  t.regex(relay.messages[0].data, /^Subject: spare up$/m)
  t.regex(relay.messages[0].data, /^The spare machine runs\.$/m)
  t.true(readJournal().includes('/spare 2/tomcat start'))
  t.true(readJournal().includes('/spare 2/tomcat undeploy'))
  t.deepEqual(store.targetAssociations('web').filter(a => a.scope.kind === 'path').map(a => [a.scope, a.targetId]), [[{ kind: 'path', path: '/spare 2' }, 'other']])
  // every Tomcat deleted (each undeployed first), and vm 1's machine undeployed
  t.deepEqual(statuses(dm.instances('web')), { '/vm 1': 'NOT_DEPLOYED', '/vm 2': 'DEPLOYED_STARTED', '/spare 2': 'NOT_DEPLOYED' })

  // history: each instruction with who ran it, its outcome and duration, newest first; the nested file's line too
  const { total, entries } = dm.autonomy.history('web', { offset: 0, limit: 100 })
  t.is(total, grow.instructions.length + shrink.instructions.length + misc.instructions.length + 1)
  t.like(entries.find(e => e.command === 'notify'), { source: 'user', outcome: 'ok', line: 1, executionId: misc.executionId })
  t.like(entries.find(e => e.instruction === 'stop all /vm 3'), { command: 'shrink', source: 'schedule', sourceName: 'nightly', outcome: 'ok' })
  t.true(entries.find(e => e.instruction === 'deploy and start all /vm 2')!.durationMs > 0)

  // CLI: list, show, history
  const list = await cli('commands', 'list', 'web')
  t.is(list.exitCode, 0, list.stderr)
  t.regex(list.stdout, /^grow {2}7 instruction\(s\)$/m)
  const history = await cli('history', 'web', '--limit', '3', '--json')
  t.is(history.exitCode, 0, history.stderr)
  t.like(JSON.parse(history.stdout), { total, limit: 3, offset: 0 })
  t.is(JSON.parse(history.stdout).entries.length, 3)
})

test('a file that does not validate runs nothing; a failure stops the file; write cannot leave the data folder; dry run', async t => {
  const { dir, dm, cli } = await realDm(t)
  // valid when the template was loaded; not any more once /vm 1/tomcat is gone
  dm.removeInstance('web', '/vm 1/tomcat')
  const broken = await cli('commands', 'run', 'web', 'broken')
  t.is(broken.exitCode, 1)
  t.regex(broken.stderr, /line 2: CMD_NO_MATCHING_INSTANCE/)
  t.false(existsSync(join(dir.path, 'command-files', 'ok.txt')))
  const show = await cli('commands', 'show', 'web', 'broken')
  t.is(show.exitCode, 1)
  t.regex(show.stderr, /commands\/broken\.commands:2: SEVERE CMD_NO_MATCHING_INSTANCE/)

  // a symbolic link inside the data folder pointing out of it: the write fails, the file stops there
  mkdirSync(join(dir.path, 'command-files'), { recursive: true })
  symlinkSync('/tmp', join(dir.path, 'command-files', 'link'))
  const escape = await dm.autonomy.runCommands('web', 'escape')
  t.false(escape.ok)
  t.deepEqual(escape.instructions.map(i => i.outcome), ['error', 'skipped'])
  t.regex(escape.instructions[0].detail, /outside the DM's data folder/)
  t.false(existsSync(join(dir.path, 'command-files', 'after.txt')))

  const dry = await cli('commands', 'run', 'web', 'grow', '--dry-run', '--json')
  t.is(dry.exitCode, 0, dry.stderr)
  t.like(JSON.parse(dry.stdout), { dryRun: true, ok: true })
  t.deepEqual(Object.keys(statuses(dm.instances('web'))), ['/vm 1'])
  const unknown = await cli('commands', 'run', 'web', 'nope')
  t.is(unknown.exitCode, 1)
  t.regex(unknown.stderr, /no commands file "nope".*use one of broken, escape, grow, misc, notify, shrink/)
})

test('an application deleted while a commands file waits for its instances ends the run with an error, not the DM', async t => {
  const { startInProcessDm } = await import('./dm-helpers.js')
  const { dm, dir, store } = await startInProcessDm(t, 'dm-commands-deleted')
  const gate = join(dir.path, 'gate')
  await dm.loadTemplateFromPath(writeTemplate(join(dir.path, 'template'), {
    'descriptor/application.properties': 'name = Slow\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n',
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Tomcat;\n}\nTomcat {\n  installer: script;\n}\n',
    // the start waits until the test opens the gate: the run waits for DEPLOYED_STARTED meanwhile
    'graph/Tomcat/scripts/start.sh': `#!/bin/bash\nwhile [ ! -e '${gate}' ]; do sleep 0.1; done\n`,
    'instances/main.instances': 'instance of VM {\n  name: vm 1;\n  instance of Tomcat {\n    name: tomcat;\n  }\n}\n',
    'commands/up.commands': 'deploy and start all /vm 1\n'
  }))
  dm.createApplication({ name: 'slow', template: { name: 'Slow', version: '1.0' } })
  const run = dm.autonomy.runCommands('slow', 'up')
  await waitFor('the start recipe running', () => dm.instance('slow', '/vm 1/tomcat').status === 'STARTING')
  t.teardown(() => { writeFileSync(gate, '') })
  // gone from the store under the run, as when its machine's undeploy is stuck and another request deletes it
  store.deleteApplication('slow')
  const execution = await run
  t.false(execution.ok)
  t.like(execution.instructions[0], { outcome: 'error' })
  t.regex(execution.instructions[0].detail, /slow/)
  t.deepEqual(dm.listApplications().map(a => a.name), [])
})
