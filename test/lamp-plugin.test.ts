// The LAMP template driven by the agent's own script plug-in: the template as the model loader reads it, the
// recipe files written as the engine writes them, each instance's exports computed by instanceExports (the DM's
// generated port given as an override), the imports passed as the mesh delivers them. Proves the recipes work
// unchanged under the environment the agent builds.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from '../agent/plugins/index.js'
import { createScriptPlugin } from '../agent/plugins/script.js'
import type { Import } from '../protocol/messages.js'
import { instanceExports, loadApplicationTemplate, type ApplicationTemplate, type Instance } from '../protocol/model/index.js'
import { LAMP_DIR, answeredBy, getJson, isAlive } from './lamp-helpers.js'
import { freePort } from '../common/net.js'

const tempDirs: string[] = []
const contexts: ExecutionContext[] = []
const plugin = createScriptPlugin({ timeoutMs: 60_000 })

test.after.always(async () => {
  for (const context of contexts) await plugin.undeploy(context).catch(() => {})
  await Promise.all(tempDirs.map(async dir => await rm(dir, { recursive: true, force: true })))
})

const log = { debug: () => {}, info: () => {}, warn: () => {}, error: (message: string) => { console.error(message) } }

/** The instance's context, its recipe folder written under `root` as the engine's deploy writes it. */
async function contextFor (template: ApplicationTemplate, root: string, instance: Instance, parent: Instance,
  imports: Record<string, Import[]>): Promise<ExecutionContext> {
  const component = template.components[instance.component]
  const instanceDir = join(root, instance.path.replace(/\W/g, '_'))
  const prefix = `${component.recipeDirectory ?? ''}/`
  for (const [file, content] of Object.entries(template.files)) {
    if (!file.startsWith(prefix)) continue
    const target = join(instanceDir, file.slice(prefix.length))
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, content)
  }
  const context: ExecutionContext = {
    application: 'lamp-plugin-test',
    instance,
    component,
    exports: instanceExports(component, instance, '127.0.0.1'),
    imports,
    ancestors: [{ path: parent.path, component: parent.component, exports: {} }],
    instanceDir,
    log
  }
  contexts.push(context)
  return context
}

test('the script plug-in runs the LAMP recipes: Apache serves both Tomcats, then one, same pid', async t => {
  const { template, errors } = await loadApplicationTemplate(LAMP_DIR)
  if (template === undefined) return t.fail(JSON.stringify(errors))
  const root = await mkdtemp(join(tmpdir(), 'lamp-plugin-'))
  tempDirs.push(root)
  const vm = (name: string): Instance => {
    const found = template.rootInstances.find(i => i.name === name)
    if (found === undefined) throw new Error(`no root instance ${name} in the template`)
    return found
  }
  const [mysqlVm, tomcatVm1, apacheVm] = [vm('MySQL VM'), vm('Tomcat VM 1'), vm('Apache VM')]
  // the second Tomcat VM as the DM's replicate makes it: the same subtree under a new root name
  const tomcatVm2: Instance = { ...structuredClone(tomcatVm1), name: 'Tomcat VM 2', path: '/Tomcat VM 2' }
  tomcatVm2.children = tomcatVm2.children.map(c => ({ ...c, path: `/Tomcat VM 2/${c.name}` }))
  const child = (root: Instance): Instance => structuredClone(root.children[0])
  const mysql = child(mysqlVm)
  const tomcat1 = child(tomcatVm1)
  const tomcat2 = child(tomcatVm2)
  const apache = child(apacheVm)
  // what the DM does for `random[port] port`
  for (const instance of [mysql, tomcat1, tomcat2, apache]) instance.overriddenExports.port = String(await freePort())

  const exported = (context: ExecutionContext, prefix: string): Import => ({
    instancePath: context.instance.path,
    component: context.instance.component,
    variables: Object.fromEntries(Object.entries(context.exports).filter(([name]) => name.startsWith(`${prefix}.`)))
  })
  const mysqlContext = await contextFor(template, root, mysql, mysqlVm, {})
  const mysqlImport = { MySQL: [exported(mysqlContext, 'MySQL')] }
  const tomcat1Context = await contextFor(template, root, tomcat1, tomcatVm1, mysqlImport)
  const tomcat2Context = await contextFor(template, root, tomcat2, tomcatVm2, mysqlImport)
  const apacheContext = await contextFor(template, root, apache, apacheVm, { Tomcat: [exported(tomcat1Context, 'Tomcat')] })
  t.is(tomcat2Context.exports['Tomcat.ip'], '127.0.0.1')

  for (const context of [mysqlContext, tomcat1Context, apacheContext]) {
    await plugin.deploy(context)
    await plugin.start(context)
  }
  const url = `http://127.0.0.1:${apache.overriddenExports.port}`
  const first = (await getJson(`${url}/server-status`)).body
  const names = async (count: number): Promise<string[]> => {
    const seen: string[] = []
    for (let i = 0; i < count; i++) {
      const reply = await getJson(`${url}/`)
      t.is(reply.body.value, 'Hello from /MySQL VM/MySQL')
      seen.push(reply.body.name)
    }
    return seen
  }
  t.deepEqual(await names(2), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 1/Tomcat'])

  await plugin.deploy(tomcat2Context)
  await plugin.start(tomcat2Context)
  const tomcat2Import = exported(tomcat2Context, 'Tomcat')
  apacheContext.imports = { Tomcat: [exported(tomcat1Context, 'Tomcat'), tomcat2Import] }
  await plugin.update(apacheContext, { importChanged: tomcat2Import, statusChanged: 'DEPLOYED_STARTED' })
  t.deepEqual(answeredBy(await names(4)), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 2/Tomcat'])

  await plugin.stop(tomcat2Context)
  apacheContext.imports = { Tomcat: [exported(tomcat1Context, 'Tomcat')] }
  await plugin.update(apacheContext, { importChanged: tomcat2Import, statusChanged: 'DEPLOYED_STOPPED' })
  t.deepEqual(await names(3), Array(3).fill('/Tomcat VM 1/Tomcat'))
  const last = (await getJson(`${url}/server-status`)).body
  t.is(last.pid, first.pid, 'Apache was never restarted')
  t.is(last.reloads, 2)

  for (const context of [apacheContext, tomcat1Context, mysqlContext]) await plugin.stop(context)
  t.false(isAlive(first.pid))
})
