// The chaos invariant checker on LAMP snapshots: it accepts a consistent application and names each real violation.
import test from 'ava'
import { checkInvariant } from '../chaos/invariant.js'
import type { ApplicationSnapshot, InstanceView } from '../chaos/invariant.js'
import type { Component } from '../../protocol/model/types.js'

function component (name: string, exports: Record<string, string | null>, imports: Array<[string, boolean]>): Component {
  return { name, installer: name === 'VM' ? 'target' : 'script', exports, randomExports: [],
    imports: imports.map(([n, optional]) => ({ name: n, optional, external: false })),
    facets: [], extendsChain: [], children: [] }
}

const LAMP: Record<string, Component> = {
  VM: component('VM', {}, []),
  MySQL: component('MySQL', { 'MySQL.ip': null, 'MySQL.port': '3306' }, []),
  Tomcat: component('Tomcat', { 'Tomcat.ip': null, 'Tomcat.portAJP': '8009' }, [['MySQL.ip', false], ['MySQL.port', false]]),
  Apache: component('Apache', { 'Apache.ip': null }, [['Tomcat.ip', false], ['Tomcat.portAJP', false]])
}

function view (path: string, status: InstanceView['status'], imports: Record<string, string[]> = {}): InstanceView {
  return { path, component: path.split('/').at(-1)!, status, imports }
}

function healthy (): ApplicationSnapshot {
  return {
    components: LAMP,
    instances: [
      view('/MySQL VM/MySQL', 'DEPLOYED_STARTED'),
      view('/Tomcat VM 1/Tomcat', 'DEPLOYED_STARTED', { MySQL: ['/MySQL VM/MySQL'] }),
      view('/Tomcat VM 2/Tomcat', 'DEPLOYED_STARTED', { MySQL: ['/MySQL VM/MySQL'] }),
      view('/Apache VM/Apache', 'DEPLOYED_STARTED', { Tomcat: ['/Tomcat VM 2/Tomcat', '/Tomcat VM 1/Tomcat'] })
    ],
    balancer: {
      apachePath: '/Apache VM/Apache',
      listed: ['127.0.0.1:9002', '127.0.0.1:9001'],
      memberOf: { '/Tomcat VM 1/Tomcat': '127.0.0.1:9001', '/Tomcat VM 2/Tomcat': '127.0.0.1:9002' }
    }
  }
}

test('a consistent LAMP application has no violation', t => {
  t.deepEqual(checkInvariant(healthy()), [])
})

test('a stale import of a stopped Tomcat is caught, with the balancer that still lists it', t => {
  const snapshot = healthy()
  snapshot.instances[2] = view('/Tomcat VM 2/Tomcat', 'DEPLOYED_STOPPED', { MySQL: ['/MySQL VM/MySQL'] })
  const violations = checkInvariant(snapshot)
  t.deepEqual(violations.map(v => [v.rule, v.instancePath, v.prefix]), [
    ['imports', '/Apache VM/Apache', 'Tomcat'],
    ['balancer', '/Apache VM/Apache', undefined]
  ])
  t.deepEqual(violations[0].expected, ['/Tomcat VM 1/Tomcat'])
  t.deepEqual(violations[0].actual, ['/Tomcat VM 1/Tomcat', '/Tomcat VM 2/Tomcat'])
  t.regex(violations[1].message, /lists \[127\.0\.0\.1:9001, 127\.0\.0\.1:9002\], but the started Tomcats are \[127\.0\.0\.1:9001\]/)
})

test('the instances of a dead agent count as gone: importers that still hold them are caught', t => {
  const snapshot = healthy()
  // The MySQL agent was killed: its instance is not in the snapshot, yet both Tomcats still import it.
  snapshot.instances.splice(0, 1)
  const violations = checkInvariant(snapshot)
  t.deepEqual(violations.map(v => [v.rule, v.instancePath]), [
    ['imports', '/Tomcat VM 1/Tomcat'],
    ['imports', '/Tomcat VM 2/Tomcat']
  ])
})

test('a missing import and a balancer config that was never written are caught', t => {
  const snapshot = healthy()
  snapshot.instances[3] = view('/Apache VM/Apache', 'DEPLOYED_STARTED', { Tomcat: ['/Tomcat VM 1/Tomcat'] })
  snapshot.balancer!.listed = null
  const violations = checkInvariant(snapshot)
  t.deepEqual(violations.map(v => v.rule), ['imports', 'balancer'])
  t.deepEqual(violations[0].expected, ['/Tomcat VM 1/Tomcat', '/Tomcat VM 2/Tomcat'])
  t.regex(violations[1].message, /does not exist/)
})

test('an instance left UNRESOLVED while its exporters are started is caught; one without exporters is not', t => {
  const snapshot = healthy()
  snapshot.instances[3] = view('/Apache VM/Apache', 'UNRESOLVED')
  t.deepEqual(checkInvariant(snapshot).map(v => [v.rule, v.instancePath]), [['stuck', '/Apache VM/Apache']])

  snapshot.instances[1] = view('/Tomcat VM 1/Tomcat', 'UNRESOLVED')
  snapshot.instances[2] = view('/Tomcat VM 2/Tomcat', 'UNRESOLVED')
  snapshot.instances.splice(0, 1) // MySQL gone: the Tomcats, then Apache, are rightly unresolved
  t.deepEqual(checkInvariant(snapshot), [])
})
