// The puppet plug-in with Debian's real puppet: a roboconf_* module whose manifests write a file per step, with
// the class parameters Roboconf passes (runningState, exports, imports, importDiff).
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base64Files, component, instance, startTestAgent, tomcatImport } from './lifecycle-fixtures.js'

function manifest (step: string, withDiff: boolean): string {
  const className = step === 'init' ? 'roboconf_web' : `roboconf_web::${step}`
  return `class ${className}($runningState = undef, $ip = undef, $outputdir = undef, $tomcat = undef${withDiff ? ', $importDiff = undef' : ''}) {
  file { "\${outputdir}/${step}.txt":
    ensure  => file,
    content => "runningState=\${runningState}\\nip=\${ip}\\ntomcat=\${tomcat}\\n${withDiff ? 'importDiff=${importDiff}\\n' : ''}${step === 'deploy' ? 'vardir=${settings::vardir}\\n' : ''}",
  }
}
`
}

test('puppet apply runs the module\'s deploy, start, update and stop classes with Roboconf\'s parameters', async t => {
  t.timeout(300_000) // four `puppet apply` runs: several seconds each, more on a loaded machine
  execFileSync('puppet', ['--version']) // scripts/test-setup.sh installs Debian's puppet; fail loudly without it
  const components = {
    VM: component('VM', { installer: 'target', children: ['Web'] }),
    Web: component('Web', {
      installer: 'puppet',
      exports: { 'Web.ip': null, 'Web.outputdir': null },
      imports: ['Tomcat.ip', 'Tomcat.portAJP']
    })
  }
  const a = await startTestAgent(t, {
    components,
    options: { recipeTimeoutMs: 110_000 },
    // The output folder reaches the manifests as an exported variable (overridden on the instance).
    root: dir => instance('/VM', 'VM', [instance('/VM/Web', 'Web', [], { outputdir: dir })]),
    recipes: () => ({
      Web: base64Files({
        'roboconf_web/manifests/init.pp': manifest('init', false),
        'roboconf_web/manifests/deploy.pp': manifest('deploy', false),
        'roboconf_web/manifests/start.pp': manifest('start', false),
        'roboconf_web/manifests/update.pp': manifest('update', true),
        'roboconf_web/manifests/stop.pp': manifest('stop', false)
      })
    })
  })
  const outputDir = a.recordDir
  await a.addImport('Tomcat', tomcatImport('/VM 2/Tomcat', '10.0.0.2', '8009'))
  await a.request('/VM/Web', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Web'), 'DEPLOYED_STARTED', a.notifier.last('/VM/Web')?.problem)
  await a.addImport('Tomcat', tomcatImport('/VM 3/Tomcat', '10.0.0.3', '8010'))
  await a.request('/VM/Web', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Web'), 'DEPLOYED_STOPPED', a.notifier.last('/VM/Web')?.problem)

  const read = (step: string): Promise<string> => readFile(join(outputDir, `${step}.txt`), 'utf8')
  // Each instance's puppet state stays in its own folder, not the host's /var/cache/puppet (first runs raced there).
  t.regex(await read('deploy'), /^runningState=stopped\nip=10\.0\.0\.1\ntomcat=\{\/VM 2\/Tomcat => \{ip => 10\.0\.0\.2, portAJP => 8009\}\}\nvardir=\/.*\/instances\/VM_Web\/\.puppet\/var\n$/)
  t.is(await read('start'), 'runningState=running\nip=10.0.0.1\ntomcat={/VM 2/Tomcat => {ip => 10.0.0.2, portAJP => 8009}}\n')
  t.is(await read('update'), 'runningState=\nip=10.0.0.1\n' +
    'tomcat={/VM 2/Tomcat => {ip => 10.0.0.2, portAJP => 8009}, /VM 3/Tomcat => {ip => 10.0.0.3, portAJP => 8010}}\n' +
    'importDiff={added => {/VM 3/Tomcat => {ip => 10.0.0.3, portAJP => 8010}}, removed => , component => Tomcat}\n')
  t.is(await read('stop'), 'runningState=stopped\nip=10.0.0.1\n' +
    'tomcat={/VM 2/Tomcat => {ip => 10.0.0.2, portAJP => 8009}, /VM 3/Tomcat => {ip => 10.0.0.3, portAJP => 8010}}\n')
  t.true(a.log.lines.some(l => l.startsWith('INFO [/VM/Web] puppet apply roboconf_web::start: ')), 'puppet output in the log')
})

test('a manifest that puppet rejects fails the deploy; the report carries puppet\'s error', async t => {
  t.timeout(300_000)
  const components = {
    VM: component('VM', { installer: 'target', children: ['Web'] }),
    Web: component('Web', { installer: 'puppet' })
  }
  const a = await startTestAgent(t, {
    components,
    root: instance('/VM', 'VM', [instance('/VM/Web', 'Web')]),
    recipes: () => ({ Web: base64Files({ 'roboconf_broken/manifests/init.pp': 'class roboconf_broken($runningState = undef) {\n  file {\n}\n' }) })
  })
  await a.request('/VM/Web', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Web'), 'NOT_DEPLOYED')
  const problem = a.notifier.last('/VM/Web')?.problem ?? ''
  t.regex(problem, /deploy failed: puppet apply roboconf_broken for \/VM\/Web exited with code 1/)
  t.regex(problem, /Error: .*Syntax error/i)
})
