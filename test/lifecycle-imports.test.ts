// Reference §3.3 (reactions to imports that come and go) and §4.3 (what an instance keeps of an import), driven
// through the agent's ImportListener with recording scripts.
import test from 'ava'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  component, instance, lampComponents, mysqlImport, recorded, recordedEnvironments, recordingRecipes, startTestAgent,
  tomcatImport
} from './lifecycle-fixtures.js'
import { waitFor } from './helpers/wait.js'

test('import added: all mandatory imports present and UNRESOLVED -> start, exports published', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  await a.addImport('MySQL', mysqlImport())
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat', 'start /VM/Tomcat'])
  t.deepEqual(a.publisher.of('announce').at(-1),
    { call: 'announce', path: '/VM/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.1', 'Tomcat.portAJP': '8009' } })
})

test('import added or removed while DEPLOYED_STARTED with the mandatory imports complete -> update', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport('/VM 2/MySQL', '10.0.0.2'))
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await a.addImport('MySQL', mysqlImport('/VM 3/MySQL', '10.0.0.3'))
  await a.removeImport('MySQL', '/VM 2/MySQL')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat', 'start /VM/Tomcat', 'update /VM/Tomcat', 'update /VM/Tomcat'])
  const [added, removed] = await recordedEnvironments(a.recordDir, 'update', 'VM_Tomcat')
  t.is(added.ROBOCONF_UPDATE_STATUS, 'DEPLOYED_STARTED')
  t.is(added.ROBOCONF_IMPORT_CHANGED_INSTANCE_PATH, '/VM 3/MySQL')
  t.is(added.MySQL_size, '2')
  t.is(removed.ROBOCONF_UPDATE_STATUS, 'DEPLOYED_STOPPED')
  t.is(removed.ROBOCONF_IMPORT_CHANGED_INSTANCE_PATH, '/VM 2/MySQL')
  t.is(removed.ROBOCONF_IMPORT_CHANGED_ip, '10.0.0.2', 'the removed import\'s values')
  t.is(removed.MySQL_size, '1')
  t.is(removed.MySQL_0_ip, '10.0.0.3')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STARTED')
})

test('import removed: a mandatory import missing while DEPLOYED_STARTED -> UNRESOLVED, stopped descendants WAITING_FOR_ANCESTOR, stop for the instance only', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport())
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  a.notifier.clear()
  await a.removeImport('MySQL', '/VM 2/MySQL')
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'WAITING_FOR_ANCESTOR')
  t.deepEqual((await recorded(a.recordDir)).filter(l => l.startsWith('stop')), ['stop /VM/Tomcat'])
  t.deepEqual(a.notifier.changes.map(c => `${c.path} ${c.status}`), [
    '/VM/Tomcat DEPLOYED_STARTED', // the import change itself
    '/VM/Tomcat/War STOPPING', '/VM/Tomcat STOPPING', '/VM/Tomcat/War WAITING_FOR_ANCESTOR', '/VM/Tomcat UNRESOLVED'])
  t.deepEqual(a.notifier.changes[0].imports, {}, 'the import change is reported with the remaining imports')
  t.deepEqual(a.publisher.of('withdraw').map(c => c.path), ['/VM/Tomcat/War', '/VM/Tomcat'])
})

test('otherwise nothing: DEPLOYED_STOPPED and NOT_DEPLOYED instances only record the import, and report it', async t => {
  const a = await startTestAgent(t)
  await a.request('/VM/Tomcat', 'DEPLOYED_STOPPED')
  await a.addImport('MySQL', mysqlImport())
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat'])
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'DEPLOYED_STOPPED')
  t.deepEqual(a.notifier.last('/VM/Tomcat')?.imports,
    { MySQL: [{ instancePath: '/VM 2/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.2', 'MySQL.port': '3306' } }] })
  await a.request('/VM/Tomcat', 'NOT_DEPLOYED')
  await a.removeImport('MySQL', '/VM 2/MySQL')
  await a.addImport('MySQL', mysqlImport())
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat', 'undeploy /VM/Tomcat'])
  t.deepEqual(Object.keys(a.agent.importsOf('/VM/Tomcat')), ['MySQL'], 'imports are kept while not deployed')
})

test('LAMP: MySQL goes -> Tomcat UNRESOLVED, War waits, Apache updates or goes UNRESOLVED; MySQL back -> Tomcat, then War start', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport())
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  await a.request('/VM/Tomcat/War', 'DEPLOYED_STARTED')
  // Apache imports Tomcat: the local one (announced through the mesh, here by hand) and a remote one.
  await a.addImport('Tomcat', tomcatImport('/VM/Tomcat', '10.0.0.1'))
  await a.addImport('Tomcat', tomcatImport('/VM 2/Tomcat', '10.0.0.2'))
  await a.request('/VM/Apache', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Apache'), 'DEPLOYED_STARTED')
  await a.removeImport('MySQL', '/VM 2/MySQL')
  await a.removeImport('Tomcat', '/VM/Tomcat') // the local Tomcat withdrew
  t.is(a.agent.instanceStatus('/VM/Tomcat'), 'UNRESOLVED')
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'WAITING_FOR_ANCESTOR')
  t.is(a.agent.instanceStatus('/VM/Apache'), 'DEPLOYED_STARTED', 'another Tomcat remains: update')
  t.is((await recorded(a.recordDir)).at(-1), 'update /VM/Apache')
  await a.removeImport('Tomcat', '/VM 2/Tomcat')
  t.is(a.agent.instanceStatus('/VM/Apache'), 'UNRESOLVED')
  const before = (await recorded(a.recordDir)).length
  await a.addImport('MySQL', mysqlImport())
  await a.addImport('Tomcat', tomcatImport('/VM/Tomcat', '10.0.0.1'))
  t.deepEqual((await recorded(a.recordDir)).slice(before), ['start /VM/Tomcat', 'start /VM/Tomcat/War', 'start /VM/Apache'])
  t.is(a.agent.instanceStatus('/VM/Tomcat/War'), 'DEPLOYED_STARTED')
})

test('optional imports never block: start with none, update when one comes and goes', async t => {
  const components = {
    VM: component('VM', { installer: 'target', children: ['Node'] }),
    Node: component('Node', { exports: { 'Node.ip': null }, imports: [{ name: 'Node.ip', optional: true }, { name: 'Cache.*', optional: true }] })
  }
  const a = await startTestAgent(t, { components, root: instance('/VM', 'VM', [instance('/VM/Node 1', 'Node')]) })
  await a.request('/VM/Node 1', 'DEPLOYED_STARTED')
  t.is(a.agent.instanceStatus('/VM/Node 1'), 'DEPLOYED_STARTED')
  await a.addImport('Cache', { instancePath: '/VM 2/Cache', component: 'Cache', variables: { 'Cache.port': '11211' } })
  await a.removeImport('Cache', '/VM 2/Cache')
  t.is(a.agent.instanceStatus('/VM/Node 1'), 'DEPLOYED_STARTED')
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Node 1', 'start /VM/Node 1', 'update /VM/Node 1', 'update /VM/Node 1'])
})

test('an instance never receives its own exports (cluster pattern)', async t => {
  const components = {
    VM: component('VM', { installer: 'target', children: ['Node'] }),
    Node: component('Node', { exports: { 'Node.ip': null }, imports: [{ name: 'Node.ip', optional: true }] })
  }
  const a = await startTestAgent(t, { components, root: instance('/VM', 'VM', [instance('/VM/Node 1', 'Node'), instance('/VM/Node 2', 'Node')]) })
  await a.addImport('Node', { instancePath: '/VM/Node 1', component: 'Node', variables: { 'Node.ip': '10.0.0.1' } })
  t.deepEqual(a.agent.importsOf('/VM/Node 1'), {})
  t.deepEqual(Object.keys(a.agent.importsOf('/VM/Node 2')), ['Node'])
})

test('imports keep only the variables the instance imports; a wildcard keeps them all (§4.3)', async t => {
  const components = {
    ...lampComponents(),
    VM: component('VM', { installer: 'target', children: ['Tomcat', 'Monitor'] }),
    Monitor: component('Monitor', { imports: ['MySQL.*'] })
  }
  const a = await startTestAgent(t, { components, root: instance('/VM', 'VM', [instance('/VM/Tomcat', 'Tomcat'), instance('/VM/Monitor', 'Monitor')]) })
  const exported = { instancePath: '/VM 2/MySQL', component: 'MySQL', variables: { 'MySQL.ip': '10.0.0.2', 'MySQL.port': '3306', 'MySQL.user': 'root' } }
  await a.addImport('MySQL', exported)
  t.deepEqual(a.agent.importsOf('/VM/Tomcat').MySQL[0].variables, { 'MySQL.ip': '10.0.0.2', 'MySQL.port': '3306' })
  t.deepEqual(a.agent.importsOf('/VM/Monitor').MySQL[0].variables, exported.variables)
})

test('a re-announcement with changed values replaces them and triggers update (Roboconf kept the stale ones); an identical one triggers nothing', async t => {
  const a = await startTestAgent(t)
  await a.addImport('MySQL', mysqlImport('/VM 2/MySQL', '10.0.0.2', '3306'))
  await a.request('/VM/Tomcat', 'DEPLOYED_STARTED')
  const reports = a.notifier.statuses('/VM/Tomcat').length
  await a.addImport('MySQL', mysqlImport('/VM 2/MySQL', '10.0.0.2', '3306'))
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat', 'start /VM/Tomcat'])
  t.is(a.notifier.statuses('/VM/Tomcat').length, reports, 'nothing reported either')
  await a.addImport('MySQL', mysqlImport('/VM 2/MySQL', '10.0.0.2', '3307'))
  t.deepEqual(await recorded(a.recordDir), ['deploy /VM/Tomcat', 'start /VM/Tomcat', 'update /VM/Tomcat'])
  const [env] = await recordedEnvironments(a.recordDir, 'update', 'VM_Tomcat')
  t.is(env.MySQL_size, '1')
  t.is(env.MySQL_0_port, '3307')
  t.is(env.ROBOCONF_IMPORT_CHANGED_port, '3307')
  t.deepEqual(a.agent.importsOf('/VM/Tomcat').MySQL[0].variables, { 'MySQL.ip': '10.0.0.2', 'MySQL.port': '3307' })
  t.is(a.notifier.last('/VM/Tomcat')?.imports.MySQL[0].variables['MySQL.port'], '3307')
})

test('a slow script on one instance does not hold the others', async t => {
  const a = await startTestAgent(t, {
    recipes: dir => recordingRecipes(dir, ['MySQL', 'Tomcat', 'War', 'Apache'], {
      'MySQL.start': `touch "${dir}/mysql-starting"; while [ ! -e "${dir}/release" ]; do sleep 0.05; done`
    })
  })
  await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/MySQL', newState: 'DEPLOYED_STARTED' })
  await waitFor('MySQL start to run', () => existsSync(join(a.recordDir, 'mysql-starting')))
  // While MySQL's start hangs, Apache (a sibling) deploys and Tomcat reacts to an import.
  await a.agent.handle({ v: 1, kind: 'changeState', instancePath: '/VM/Apache', newState: 'DEPLOYED_STOPPED' })
  a.agent.importAdded('MySQL', mysqlImport())
  await waitFor('Apache to deploy', () => a.agent.instanceStatus('/VM/Apache') === 'DEPLOYED_STOPPED')
  await waitFor('Tomcat to record its import', () => a.agent.importsOf('/VM/Tomcat').MySQL !== undefined)
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'STARTING')
  await writeFile(join(a.recordDir, 'release'), '')
  await a.agent.settled()
  t.is(a.agent.instanceStatus('/VM/MySQL'), 'DEPLOYED_STARTED')
})
