// The LAMP recipes run by bash exactly as the script plug-in runs them (cwd = scripts folder, Roboconf's
// environment of reference §4.5 built by hand), in a temp folder: deploy, start, Apache's update with 1, 2 and
// 1 Tomcats (same Apache pid throughout), stop, undeploy.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { LAMP_DIR, answeredBy, getJson, isAlive, layOutInstance, runRecipe, type RecipeImports, type RecipeInstance } from './lamp-helpers.js'
import { freePort } from '../common/net.js'

const tempDirs: string[] = []
const deployed: RecipeInstance[] = []

test.after.always(async () => {
  // undeploy.sh stops whatever a failed test left running
  for (const instance of deployed) await runRecipe(instance, 'undeploy')
  await Promise.all(tempDirs.map(async dir => await rm(dir, { recursive: true, force: true })))
})

async function lay (path: string, component: string, exports: Record<string, string>): Promise<RecipeInstance> {
  const root = await mkdtemp(join(tmpdir(), 'lamp-recipes-'))
  tempDirs.push(root)
  const instance = await layOutInstance(LAMP_DIR, root, path, component, exports)
  deployed.push(instance)
  return instance
}

async function pidOf (instance: RecipeInstance, service: string): Promise<number> {
  return Number((await readFile(join(instance.dir, 'run', `${service}.pid`), 'utf8')).trim())
}

test('the three copies of scripts/service.sh are identical (each recipe folder is self-contained)', async t => {
  const [mysql, tomcat, apache] = await Promise.all(['MySQL', 'Tomcat', 'Apache'].map(async c =>
    await readFile(join(LAMP_DIR, 'graph', c, 'scripts', 'service.sh'), 'utf8')))
  t.is(tomcat, mysql)
  t.is(apache, mysql)
})

test('deploy, start, update with 1, 2, 1 Tomcats, stop and undeploy, with the Roboconf environment', async t => {
  const mysql = await lay('/MySQL VM/MySQL', 'MySQL', { ip: '127.0.0.1', port: String(await freePort()) })
  const tomcat1 = await lay('/Tomcat VM 1/Tomcat', 'Tomcat', { ip: '127.0.0.1', port: String(await freePort()) })
  const tomcat2 = await lay('/Tomcat VM 2/Tomcat', 'Tomcat', { ip: '127.0.0.1', port: String(await freePort()) })
  const apache = await lay('/Apache VM/Apache', 'Apache', { ip: '127.0.0.1', port: String(await freePort()) })
  const mysqlImport: RecipeImports = { MySQL: [{ path: mysql.path, variables: mysql.exports }] }
  const tomcats = (...instances: RecipeInstance[]): RecipeImports => ({
    Tomcat: instances.map(i => ({ path: i.path, variables: { ip: i.exports.ip, port: i.exports.port } }))
  })
  const ok = async (instance: RecipeInstance, action: string, imports?: RecipeImports): Promise<void> => {
    const run = await runRecipe(instance, action, imports)
    t.is(run.code, 0, `${instance.path} ${action}.sh: ${run.stderr}`)
  }

  await ok(mysql, 'deploy')
  await ok(mysql, 'start')
  await ok(tomcat1, 'deploy')
  await ok(tomcat1, 'start', mysqlImport)
  await ok(apache, 'deploy')
  await ok(apache, 'start', tomcats(tomcat1))
  const apacheUrl = `http://127.0.0.1:${apache.exports.port}`
  const status = async (): Promise<{ pid: number, startedAt: string, reloads: number }> => (await getJson(`${apacheUrl}/server-status`)).body
  const first = await status()
  t.is(first.pid, await pidOf(apache, 'apache'))

  const served = async (count: number): Promise<string[]> => {
    const names: string[] = []
    for (let i = 0; i < count; i++) {
      const reply = await getJson(`${apacheUrl}/`)
      t.is(reply.status, 200)
      t.is(reply.body.value, 'Hello from /MySQL VM/MySQL', 'the value comes from the MySQL instance')
      names.push(reply.body.name)
    }
    return names
  }
  t.deepEqual(await served(2), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 1/Tomcat'])

  // a second Tomcat VM: deployed and started, then Apache's update with both
  await ok(tomcat2, 'deploy')
  await ok(tomcat2, 'start', mysqlImport)
  await ok(apache, 'update', tomcats(tomcat1, tomcat2))
  t.is((await status()).reloads, 1)
  const turns = await served(4)
  t.deepEqual(answeredBy(turns), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 2/Tomcat'])
  t.not(turns[0], turns[1])

  // the second Tomcat goes: Apache's update with one, then that Tomcat stops
  await ok(apache, 'update', tomcats(tomcat1))
  await ok(tomcat2, 'stop')
  t.deepEqual(await served(3), Array(3).fill('/Tomcat VM 1/Tomcat'))
  const last = await status()
  t.is(last.pid, first.pid, 'Apache was never restarted')
  t.is(last.startedAt, first.startedAt)
  t.is(last.reloads, 2)

  // start.sh on a running service reloads it (an agent restarted while its services kept running)
  await ok(apache, 'start', tomcats(tomcat1))
  t.like(await status(), { pid: first.pid, reloads: 3 })

  const pids = await Promise.all([pidOf(mysql, 'db'), pidOf(tomcat1, 'tomcat'), pidOf(apache, 'apache')])
  await ok(apache, 'stop')
  await ok(tomcat1, 'stop')
  await ok(mysql, 'stop')
  t.deepEqual(pids.map(isAlive), [false, false, false])
  await ok(apache, 'stop') // stopping twice is harmless

  // the database keeps its data across stop and start; undeploy removes it
  await ok(mysql, 'start')
  t.like((await getJson(`http://127.0.0.1:${mysql.exports.port}/kv/message`)).body, { value: 'Hello from /MySQL VM/MySQL' })
  const dbPid = await pidOf(mysql, 'db')
  for (const instance of [apache, tomcat1, tomcat2, mysql]) await ok(instance, 'undeploy')
  t.false(isAlive(dbPid), 'undeploy stops a running service')
  await t.throwsAsync(stat(join(mysql.dir, 'run')), { code: 'ENOENT' })
})

test('start.sh fails clearly when an export or an import is missing', async t => {
  const tomcat = await lay('/Tomcat VM 9/Tomcat', 'Tomcat', { ip: '127.0.0.1', port: '' })
  t.is((await runRecipe(tomcat, 'deploy')).code, 0)
  const noPort = await runRecipe(tomcat, 'start', { MySQL: [{ path: '/M/MySQL', variables: { ip: '127.0.0.1', port: '1' } }] })
  t.not(noPort.code, 0)
  t.regex(noPort.stderr, /\/Tomcat VM 9\/Tomcat: \$port is empty/)
  tomcat.exports.port = String(await freePort())
  const noDb = await runRecipe(tomcat, 'start')
  t.not(noDb.code, 0)
  t.regex(noDb.stderr, /\$MySQL_0_ip is empty/)
})

test('start.sh reports a service that cannot listen, with the end of its log', async t => {
  const mysql = await lay('/MySQL VM/MySQL', 'MySQL', { ip: '127.0.0.1', port: '70000' })
  t.is((await runRecipe(mysql, 'deploy')).code, 0)
  const run = await runRecipe(mysql, 'start')
  t.not(run.code, 0)
  t.regex(run.stderr, /db did not start listening/)
  t.regex(run.stderr, /--port must be an integer in 1\.\.65535/)
})
