// The chaos runs read what agents hold from their saved state files and Apache's rendered config: real files in a
// temp folder, written the way the agent (AgentStateStore) and the LAMP recipe (apache.sh) write them.
import test from 'ava'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentStateStore } from '../../agent/state.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import { instanceFolderName } from '../../agent/state.js'
import { parseBalancerMembers, snapshotFromAgents } from '../chaos/snapshot.js'
import { checkInvariant } from '../chaos/invariant.js'

const component = (name: string, exports: Record<string, string | null>, imports: string[]): Component => ({
  name, installer: name === 'VM' ? 'target' : 'script', exports, randomExports: [], facets: [], extendsChain: [],
  children: name === 'VM' ? ['Tomcat', 'Apache'] : [], imports: imports.map(n => ({ name: n, optional: false, external: false }))
})
const COMPONENTS: Record<string, Component> = {
  VM: component('VM', {}, []),
  Tomcat: component('Tomcat', { 'Tomcat.ip': null, 'Tomcat.port': null }, []),
  Apache: component('Apache', { 'Apache.ip': null, 'Apache.port': null }, ['Tomcat.ip', 'Tomcat.port'])
}

function machine (vm: string, ip: string, child: Instance): Instance {
  return { name: vm, component: 'VM', path: `/${vm}`, overriddenExports: {}, data: { 'ip.address': ip }, channels: [], status: 'DEPLOYED_STARTED', children: [child] }
}
function leaf (vm: string, name: string, port: string): Instance {
  return { name, component: name, path: `/${vm}/${name}`, overriddenExports: { port }, data: {}, channels: [], status: 'DEPLOYED_STARTED', children: [] }
}

test('a snapshot from agents\' state files and Apache\'s config: consistent, then a stale balancer member is caught', async t => {
  const root = await mkdtemp(join(tmpdir(), 'chaos-snapshot-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  const mesh = { bootstrapPeers: [], pnetKey: '', trustedDmKeys: [], ownership: { peerId: '', application: 'lamp', scopedInstancePath: '', dmPublicKey: '', signature: '' } }
  const save = (dir: string, instance: Instance, imports: Record<string, Record<string, Array<{ instancePath: string, component: string, variables: Record<string, string> }>>> = {}): Promise<void> => {
    return new AgentStateStore(dir).save({ version: 1, model: { application: 'lamp', scopedInstancePath: instance.path, components: COMPONENTS, instance, externalExports: {} }, mesh, imports })
  }
  const tomcat1 = join(root, 't1')
  const tomcat2 = join(root, 't2')
  const apache = join(root, 'a')
  for (const dir of [tomcat1, tomcat2, apache]) await mkdir(dir)
  await save(tomcat1, machine('Tomcat VM 1', '10.0.0.2', leaf('Tomcat VM 1', 'Tomcat', '9001')))
  await save(tomcat2, machine('Tomcat VM 2', '10.0.0.3', leaf('Tomcat VM 2', 'Tomcat', '9002')))
  const apacheImports = {
    '/Apache VM/Apache': {
      Tomcat: [
        { instancePath: '/Tomcat VM 1/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.2', 'Tomcat.port': '9001' } },
        { instancePath: '/Tomcat VM 2/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.3', 'Tomcat.port': '9002' } }
      ]
    }
  }
  await save(apache, machine('Apache VM', '10.0.0.4', leaf('Apache VM', 'Apache', '8080')), apacheImports)
  const runDir = join(apache, 'instances', instanceFolderName('/Apache VM/Apache'), 'run')
  await mkdir(runDir, { recursive: true })
  await writeFile(join(runDir, 'apache.conf'), '# written by the Apache recipe\nhost = 10.0.0.4\nport = 8080\nmember = http://10.0.0.2:9001\nmember = http://10.0.0.3:9002\n')

  const all = snapshotFromAgents([tomcat1, tomcat2, apache], '/Apache VM/Apache')
  t.is(all.instances.length, 6)
  t.deepEqual(all.balancer?.memberOf, { '/Tomcat VM 1/Tomcat': 'http://10.0.0.2:9001', '/Tomcat VM 2/Tomcat': 'http://10.0.0.3:9002' })
  t.deepEqual(checkInvariant(all), [])

  // Tomcat VM 2's agent is gone from the live set: Apache's import and its balancer member are now stale.
  const violations = checkInvariant(snapshotFromAgents([tomcat1, apache], '/Apache VM/Apache'))
  t.deepEqual(violations.map(v => v.rule), ['imports', 'balancer'])
  t.deepEqual(violations[1].actual, ['http://10.0.0.2:9001', 'http://10.0.0.3:9002'])
})

test('balancer members are read from member lines only; no file means no config', t => {
  t.deepEqual(parseBalancerMembers('host = x\nmember = http://a:1\n# member = http://b:2\nmember=http://c:3\n'), ['http://a:1', 'http://c:3'])
  t.is(parseBalancerMembers(undefined), null)
})
