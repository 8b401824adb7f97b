// The worked examples of reference §4.1 (component extensions, facets LAMP) and §4.2 (published and needed
// prefixes), on the corpus applications (the project's copies, test/fixtures/roboconf/).
import test from 'ava'
import { join } from 'node:path'
import {
  allInstances, exportsByPrefix, importedPrefixes, instanceDependencies, instanceExports, loadApplicationTemplate, type ApplicationTemplate
} from '../protocol/model/index.js'
import { ROBOCONF_FIXTURES } from './helpers/corpus.js'


async function load (app: string): Promise<ApplicationTemplate> {
  const { template, errors } = await loadApplicationTemplate(join(ROBOCONF_FIXTURES, 'valid', 'applications', app))
  if (template === undefined) throw new Error(`not loaded: ${JSON.stringify(errors)}`)
  return template
}

function exportsOf (template: ApplicationTemplate, path: string, ip?: string): Record<string, string | null> {
  const instance = allInstances(template.rootInstances).find(i => i.path === path)
  if (instance === undefined) throw new Error(`no instance ${path}`)
  return instanceExports(template.components[instance.component], instance, ip)
}

test('component extensions: fully prefixed overrides hit one variable each, local names the rest (§4.1)', async t => {
  const template = await load('component-extensions')
  t.deepEqual(exportsOf(template, '/container-bootstrap-vm/specific'), {
    'PetalsJBIComponent.componentId': 'comp',
    'PetalsSL.componentId': 'sl',
    'PetalsSLPostgreSQL.componentId': 'last',
    'PetalsSL.componentType': 'SL',
    'PetalsSLPostgreSQL.componentType': 'SL',
    'PetalsSLPostgreSQL.present': 'true',
    domainName: 'roboconf-demo'
  })
  t.deepEqual(exportsOf(template, '/container-bootstrap-vm/superInstance'), {
    'PetalsJBIComponent.componentId': 'my-sl',
    'PetalsSL.componentId': 'my-sl',
    componentId: 'my-sl',
    'PetalsSL.componentType': 'SL'
  })
})

test('component extensions: an extending component publishes its own prefix and every extended one (§4.2)', async t => {
  const template = await load('component-extensions')
  const prefixes = exportsByPrefix(exportsOf(template, '/container-bootstrap-vm/specific'))
  t.deepEqual([...prefixes.keys()].sort(), ['PetalsJBIComponent', 'PetalsSL', 'PetalsSLPostgreSQL'])
  t.deepEqual(prefixes.get('PetalsSL'), { 'PetalsSL.componentId': 'sl', 'PetalsSL.componentType': 'SL' })
})

test('facets LAMP: a VM exports under the facet prefix and its own, and ip comes from the root instance (§4.1)', async t => {
  const template = await load('lamp-legacy-with-facets-and-so-on')
  t.deepEqual(exportsOf(template, '/Tomcat VM 2'), { 'VM.ip': null, 'Virtual_Machine.ip': null })
  t.deepEqual(exportsOf(template, '/Tomcat VM 2', '10.0.0.7'), { 'VM.ip': '10.0.0.7', 'Virtual_Machine.ip': '10.0.0.7' })
  t.deepEqual(exportsOf(template, '/Tomcat VM 2/Tomcat', '10.0.0.7'), { 'Tomcat.ip': '10.0.0.7', 'Tomcat.portAJP': '9021' })
  t.deepEqual(template.components.VM_Openstack.exports,
    { 'VM.ip': null, 'VM_Openstack.ip': null, 'VM_Openstack.something': 'else', 'Virtual_Machine.ip': null })
  t.deepEqual(template.components.VM_EC2.facets, ['Virtual_Machine'])
  t.is(template.components.VM_EC2.installer, 'target')
  t.deepEqual(template.components.VM.children.sort(), ['Apache', 'MySQL', 'Tomcat'])
})

test('needed prefixes: mandatory unless every import of the prefix is optional (§4.2)', async t => {
  const mongo = await load('mongo')
  t.deepEqual([...importedPrefixes(mongo.components.Mongo)], [['Mongo', { optional: true }]])
  const lamp = await load('lamp')
  t.deepEqual([...importedPrefixes(lamp.components.Apache)], [['Tomcat', { optional: false }]])
  const external = await load('it-app-with-external-imports')
  t.deepEqual(external.components['SE-Activiti'].imports.find(i => i.name === 'Lamp.lb-ip'),
    { name: 'Lamp.lb-ip', optional: false, external: true })
})

test('meta variables are replaced per instance', async t => {
  const template = await load('root-exporting-variables')
  t.deepEqual(exportsOf(template, '/vm2/app'), {
    'App.clean_path': 'vm2_app', 'App.comp': 'App', 'App.inst': 'app', 'App.path': '/vm2/app', 'App.rev': 'kikou app_vm2'
  })
  t.deepEqual(template.targets.VM.map(target => [target.id, target.handler]), [['target-id', 'in-memory']])
})

test('descriptor external exports and prefix are read', async t => {
  const template = await load('it-app-with-external-exports')
  t.is(template.descriptor.externalExportsPrefix, 'Lamp')
  t.deepEqual(template.descriptor.externalExports, { 'Apache.ip': 'lb-ip' })
  t.is(template.descriptor.name, 'LAMP')
})

test('instance dependencies: published prefixes and needed ones, mandatory or optional', async t => {
  const mongo = await load('mongo')
  const lamp = await load('lamp')
  const tomcat = allInstances(lamp.rootInstances).find(i => i.component === 'Tomcat')!
  t.deepEqual(instanceDependencies(lamp.components.Tomcat, tomcat), { publishes: ['Tomcat'], needs: [{ prefix: 'MySQL', optional: false, external: false }] })
  const vm = { name: 'vm', component: 'VM', path: '/vm', overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED' as const, children: [] }
  const node = { ...vm, name: 'm', component: 'Mongo', path: '/vm/m' }
  t.deepEqual(instanceDependencies(mongo.components.Mongo, node), { publishes: ['Mongo'], needs: [{ prefix: 'Mongo', optional: true, external: false }] })
})
