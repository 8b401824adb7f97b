// Values are data, never code: what an importer gets from peers reaches its recipes as the exact value (template
// views shell-quoted wherever the template puts them, environment variables as they are), runs nothing, and a value
// no process can carry (a NUL) fails the step with a clear error. Recipes get an allow-listed environment.
import test from 'ava'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { shellQuote } from '../agent/plugins/values.js'
import type { Component } from '../protocol/model/types.js'
import {
  base64Files, component, instance, lampComponents, recorded, recordedEnvironments, recordingScript, startTestAgent
} from './lifecycle-fixtures.js'

const HOSTILE_NAMES = ['quotes', 'single', 'substitution', 'backticks', 'newline', 'expansions', 'unicode']

/** Values a hostile owner could export; each tries to create a PWNED-* file in `dir`. */
function hostileValues (dir: string): Record<string, string> {
  return {
    'MySQL.quotes': `1.2.3.4"; touch ${dir}/PWNED-quotes; echo "`,
    'MySQL.single': `1.2.3.4'; touch ${dir}/PWNED-single; echo '`,
    'MySQL.substitution': `$(touch ${dir}/PWNED-substitution)`,
    'MySQL.backticks': `\`touch ${dir}/PWNED-backticks\``,
    'MySQL.newline': `1.2.3.4\ntouch ${dir}/PWNED-newline`,
    'MySQL.expansions': '${HOME} $PATH ~ * ?',
    'MySQL.unicode': 'café ☕'
  }
}

/** VM holding Tomcat, which imports every hostile variable of MySQL. */
const components = (): Record<string, Component> => ({
  VM: component('VM', { installer: 'target', children: ['Tomcat'] }),
  Tomcat: component('Tomcat', { installer: 'script', imports: HOSTILE_NAMES.map(name => `MySQL.${name}`) })
})
const root = (): ReturnType<typeof instance> => instance('/VM', 'VM', [instance('/VM/Tomcat', 'Tomcat')])

const pwned = async (dir: string): Promise<string[]> => (await readdir(dir)).filter(f => f.startsWith('PWNED'))

// Bare (read back exactly), inside double quotes, inside single quotes (triple mustache), in a here-document.
const HOSTILE_TEMPLATE = (dir: string): string => [
  '#!/bin/bash',
  '{{#importLists}}{{#imports}}{{#exportedVars}}',
  `printf '%s' {{value}} > "${dir}/bare-"{{name}}`,
  `echo "value: {{value}}" >> "${dir}/double.log"`,
  `echo 'value: {{{value}}}' >> "${dir}/single.log"`,
  `cat >> "${dir}/heredoc.log" <<END`,
  'value: {{value}}',
  'END',
  '{{/exportedVars}}{{/imports}}{{/importLists}}',
  ''
].join('\n')

test('templates: a hostile value is one shell word wherever the template puts it, and never runs', async t => {
  const a = await startTestAgent(t, {
    components: components(),
    root: root(),
    recipes: dir => ({ Tomcat: base64Files({ 'roboconf-templates/start.template': HOSTILE_TEMPLATE(dir) }) })
  })
  const values = hostileValues(a.recordDir)
  await a.addImport('MySQL', { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: values })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED', a.notifier.last('/VM/Tomcat')?.problem)
  t.deepEqual(await pwned(a.recordDir), [], 'no value ran as a command')
  for (const [name, value] of Object.entries(values)) {
    t.is(await readFile(join(a.recordDir, `bare-${name}`), 'utf8'), value, `${name} is read back exactly`)
  }
  for (const log of ['double.log', 'single.log', 'heredoc.log']) t.true(existsSync(join(a.recordDir, log)), `${log} was written`)
})

test('shellQuote: safe values unchanged; any other made only of letters, digits, \\, $ and \'', t => {
  t.is(shellQuote('10.0.0.2'), '10.0.0.2')
  t.is(shellQuote('/VM 2/MySQL'), "$'/VM\\x202/MySQL'")
  t.is(shellQuote(''), "$''")
  for (const value of Object.values(hostileValues('/tmp'))) t.regex(shellQuote(value), /^\$'[A-Za-z0-9._/:,@+=%\\-]*'$/)
})

test('environment: hostile values reach a script exactly, and run nothing', async t => {
  const names = HOSTILE_NAMES
  const a = await startTestAgent(t, {
    components: components(),
    root: root(),
    recipes: dir => ({
      Tomcat: base64Files({
        'scripts/start.sh': `#!/bin/bash\nfor name in ${names.join(' ')}; do v="MySQL_0_$name"; printf '%s' "\${!v}" > "${dir}/env-$name"; done\n`
      })
    })
  })
  const values = hostileValues(a.recordDir)
  await a.addImport('MySQL', { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: values })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED', a.notifier.last('/VM/Tomcat')?.problem)
  t.deepEqual(await pwned(a.recordDir), [])
  for (const name of names) t.is(await readFile(join(a.recordDir, `env-${name}`), 'utf8'), values[`MySQL.${name}`] ?? '')
})

test('a value with a NUL fails the step with a clear error (the spawn does not throw); a clean value then works', async t => {
  const a = await startTestAgent(t, {
    recipes: dir => ({ Tomcat: base64Files({ 'scripts/start.sh': `#!/bin/bash\necho "$MySQL_0_ip" >> "${dir}/record.log"\n` }) })
  })
  await a.addImport('MySQL', { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.2\u0000; reboot' } })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.not(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  t.regex(a.notifier.last('/VM/Tomcat')?.problem ?? '', /variable MySQL_0_ip for \/VM\/Tomcat holds a NUL character/)
  t.deepEqual(await recorded(a.recordDir), [])
  await a.addImport('MySQL', { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.2' } })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED', a.notifier.last('/VM/Tomcat')?.problem)
  t.deepEqual(await recorded(a.recordDir), ['10.0.0.2'])
})

test('environment: a script gets Roboconf\'s variables, PATH, HOME and LANG, and nothing else of the agent\'s', async t => {
  process.env.MESHCONF_TEST_SECRET = 'not for recipes'
  t.teardown(() => { delete process.env.MESHCONF_TEST_SECRET })
  const a = await startTestAgent(t, {
    components: lampComponents(),
    recipes: dir => ({ MySQL: base64Files({ 'scripts/deploy.sh': recordingScript(dir, 'deploy') }) })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  const [env] = await recordedEnvironments(a.recordDir, 'deploy', 'VM_MySQL')
  t.is(env.PATH, process.env.PATH ?? '')
  t.false('MESHCONF_TEST_SECRET' in env)
  // What bash sets itself (PWD, SHLVL, _) aside, every variable is Roboconf's or allow-listed.
  const unexpected = Object.keys(env).filter(name => !/^(PATH|HOME|LANG|PWD|OLDPWD|SHLVL|_|ROBOCONF_\w+|ip|port|ANCESTOR_\w+)$/.test(name))
  t.deepEqual(unexpected, [])
})
