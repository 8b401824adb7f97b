// Both LAMP templates load with meshconf's model loader without any SEVERE error, with the seed's graph and
// instances, the DM-generated ports, and the recipe files an agent receives.
import test from 'ava'
import { loadApplicationTemplate } from '../protocol/model/index.js'
import { LAMP_APACHE_DIR, LAMP_DIR } from './lamp-helpers.js'

for (const [label, dir] of [['lamp', LAMP_DIR], ['lamp-apache', LAMP_APACHE_DIR]]) {
  test(`${label}: the template loads with no SEVERE error, with the seed's graph and instances`, async t => {
    const { template, errors } = await loadApplicationTemplate(dir)
    t.deepEqual(errors.filter(e => e.level === 'SEVERE'), [])
    // VM has no recipe folder on purpose (no target properties: the DM's default target applies)
    t.deepEqual(errors.map(e => `${e.code} ${e.level}`), ['PROJ_NO_RESOURCE_DIRECTORY WARNING'])
    if (template === undefined) return t.fail('no template')
    t.deepEqual(Object.keys(template.components).sort(), ['Apache', 'MySQL', 'Tomcat', 'VM'])
    t.is(template.components.VM.installer, 'target')
    t.deepEqual(template.components.VM.children.sort(), ['Apache', 'MySQL', 'Tomcat'])
    for (const component of ['MySQL', 'Tomcat', 'Apache']) t.is(template.components[component].installer, 'script')
    t.deepEqual(template.components.Tomcat.imports.map(i => i.name).filter(n => n.startsWith('MySQL.')).slice(0, 2),
      ['MySQL.ip', 'MySQL.port'])
    t.deepEqual(template.components.Apache.imports.map(i => i.name).sort(), ['Tomcat.ip', 'Tomcat.port'])
    // one host runs every machine: the service ports are the DM's to choose
    t.deepEqual(template.components.Tomcat.randomExports, ['Tomcat.port'])
    t.deepEqual(template.components.Apache.randomExports, ['Apache.port'])
    t.deepEqual(template.rootInstances.map(i => [i.name, i.children.map(c => `${c.component}:${c.name}`)]), [
      ['MySQL VM', ['MySQL:MySQL']], ['Tomcat VM 1', ['Tomcat:Tomcat']], ['Apache VM', ['Apache:Apache']]
    ])
    for (const component of ['MySQL', 'Tomcat', 'Apache']) {
      for (const action of ['deploy', 'start', 'update', 'stop', 'undeploy']) {
        t.truthy(template.files[`graph/${component}/scripts/${action}.sh`], `${component} ${action}.sh`)
      }
    }
    t.deepEqual(template.targets.VM ?? [], [])
  })
}

test('lamp: each service program travels with its component\'s recipe folder', async t => {
  const { template } = await loadApplicationTemplate(LAMP_DIR)
  for (const path of ['graph/MySQL/files/db.mjs', 'graph/Tomcat/files/tomcat.mjs', 'graph/Apache/files/apache.mjs']) {
    t.truthy(template?.files[path], path)
  }
})
