// Variable naming (reference §4.1-4.2) where a variable's own name holds a dot, as Roboconf's code does it:
// ComponentHelpers.findAllExportedVariables (fixVariableName: a type prefixes every name that does not already start
// with `<Type>.`; a facet's variable is kept as written only when an extended facet already has that exact name; a
// component's own variable overrides the inherited ones whose name after the FIRST dot equals it; inherited
// variables are replicated under the component's prefix after its own are applied), InstanceHelpers
// .findAllExportedVariables (an instance's override is looked up by local name first, then kept raw),
// RuntimeModelValidator (RM_UNRESOLVABLE_FACET_VARIABLE only for a facet's raw variable names and `<Facet>.*`).
import test from 'ava'
import { exportsByPrefix, instanceExports, parseGraph, tailorImport, type Instance } from '../protocol/model/index.js'

function instanceOf (component: string, overriddenExports: Record<string, string> = {}): Instance {
  return { name: 'i', component, path: `/vm/i`, overriddenExports, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }
}

/** A graph under a target VM; `types` are the facets and components to test. */
function graph (types: string, children: string): ReturnType<typeof parseGraph> {
  return parseGraph(`VM {\n  installer: target;\n  children: ${children};\n}\n\n${types}\n`)
}

test('a facet variable whose own name holds a dot gets the facet prefix, and the component\'s; the component\'s own port does not touch it', t => {
  const { components, errors } = graph(`facet web {
  exports: http.port = 80;
}

Api {
  installer: script;
  facets: web;
  exports: port = 8080;
}

Client {
  installer: script;
  imports: web.http.port, Api.http.port;
}`, 'Api, Client')
  t.deepEqual(errors, [])
  t.deepEqual(components.Api.exports, { 'web.http.port': '80', 'Api.http.port': '80', 'Api.port': '8080' })
  // §4.2: the instance publishes one group per prefix, the facet's and the component's
  const groups = exportsByPrefix(instanceExports(components.Api, instanceOf('Api')))
  t.deepEqual(Object.fromEntries(groups), { web: { 'web.http.port': '80' }, Api: { 'Api.http.port': '80', 'Api.port': '8080' } })
  t.deepEqual(tailorImport(components.Client.imports, 'web', groups.get('web')!), { 'web.http.port': '80' })
})

test('nobody exports the unprefixed dotted name: importing http.port is unresolvable (a facet variable, as written)', t => {
  const { errors } = graph(`facet web {
  exports: http.port = 80;
}

Api {
  installer: script;
  facets: web;
}

Client {
  installer: script;
  imports: http.port;
}`, 'Api, Client')
  // Roboconf tells facet variables by their names as written in the facet: http.port is one
  t.deepEqual(errors.map(e => [e.code, e.level]), [['RM_UNRESOLVABLE_FACET_VARIABLE', 'SEVERE']])
})

test('a component\'s own dotted name gets its prefix unless it names an inherited variable exactly', t => {
  const { components } = graph(`facet db {
  exports: ip;
}

tomcat {
  installer: puppet;
  exports: db.ip;
  exports: db.port = 8080;
}

X {
  installer: script;
  facets: db;
  exports: db.ip = 10.0.0.1;
}`, 'tomcat, X')
  t.deepEqual(components.tomcat.exports, { 'tomcat.db.ip': null, 'tomcat.db.port': '8080' })
  // the facet's variable is overridden, then replicated under X's prefix with the new value
  t.deepEqual(components.X.exports, { 'db.ip': '10.0.0.1', 'X.ip': '10.0.0.1' })
})

test('a component\'s own dotted local name overrides the inherited variables with that local name', t => {
  const { components } = graph(`facet web {
  exports: http.port = 80;
}

Api {
  installer: script;
  facets: web;
  exports: http.port = 81;
}`, 'Api')
  t.deepEqual(components.Api.exports, { 'web.http.port': '81', 'Api.http.port': '81' })
})

test('extension: overriding A.port in B also gives B.port that value (replication comes after the own exports)', t => {
  const { components } = graph(`A {
  installer: script;
  exports: port = 1, ip;
}

B {
  extends: A;
  exports: A.port = 2;
}`, 'A')
  t.deepEqual(components.B.exports, { 'A.port': '2', 'A.ip': null, 'B.port': '2', 'B.ip': null })
})

test('a facet\'s own local name does not override what it inherits from the facets it extends', t => {
  const { components } = graph(`facet F1 {
  exports: port = 1, ip;
}

facet F2 {
  extends: F1;
  exports: port = 2, F1.ip = 10.0.0.2;
}

C {
  installer: script;
  facets: F2;
}`, 'C')
  // F1.ip names an inherited variable exactly: overridden, not prefixed again
  t.like(components.C.exports, { 'F1.port': '1', 'F2.port': '2', 'F1.ip': '10.0.0.2' })
  t.false('F2.ip' in components.C.exports)
  t.false('F2.F1.ip' in components.C.exports)
})

test('an instance override is looked up by local name first: A.port in A overrides the two variables whose local name is A.port', t => {
  const { components, errors } = graph(`facet X {
  exports: A.port = 5;
}

A {
  installer: script;
  facets: X;
  exports: port = 1;
}`, 'A')
  t.deepEqual(errors, [])
  t.deepEqual(components.A.exports, { 'X.A.port': '5', 'A.port': '1', 'A.A.port': '5' })
  t.deepEqual(instanceExports(components.A, instanceOf('A', { 'A.port': '9' })), { 'X.A.port': '9', 'A.port': '9', 'A.A.port': '9' })
})

test('importing a variable of a facet no component has: FACET only for the facet\'s raw names and its wildcard', t => {
  const { errors } = graph(`facet F {
  exports: port;
}

facet G {
  exports: G.x;
}

C {
  installer: script;
  imports: F.port, F.*, G.x;
}`, 'C')
  const unresolvable = errors.filter(e => e.code.startsWith('RM_UNRESOLVABLE')).map(e => `${e.code} ${e.message}`).sort()
  t.is(unresolvable.length, 3, unresolvable.join('\n'))
  // F's raw name is `port`: `F.port` is an ordinary unresolvable variable; G's raw name is `G.x`
  t.regex(unresolvable[0], /^RM_UNRESOLVABLE_FACET_VARIABLE .*F\.\*/)
  t.regex(unresolvable[1], /^RM_UNRESOLVABLE_FACET_VARIABLE .*G\.x/)
  t.regex(unresolvable[2], /^RM_UNRESOLVABLE_VARIABLE .*F\.port/)
})
