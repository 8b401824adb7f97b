// The script plug-in: script lookup (exact, prefix, templates), the environment of reference §4.5, working
// directory, output in the agent log, and Roboconf's Apache update.sh run unchanged.
import test from 'ava'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { instanceFolderName } from '../agent/state.js'
import type { RecipeFiles } from '../protocol/messages.js'
import {
  base64Files, component, instance, recorded, recordedEnvironments, recordingScript, startTestAgent, tomcatImport
} from './lifecycle-fixtures.js'

const serverComponents = {
  VM: component('VM', { installer: 'target', exports: { 'VM.ip': null, 'VM.config': 'small' }, children: ['Server'] }),
  Server: component('Server', {
    exports: { 'Server.ip': null, 'Server.http-port': '80', 'Server.name': '$(ROBOCONF_INSTANCE_NAME)' },
    imports: ['DB.ip', 'DB.port']
  })
}

function recordingFiles (recordDir: string, actions: string[]): RecipeFiles {
  return base64Files(Object.fromEntries(actions.map(a => [`scripts/${a}.sh`, recordingScript(recordDir, a)])))
}

test('environment: exports by local name, ANCESTOR_*, <Prefix>_size/_<i>_name/_<i>_<var>, ROBOCONF_*, working directory', async t => {
  const a = await startTestAgent(t, {
    components: serverComponents,
    root: instance('/VM', 'VM', [instance('/VM/Server 1', 'Server', [], { 'http-port': '8080' })]),
    recipes: dir => ({ Server: recordingFiles(dir, ['deploy', 'start', 'update']) })
  })
  await a.addImport('DB', { instancePath: '/VM 2/DB', component: 'DB', variables: { 'DB.ip': '10.0.0.2', 'DB.port': '5432' } })
  await a.request('/VM/Server 1', 'DEPLOYED_STARTED')
  const [env] = await recordedEnvironments(a.recordDir, 'start', 'VM_Server_1')
  const instanceDir = join(a.stateDir, 'instances', instanceFolderName('/VM/Server 1'))
  t.like(env, {
    ip: '10.0.0.1',
    http_port: '8080',
    name: 'Server 1',
    ANCESTOR_VM_ip: '10.0.0.1',
    ANCESTOR_VM_config: 'small',
    DB_size: '1',
    DB_0_name: '/VM 2/DB',
    DB_0_ip: '10.0.0.2',
    DB_0_port: '5432',
    ROBOCONF_INSTANCE_NAME: 'Server 1',
    ROBOCONF_INSTANCE_PATH: '/VM/Server 1',
    ROBOCONF_COMPONENT_NAME: 'Server',
    ROBOCONF_CLEAN_INSTANCE_PATH: 'VM_Server_1',
    ROBOCONF_CLEAN_REVERSED_INSTANCE_PATH: 'Server_1_VM',
    ROBOCONF_FILES_DIR: join(instanceDir, 'files'),
    PWD: join(instanceDir, 'scripts')
  })
  t.false('ROBOCONF_UPDATE_STATUS' in env, 'update variables only for update')
  t.truthy(env.PATH, 'the agent\'s own environment is passed on')

  await a.addImport('DB', { instancePath: '/VM 3/DB', component: 'DB', variables: { 'DB.ip': '10.0.0.3', 'DB.port': '5433' } })
  const [update] = await recordedEnvironments(a.recordDir, 'update', 'VM_Server_1')
  t.like(update, {
    DB_size: '2',
    DB_1_name: '/VM 3/DB',
    DB_1_port: '5433',
    ROBOCONF_UPDATE_STATUS: 'DEPLOYED_STARTED',
    ROBOCONF_IMPORT_CHANGED_INSTANCE_PATH: '/VM 3/DB',
    ROBOCONF_IMPORT_CHANGED_COMPONENT: 'DB',
    ROBOCONF_IMPORT_CHANGED_ip: '10.0.0.3',
    ROBOCONF_IMPORT_CHANGED_port: '5433'
  })
})

// The loop of roboconf-examples/lamp-webapp-bash Apache/scripts/update.sh (written here in the same style).
const APACHE_UPDATE = `#!/bin/bash
# Rebuild the mod_jk workers list from the Tomcat imports
WORKERS=""
for ((c=0; c<$Tomcat_size; c++))
do
  WORKER_IP=Tomcat_\${c}_ip
  WORKER_PORT=Tomcat_\${c}_portAJP
  WORKERS="\${WORKERS} \${!WORKER_IP}:\${!WORKER_PORT}"
done
echo "$Tomcat_size:\${WORKERS}" >> RECORD/workers.log
`

test('Roboconf\'s Apache update.sh runs unchanged and sees 1, then 2, then 1 Tomcat', async t => {
  const components = {
    VM: component('VM', { installer: 'target', children: ['Apache'] }),
    Apache: component('Apache', { exports: { 'Apache.ip': null }, imports: ['Tomcat.ip', 'Tomcat.portAJP'] })
  }
  const a = await startTestAgent(t, {
    components,
    root: instance('/VM', 'VM', [instance('/VM/Apache', 'Apache')]),
    recipes: dir => {
      const script = APACHE_UPDATE.replace('RECORD', dir)
      return { Apache: base64Files({ 'scripts/start.sh': script, 'scripts/update.sh': script }) }
    }
  })
  await a.addImport('Tomcat', tomcatImport('/Tomcat VM 1/Tomcat', '10.0.0.11', '8009'))
  await a.request('/VM/Apache', 'DEPLOYED_STARTED')
  await a.addImport('Tomcat', tomcatImport('/Tomcat VM 2/Tomcat', '10.0.0.12', '8010'))
  await a.removeImport('Tomcat', '/Tomcat VM 1/Tomcat')
  const lines = (await readFile(join(a.recordDir, 'workers.log'), 'utf8')).trim().split('\n')
  t.deepEqual(lines, ['1: 10.0.0.11:8009', '2: 10.0.0.11:8009 10.0.0.12:8010', '1: 10.0.0.12:8010'])
})

test('lookup: scripts/<action>.sh first, else the first scripts/<action>* (with a warning)', async t => {
  const a = await startTestAgent(t, {
    recipes: dir => ({
      MySQL: base64Files({
        'scripts/deploy.sh': `#!/bin/bash\necho "deploy.sh" >> "${dir}/record.log"`,
        'scripts/deploy-other.sh': `#!/bin/bash\necho "deploy-other.sh" >> "${dir}/record.log"`,
        'scripts/start-b.sh': `#!/bin/bash\necho "start-b.sh" >> "${dir}/record.log"`,
        'scripts/start-a.sh': `#!/bin/bash\necho "start-a.sh" >> "${dir}/record.log"`
      })
    })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy.sh', 'start-a.sh'])
  t.true(a.log.lines.some(l => l.startsWith('WARN') && l.includes('several scripts for "start"')))
})

test('lookup: else roboconf-templates/<action>.template, else default.template, rendered with the imports', async t => {
  const template = (label: string, dir: string): string => `#!/bin/bash
echo "${label}" >> "${dir}/record.log"
{{#importLists}}{{#imports}}{{#exportedVars}}
echo {{prefix}} {{instancePath}} {{name}}={{value}} >> "${dir}/record.log"
{{/exportedVars}}{{/imports}}{{/importLists}}
`
  const a = await startTestAgent(t, {
    recipes: dir => ({
      Tomcat: base64Files({
        'roboconf-templates/start.template': template('start.template', dir),
        'roboconf-templates/default.template': template('default.template', dir)
      })
    })
  })
  await a.addImport('MySQL', { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.2', 'MySQL.port': '3306' } })
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), [
    'default.template', 'MySQL /VM 2/MySQL MySQL.ip=10.0.0.2', 'MySQL /VM 2/MySQL MySQL.port=3306',
    'start.template', 'MySQL /VM 2/MySQL MySQL.ip=10.0.0.2', 'MySQL /VM 2/MySQL MySQL.port=3306'])
})

test('output: stdout and stderr lines go to the agent log, tagged with the instance path', async t => {
  const a = await startTestAgent(t, {
    recipes: () => ({ MySQL: base64Files({ 'scripts/deploy.sh': '#!/bin/bash\necho "hello out"\necho "hello err" >&2\n' }) })
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STOPPED')
  t.true(a.log.lines.includes('INFO [/VM/MySQL] deploy: script scripts/deploy.sh: hello out'))
  t.true(a.log.lines.includes('WARN [/VM/MySQL] deploy: script scripts/deploy.sh (stderr): hello err'))
})

test('the `bash` installer is the script plug-in; a script without #! runs with bash', async t => {
  const components = {
    VM: component('VM', { installer: 'target', children: ['Old'] }),
    Old: component('Old', { installer: 'Bash' })
  }
  const a = await startTestAgent(t, {
    components,
    root: instance('/VM', 'VM', [instance('/VM/Old', 'Old')]),
    recipes: dir => ({ Old: base64Files({ 'scripts/deploy.sh': `for ((i=0; i<2; i++)); do echo "deploy $i" >> "${dir}/record.log"; done\n` }) })
  })
  await a.request('/VM/Old', 'DEPLOYED_STOPPED')
  t.deepEqual(await recorded(a.recordDir), ['deploy 0', 'deploy 1'])
  t.is(a.agent.instanceStatus('/VM/Old'), 'DEPLOYED_STOPPED')
})

test('a start script that leaves a daemon behind (holding its output) completes', async t => {
  const a = await startTestAgent(t, {
    recipes: dir => ({ MySQL: base64Files({ 'scripts/start.sh': `#!/bin/bash\nsleep 60 &\necho $! > "${dir}/daemon.pid"\necho started\n` }) })
  })
  t.teardown(async () => {
    const pid = Number(await readFile(join(a.recordDir, 'daemon.pid'), 'utf8').catch(() => '0'))
    if (pid > 0) try { process.kill(pid, 'SIGKILL') } catch {}
  })
  await a.request('/VM/MySQL', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
  const pid = Number(await readFile(join(a.recordDir, 'daemon.pid'), 'utf8'))
  t.notThrows(() => process.kill(pid, 0), 'the daemon keeps running')
})
