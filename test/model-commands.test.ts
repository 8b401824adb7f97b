// Commands files (reference §6.3): the corpus's commands rows against their expected outcomes (MANIFEST.tsv), parsed
// against Roboconf's TestApplication (tomcat-vm/tomcat-server/hello-world, mysql-vm/mysql-server), and the rules
// each instruction checks.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  allInstances, dataFilePath, loadApplicationTemplateFromFiles, parseCommands, type ApplicationTemplate, type CommandsContext
} from '../protocol/model/index.js'
import { corpus, corpusTest } from './helpers/corpus.js'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Roboconf's TestApplication (core/.../internal/tests/TestApplicationTemplate.java) as a template. */
function testApplication (commands: Record<string, string> = {}): ApplicationTemplate {
  const files: Record<string, Uint8Array> = {
    'descriptor/application.properties': utf8('name = test-app\nversion = 1.0.1\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n'),
    'graph/main.graph': utf8([
      'vm {\ninstaller: target;\nchildren: mysql, tomcat;\n}',
      'tomcat {\ninstaller: puppet;\nchildren: war;\n}',
      'mysql {\ninstaller: puppet;\nexports: port = 3306, ip;\n}',
      'war {\ninstaller: script;\nexports: port = 8080, ip;\nimports: mysql.port, mysql.ip;\n}'
    ].join('\n')),
    'graph/vm/target.properties': utf8('id = t\nhandler = in-memory\nname = t\n'),
    'instances/main.instances': utf8([
      'instance of vm {\nname: mysql-vm;\ninstance of mysql {\nname: mysql-server;\n}\n}',
      'instance of vm {\nname: tomcat-vm;\ninstance of tomcat {\nname: tomcat-server;\ninstance of war {\nname: hello-world;\n}\n}\n}'
    ].join('\n'))
  }
  // recipe folders Roboconf's recipe checks accept: one roboconf_* Puppet module, a scripts/ folder
  for (const c of ['tomcat', 'mysql']) files[`graph/${c}/roboconf_${c}/manifests/init.pp`] = utf8(`class roboconf_${c}($runningState = undef, $importDiff = undef) {\n}\n`)
  files['graph/war/scripts/deploy.sh'] = utf8('true\n')
  for (const [name, text] of Object.entries(commands)) files[`commands/${name}.commands`] = utf8(text)
  const { template, errors } = loadApplicationTemplateFromFiles(files, undefined, { smtp: true })
  if (template === undefined) throw new Error(`test application: ${JSON.stringify(errors)}`)
  return template
}

function contextOf (template: ApplicationTemplate, commandFiles: Record<string, string> = {}, smtp = true): CommandsContext {
  return {
    components: template.components,
    instances: allInstances(template.rootInstances).map(i => [i.path, i.component] as const),
    commandFiles,
    smtp
  }
}

const app = testApplication()

interface Row { file: string, expected: string, stage: string }
const rows: Row[] = corpus === undefined ? [] : readFileSync(join(corpus, 'MANIFEST.tsv'), 'utf8').split('\n').slice(1).filter(l => l.trim() !== '')
  .map(l => l.split('\t')).map(c => ({ file: c[0], expected: c[1], stage: c[3] })).filter(r => r.stage === 'commands')

/** `CMD_X@line2 (...), then CMD_Y@3, @4, @7` -> [[CMD_X, 2], [CMD_Y, 3], [CMD_Y, 4], [CMD_Y, 7]] */
function expectedErrors (text: string): Array<[string, number]> {
  const result: Array<[string, number]> = []
  let code = ''
  for (const m of text.matchAll(/(CMD_[A-Z_]+)?@(?:line)?(\d+)/g)) {
    code = m[1] ?? code
    result.push([code, Number(m[2])])
  }
  return result
}

corpusTest('the corpus has the commands rows this test checks', t => {
  t.is(rows.length, 6)
})

for (const row of rows) {
  corpusTest(`corpus ${row.file}: ${row.expected.split(':')[0]}`, t => {
    const text = readFileSync(join(corpus!, row.file), 'utf8')
    // Roboconf's test copies single-line-commands.txt next to all-commands.txt as the target of its 'execute'
    const others = { 'single-line-commands': readFileSync(join(corpus!, 'valid/commands/single-line-commands.txt'), 'utf8') }
    const name = row.file.split('/').pop()!.replace(/\.txt$/, '')
    const { instructions, errors } = parseCommands(text, `commands/${name}.commands`, contextOf(app, others))
    const found = errors.map(e => [e.code, e.line ?? 0] as [string, number])
    const count = /(\d+) (?:instructions|[A-Z]\w+Instruction)/.exec(row.expected)
    if (count !== null) t.is(instructions.length, Number(count[1]), 'instructions')
    if (row.expected.startsWith('COMMANDS_OK')) {
      t.deepEqual(found, [])
    } else {
      const errorCount = /exactly (\d+) errors/.exec(row.expected)
      t.deepEqual(found, expectedErrors(row.expected))
      t.is(found.length, Number(errorCount?.[1]))
    }
  })
}

corpusTest('query indexes: three replicas get free indexes, MIN/MAX find them, a query matching nothing disables the lines using it', t => {
  const text = readFileSync(join(corpus!, 'valid/commands/commands-with-query-indexes.txt'), 'utf8')
  const { instructions, errors } = parseCommands(text, 'commands/q.commands', contextOf(app))
  t.deepEqual(errors, [])
  t.deepEqual(instructions.filter(i => i.kind === 'replicate').map(i => i.kind === 'replicate' && i.name), ['vm 1', 'vm 2', 'vm 3'])
  t.deepEqual(instructions.map(i => i.disabled), [false, false, false, false, false, false, false, false, false, false, true, true, true, true, false])
  const bulk = instructions.filter(i => i.kind === 'bulk' && !i.disabled).map(i => i.kind === 'bulk' && `${i.action} ${i.path ?? ''}`)
  t.deepEqual(bulk, ['deploy-and-start-all /vm 3', 'undeploy-all /vm 1'])
})

corpusTest('an e-mail keeps its line breaks; without an SMTP setting it is refused with a clear error', t => {
  const text = readFileSync(join(corpus!, 'valid/commands/email-command-with-line-breaks.txt'), 'utf8')
  const ok = parseCommands(text, 'commands/mail.commands', contextOf(app))
  const email = ok.instructions[0]
  t.is(email.kind, 'email')
  if (email.kind === 'email') {
    t.deepEqual(email.to, ['toto@company.net'])
    t.is(email.message, 'Subject: Alert!\nThis is an alert.')
  }
  const refused = parseCommands(text, 'commands/mail.commands', contextOf(app, {}, false))
  t.deepEqual(refused.errors.map(e => [e.code, e.line]), [['MC_EMAIL_NO_SMTP', 2]])
  t.regex(refused.errors[0].message, /SMTP/)
})

test('write and append stay inside the DM data folder', t => {
  t.is(dataFilePath('/this/file'), 'this/file')
  t.is(dataFilePath('%TMP%/report.txt'), 'tmp/report.txt')
  t.is(dataFilePath('a/../b'), 'b')
  t.is(dataFilePath('../../etc/passwd'), undefined)
  t.is(dataFilePath('/a/../../etc'), undefined)
  const { errors } = parseCommands('write x into /../../etc/passwd\nappend y into ok.txt', 'commands/w.commands', contextOf(app))
  t.deepEqual(errors.map(e => [e.code, e.line]), [['MC_FILE_OUTSIDE_DATA_FOLDER', 1]])
})

test('each instruction checks the model as the lines above left it', t => {
  const text = [
    'create vm as tomcat-vm', // 1: conflicting
    'create tomcat as t1', // 2: needs a parent
    'create tomcat as t1 under /mysql-vm/mysql-server', // 3: not an acceptable parent
    'create vm as v1 under /mysql-vm', // 4: a root has no parent
    'create nothing as x', // 5: no such component
    'replicate /tomcat-vm/tomcat-server as copy', // 6: not a root
    'rename /tomcat-vm as mysql-vm', // 7: conflicting sibling
    'change status of /tomcat-vm to STARTING', // 8: instable
    'change status of /tomcat-vm to RUNNING', // 9: invalid status
    'associate /tomcat-vm/tomcat-server with t', // 10: not scoped
    'delete /tomcat-vm', // 11
    'stop all /tomcat-vm', // 12: deleted above
    'create vm as bad/name', // 13: invalid instance name
    'execute other', // 14: no such file
    'execute self', // 15: itself
    'define = x', // 16: empty variable name
    'define T = $(FORMATTED_TIME yyyy-MM-dd) x', // 17: mixed
    "define T = $(FORMATTED_TIME yyyy-qq)", // 18: invalid letter
    'define I = vm $(EXISTING_INDEX MEDIAN)', // 19: invalid query
    'email someone@example.org with', // 20: unrecognised? no: no message -> syntax
    'deploy and start all instances of nothing' // 21: no such component
  ].join('\n')
  const { errors } = parseCommands(text, 'commands/self.commands', contextOf(app))
  t.deepEqual(errors.map(e => `${e.line} ${e.code}`), [
    '1 CMD_CONFLICTING_INSTANCE_NAME', '2 CMD_MISSING_PARENT_INSTANCE', '3 CMD_NOT_AN_ACCEPTABLE_PARENT', '4 CMD_CANNOT_HAVE_ANY_PARENT',
    '5 CMD_INEXISTING_COMPONENT', '6 CMD_NOT_A_ROOT_INSTANCE', '7 CMD_CONFLICTING_INSTANCE_NAME', '8 CMD_INSTABLE_INSTANCE_STATUS',
    '9 CMD_INVALID_INSTANCE_STATUS', '10 CMD_NOT_A_SCOPED_INSTANCE', '12 CMD_NO_MATCHING_INSTANCE', '13 CMD_INVALID_INSTANCE_NAME',
    '14 CMD_INEXISTING_COMMAND', '15 CMD_LOOPING_COMMAND', '16 CMD_EMPTY_VARIABLE_NAME', '17 CMD_NO_MIX_FOR_PATTERNS',
    '18 CMD_INVALID_DATE_PATTERN', '19 CMD_INVALID_INDEX_PATTERN', '20 CMD_INVALID_SYNTAX', '21 CMD_INEXISTING_COMPONENT'
  ])
  for (const e of errors) t.is(e.file, 'commands/self.commands')
})

test('$(SMART_INDEX) under a parent, renames and replicas seen by the lines after them', t => {
  const text = [
    'define N = server $(SMART_INDEX) under /tomcat-vm',
    'create tomcat as $(N) under /tomcat-vm',
    'define M = server $(SMART_INDEX) under /tomcat-vm',
    'rename /tomcat-vm as web-vm',
    'replicate /web-vm as web-vm-2',
    'stop all /web-vm-2/server 1',
    'define T = $(FORMATTED_TIME yyyy)'
  ].join('\n')
  const { instructions, errors } = parseCommands(text, 'commands/x.commands', { ...contextOf(app), now: () => new Date(2024, 0, 2) })
  t.deepEqual(errors, [])
  t.deepEqual(instructions.filter(i => i.kind === 'define').map(i => i.kind === 'define' && i.value), ['server 1', 'server 2', '2024'])
})

test('a nasty loop: executing a file that executes itself is refused', t => {
  const { errors } = parseCommands('execute loop', 'commands/a.commands', contextOf(app, { loop: 'EXECUTE loop' }))
  t.deepEqual(errors.map(e => e.code), ['CMD_NASTY_LOOPING_COMMAND'])
})

test('a template is validated with its commands files; an empty one is a warning', t => {
  const template = testApplication({ scale: 'replicate /tomcat-vm as tomcat-vm-2\ndeploy and start all /tomcat-vm-2' })
  t.truthy(template)
  const files = { ...template.files, 'commands/bad.commands': utf8('create vm as tomcat-vm'), 'commands/empty.commands': utf8('# nothing\n') }
  const { errors } = loadApplicationTemplateFromFiles(files, undefined, { smtp: true })
  t.deepEqual(errors.filter(e => e.code.startsWith('CMD_')).map(e => `${e.file}:${e.line} ${e.code} ${e.level}`),
    ['commands/bad.commands:1 CMD_CONFLICTING_INSTANCE_NAME SEVERE', 'commands/empty.commands:1 CMD_NO_INSTRUCTION WARNING'])
})

test('hostile commands files: an over-long line is refused with its length; garbage never throws', t => {
  const long = parseCommands(`create vm as ${'x'.repeat(5000)}\nstop all /tomcat-vm`, 'commands/h.commands', contextOf(app))
  t.deepEqual(long.errors.map(e => [e.code, e.line]), [['CMD_INVALID_SYNTAX', 1]])
  t.regex(long.errors[0].message, /5013 characters, more than the 4096 allowed/)
  t.is(long.instructions.length, 1)
  const pieces = ['create ', ' as ', ' under ', '/', '$(', ')', '$(SMART_INDEX)', '$(EXISTING_INDEX MAX > ', 'define ', '=', '\\\n', '\n', '#', 'delete ', ' instances of ', 'with ', 'into ', '%TMP%', '..', 'execute ', '\u0000', '    ']
  let seed = 7
  const next = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed }
  for (let round = 0; round < 300; round++) {
    let text = ''
    for (let k = 0; k < 40; k++) text += pieces[next() % pieces.length]
    const result = parseCommands(text, 'commands/h.commands', contextOf(app))
    t.true(result.errors.every(e => e.file === 'commands/h.commands' && typeof e.message === 'string'))
  }
})
