// Parsing and writing the DSL: lossless round trip of the corpus files (where the corpus is), instances conversion
// cases of the corpus (graphs from MANIFEST notes; the project's copies in test/fixtures/roboconf/), the DM's
// persisted runtime instances, the descriptor's key lines.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  allInstances, GraphResolver, loadGraph, parseDescriptor, parseFile, parseGraph, parseInstances, serializeFile,
  UnwritableValueError, validateInstances, writeGraph, writeInstances, type Component, type Instance
} from '../protocol/model/index.js'
import { corpus, corpusTest, ROBOCONF_FIXTURES } from './helpers/corpus.js'


function graphComponents (text: string): { components: Record<string, Component>, resolver: GraphResolver } {
  const loaded = loadGraph('graph/g.graph', p => p === 'graph/g.graph' ? { text } : { missing: true })
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors))
  const resolver = new GraphResolver(loaded.graph)
  return { components: resolver.components(), resolver }
}

// The graphs the Roboconf tests build in Java for these instances files (MANIFEST notes)
const VM_TOMCAT_WAR = graphComponents('VM {\n installer: target;\n children: Tomcat;\n}\nTomcat {\n installer: puppet;\n exports: ip, port = 8080;\n children: WAR;\n}\nWAR {\n installer: script;\n}\n')

corpusTest('every file Roboconf re-serializes byte for byte comes back unchanged', t => {
  const manifest = readFileSync(join(corpus!, 'MANIFEST.tsv'), 'utf8').split('\n').slice(1).map(l => l.split('\t'))
  const files = manifest.filter(c => c[1]?.includes('re-serialization with comments == source text')).map(c => c[0])
  t.true(files.length >= 40)
  for (const file of files) {
    const text = readFileSync(join(corpus!, file), 'utf8').replace(/\r\n/g, '\n')
    t.is(serializeFile(parseFile(text, file)), text, file)
  }
})

test('count expansion pads names to the width of count, deepest instances first', t => {
  const text = readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/n-instances.instances'), 'utf8')
  const { rootInstances, errors } = parseInstances(text, VM_TOMCAT_WAR.components)
  t.deepEqual(errors, [])
  t.is(rootInstances.length, 14)
  const paths = new Set(allInstances(rootInstances).map(i => i.path))
  t.is(paths.size, 3688)
  for (const p of ['/i-vm-01', '/i-vm-12', '/i-vm-09/i-tomcat-1', '/i-vm-09/i-tomcat-3', '/i-vm-09/i-tomcat-2/i-war001', '/i-vm-09/i-tomcat-2/i-war101']) t.true(paths.has(p), p)
  const medium = parseInstances(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/n-medium-instances.instances'), 'utf8'), VM_TOMCAT_WAR.components)
  const mediumPaths = new Set(allInstances(medium.rootInstances).map(i => i.path))
  t.is(mediumPaths.size, 2045)
  t.true(mediumPaths.has('/i-vm-/i-tomcat-0001') && mediumPaths.has('/i-vm-/i-tomcat-1020'))
})

test('instances conversion errors of the corpus: duplicates, unknown component, count conflict', t => {
  const lower = VM_TOMCAT_WAR
  const read = (f: string): string => readFileSync(join(ROBOCONF_FIXTURES, 'invalid/configurations', f), 'utf8')
  t.deepEqual(parseInstances(read('duplicate-instance.instances'), lower.components).errors.map(e => e.code), ['CO_ALREADY_DEFINED_INSTANCE', 'CO_ALREADY_DEFINED_INSTANCE'])
  t.deepEqual(parseInstances(read('inexisting-component.instances'), lower.components).errors.map(e => e.code), ['CO_INEXISTING_COMPONENT'])
  const conflict = parseInstances(read('instanceof-name-conflict-with-count.instances'), VM_TOMCAT_WAR.components)
  t.deepEqual(conflict.errors.map(e => e.code), ['CO_CONFLICTING_INFERRED_INSTANCE'])
  t.is(conflict.rootInstances.length, 5)
})

test('complex instances: paths, quoted values, channels, trailing spaces kept', t => {
  const complex = parseInstances(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/complex-instances.instances'), 'utf8'), VM_TOMCAT_WAR.components)
  t.deepEqual(allInstances(complex.rootInstances).map(i => i.path).sort(), ['/i-vm-1', '/i-vm-1/i-tomcat', '/i-vm-1/i-tomcat/i-war', '/i-vm-2', '/i-vm-3', '/i-vm-3/i-tomcat-1', '/i-vm-3/i-tomcat-2', '/i-vm-3/i-tomcat-2/i-war'])
  const quoted = parseInstances(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/instance-with-complex-quoted-values.instances'), 'utf8'), new Set(['vm']))
  const vm = quoted.rootInstances[0]
  t.is(vm.name, 'vm 1')
  t.deepEqual(vm.overriddenExports, { ip: '38.195.27.7', message: 'this is ;a; complex value with semicolons', bad3: '', bad4: 'a long sentence for test' })
  t.deepEqual(vm.channels, ['demo'])
  const spaces = parseInstances(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/instance-with-space-after.instances'), 'utf8'), new Set(['VM', 'A']))
  t.deepEqual(spaces.rootInstances.map(i => i.name), ['VM 1', 'VM 2'])
  t.deepEqual(spaces.rootInstances.map(i => i.children[0].name), ['A ', 'A '])
  t.deepEqual(spaces.rootInstances.map(i => i.children[0].component), ['A', 'A'])
})

test('overridden exports: a local name resolves to the component variable, unknown ones are magic', t => {
  const lower = graphComponents('VM {\n installer: target;\n children: Tomcat;\n}\nTomcat {\n installer: puppet;\n exports: ip, port = 8080;\n}\n')
  const { rootInstances } = parseInstances(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/instance-overridden-exports.instances'), 'utf8'), lower.components)
  const errors = validateInstances(rootInstances, lower.components, lower.resolver)
  t.deepEqual(errors.map(e => [e.code, e.level]), [['RM_MAGIC_INSTANCE_VARIABLE', 'WARNING']])
})

test('runtime instances (instance-state, instance-data) survive writeInstances -> parseInstances', t => {
  const text = readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/single-runtime-instance.instances'), 'utf8')
  const { rootInstances, errors } = parseInstances(text, new Set(['vm']))
  t.deepEqual(errors, [])
  t.is(rootInstances[0].status, 'DEPLOYED_STARTED')
  t.deepEqual(rootInstances[0].data, { ip: '127.0.0.1', 'machine-id': 'mach-ID', whatever: 'something different' })

  const tree: Instance[] = [{
    name: 'VM 1', component: 'VM', path: '/VM 1', overriddenExports: {}, data: { 'ip.address': '10.0.0.1', 'machine.id': 'i-42', odd: 'a, b = c' }, channels: [], status: 'DEPLOYED_STARTED',
    children: [{ name: 'Tomcat', component: 'Tomcat', path: '/VM 1/Tomcat', overriddenExports: { port: '8081', message: 'a;b, c', padded: ' x' }, data: {}, channels: [], status: 'UNRESOLVED', children: [] }]
  }]
  const written = writeInstances(tree)
  const back = parseInstances(written, VM_TOMCAT_WAR.components)
  t.deepEqual(back.errors, [])
  t.deepEqual(back.rootInstances, tree)
  t.throws(() => writeInstances([{ ...tree[0], overriddenExports: { x: 'a # b' }, children: [] }]), { instanceOf: UnwritableValueError })
})

test('writeGraph gives back a graph that resolves to the same components', t => {
  const text = readFileSync(join(ROBOCONF_FIXTURES, 'valid/applications/lamp-legacy-with-only-components/graph/lamp.graph'), 'utf8')
  const first = loadGraph('graph/g.graph', p => p === 'graph/g.graph' ? { text } : { missing: true })
  const written = writeGraph(first.graph)
  const second = loadGraph('graph/g.graph', p => p === 'graph/g.graph' ? { text: written } : { missing: true })
  t.deepEqual(second.errors, [])
  t.deepEqual(new GraphResolver(second.graph).components(), new GraphResolver(first.graph).components())
})

test('descriptor keys map to their lines, legacy prefix and continuation lines included', t => {
  const { descriptor, lines } = parseDescriptor(readFileSync(join(ROBOCONF_FIXTURES, 'valid/configurations/app-template-descriptor.properties'), 'utf8'))
  t.like(lines, { name: 2, version: 3, description: 5, 'dsl-id': 12, 'graph-entry-point': 14, 'instance-entry-point': 15, 'exports-prefix': 19, exports: 25, tags: 29 })
  t.deepEqual(descriptor.externalExports, { 'HAProxy.ip': 'lb-ip', 'HAProxy.httpPort': 'lb-port' })
  t.is(descriptor.externalExportsPrefix, 'TomcatCluster')
  t.deepEqual(descriptor.tags, ['petals'])
  t.is(descriptor.name, 'Tomcat 8 cluster')
})

test('type annotations: comment lines right above a block describe it', t => {
  const text = '# The VM\n# runs everything\nVM {\n\tinstaller: target;\n}\n\n# detached\n\nApp {\n\tinstaller: script;\n}\n'
  const loaded = loadGraph('graph/g.graph', () => ({ text }))
  t.is(loaded.graph.components.get('VM')?.description, 'The VM\nruns everything')
  t.is(loaded.graph.components.get('App')?.description, undefined)
})

test('parseGraph resolves one graph text and reports conversion then graph errors', t => {
  const ok = parseGraph('VM {\n\tinstaller: target;\n\texports: ip;\n\tchildren: App;\n}\nApp {\n\tinstaller: script;\n\texports: port = 80, random[port] admin;\n\timports: VM.ip (optional);\n}\n')
  t.deepEqual(ok.errors, [])
  t.deepEqual(ok.components.App.exports, { 'App.port': '80', 'App.admin': null })
  t.deepEqual(ok.components.App.randomExports, ['App.admin'])
  const bad = parseGraph('VM {\n\tinstaller: target;\n\tchildren: Nope;\n}\n')
  t.like(bad.errors[0], { code: 'CO_INEXISTING_CHILD', level: 'SEVERE', file: 'graph/main.graph', line: 1 })
  t.regex(bad.errors[0].message, /Nope/)
  const cycle = parseGraph('VM {\n\tinstaller: target;\n\tchildren: A;\n}\nA {\n\tinstaller: script;\n\tchildren: B;\n}\nB {\n\tinstaller: script;\n\tchildren: A;\n}\n')
  t.deepEqual(cycle.errors.map(e => e.code).sort(), ['RM_CYCLE_IN_COMPONENTS', 'RM_CYCLE_IN_COMPONENTS'])
})

test('instance checks: parents follow the graph, variables need values except ip and random ones', t => {
  const { components, resolver, errors } = parseGraph('VM {\n\tinstaller: target;\n\texports: ip;\n\tchildren: App;\n}\nApp {\n\tinstaller: script;\n\texports: ip, random[port] http, user, password = "";\n}\n')
  t.deepEqual(errors, [])
  const text = 'instance of App {\n\tname: orphan;\n\tuser: u;\n\tpassword: p;\n}\ninstance of VM {\n\tname: vm;\n\tinstance of VM {\n\t\tname: inner;\n\t}\n\tinstance of App {\n\t\tname: app;\n\t\tDATA.zone: eu;\n\t}\n}\n'
  const { rootInstances } = parseInstances(text, components)
  const found = validateInstances(rootInstances, components, resolver).map(e => [e.code, e.line, e.message.includes('user') || e.message.includes('password') ? 'var' : ''])
  t.deepEqual(found.sort(), [
    ['RM_INVALID_INSTANCE_PARENT', 8, ''],
    ['RM_MISSING_INSTANCE_PARENT', 1, ''],
    ['RM_MISSING_VARIABLE_VALUE', 11, 'var'],
    ['RM_MISSING_VARIABLE_VALUE', 11, 'var']
  ])
  t.deepEqual(rootInstances[1].children[1].data, { zone: 'eu' })
})
