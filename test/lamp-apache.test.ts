// The LAMP recipes with real servers (Debian's apache2, tomcat10, libmariadb-java and the host's MariaDB at
// 127.0.0.1:3306), run by bash exactly as the script plug-in runs them, with Roboconf's environment built by hand:
// a request to Apache is served in turn by both Tomcats, which read from MariaDB; after the second Tomcat is
// removed only one serves, and Apache's parent process was never restarted.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { LAMP_APACHE_DIR, answeredBy, getJson, isAlive, layOutInstance, runRecipe, type RecipeImports, type RecipeInstance } from './lamp-helpers.js'
import { freePort } from '../common/net.js'

const tempDirs: string[] = []
const deployed: RecipeInstance[] = []

test.after.always(async () => {
  // undeploy.sh stops the servers and drops the database whatever a failed test left
  for (const instance of deployed.reverse()) await runRecipe(instance, 'undeploy')
  await Promise.all(tempDirs.map(async dir => await rm(dir, { recursive: true, force: true })))
})

async function lay (path: string, component: string, exports: Record<string, string>): Promise<RecipeInstance> {
  const root = await mkdtemp(join(tmpdir(), 'lamp-apache-'))
  tempDirs.push(root)
  const instance = await layOutInstance(LAMP_APACHE_DIR, root, path, component, exports)
  deployed.push(instance)
  return instance
}

test('Apache httpd balances two Tomcat 10 reading MariaDB, then one after a graceful reload, same parent pid', async t => {
  // a database of its own, so that test runs in parallel do not meet
  const mysql = await lay('/MySQL VM/MySQL', 'MySQL', {
    ip: '127.0.0.1', port: '3306', database: `lamp_test_${randomBytes(4).toString('hex')}`, user: 'root'
  })
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
    if (run.code !== 0) throw new Error(`${instance.path} ${action}.sh failed`)
  }

  await ok(mysql, 'deploy')
  await ok(mysql, 'start')
  await Promise.all([tomcat1, tomcat2].map(async tomcat => {
    await ok(tomcat, 'deploy')
    await ok(tomcat, 'start', mysqlImport)
  }))
  await ok(apache, 'deploy')
  await ok(apache, 'start', tomcats(tomcat1))
  const apacheUrl = `http://127.0.0.1:${apache.exports.port}`
  const parentPid = async (): Promise<number> => Number((await readFile(join(apache.dir, 'run', 'httpd.pid'), 'utf8')).trim())
  const firstPid = await parentPid()
  t.true(isAlive(firstPid))

  const served = async (count: number): Promise<string[]> => {
    const names: string[] = []
    for (let i = 0; i < count; i++) {
      const reply = await getJson(`${apacheUrl}/`)
      t.is(reply.status, 200, JSON.stringify(reply.body))
      t.is(reply.body.value, 'Hello from MariaDB, /MySQL VM/MySQL', 'the value is read from MariaDB')
      names.push(reply.body.name)
    }
    return names
  }
  t.deepEqual(await served(2), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 1/Tomcat'])

  await ok(apache, 'update', tomcats(tomcat1, tomcat2))
  const turns = await served(4)
  t.deepEqual(answeredBy(turns), ['/Tomcat VM 1/Tomcat', '/Tomcat VM 2/Tomcat'], 'both Tomcats serve')
  t.not(turns[0], turns[1], 'in turn')

  // the second Tomcat VM goes: Apache's update first, then its Tomcat stops and is undeployed
  await ok(apache, 'update', tomcats(tomcat1))
  await ok(tomcat2, 'stop')
  await ok(tomcat2, 'undeploy')
  t.deepEqual(await served(3), Array(3).fill('/Tomcat VM 1/Tomcat'))
  t.is(await parentPid(), firstPid, 'Apache\'s parent process was never restarted')
  t.true(isAlive(firstPid))

  const tomcatPid = Number((await readFile(join(tomcat1.dir, 'run', 'tomcat.pid'), 'utf8')).trim())
  await ok(apache, 'stop')
  await ok(tomcat1, 'stop')
  t.false(isAlive(firstPid))
  t.false(isAlive(tomcatPid))
  await ok(mysql, 'undeploy')
  const left = await runRecipe(mysql, 'start')
  t.not(left.code, 0, 'the database is dropped by undeploy')
})

test('the Apache recipe refuses a configuration Apache would not load, and names the variable that is missing', async t => {
  const apache = await lay('/Apache VM 9/Apache', 'Apache', { ip: '127.0.0.1', port: String(await freePort()) })
  t.is((await runRecipe(apache, 'deploy')).code, 0)
  const badMember = await runRecipe(apache, 'start', { Tomcat: [{ path: '/T/Tomcat', variables: { ip: '127.0.0.1', port: 'x y' } }] })
  t.not(badMember.code, 0)
  t.regex(badMember.stderr, /the new Apache configuration .* is refused/)
  const noPort = await runRecipe(apache, 'start', { Tomcat: [{ path: '/T/Tomcat', variables: { ip: '127.0.0.1', port: '' } }] })
  t.not(noPort.code, 0)
  t.regex(noPort.stderr, /\$Tomcat_0_port is empty/)
})

test('Tomcat and Apache refuse to start on a port another process holds, and say which', async t => {
  const holder = createServer()
  const port = await freePort()
  await new Promise<void>(resolve => holder.listen(port, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const tomcat = await lay('/Tomcat VM 8/Tomcat', 'Tomcat', { ip: '127.0.0.1', port: String(port) })
  const apache = await lay('/Apache VM 8/Apache', 'Apache', { ip: '127.0.0.1', port: String(port) })
  const mysql: RecipeImports = { MySQL: [{ path: '/M/MySQL', variables: { ip: '127.0.0.1', port: '3306', database: 'lamp', user: 'root' } }] }
  const tomcatStart = await runRecipe(tomcat, 'start', mysql)
  t.not(tomcatStart.code, 0)
  t.regex(tomcatStart.stderr, new RegExp(`/Tomcat VM 8/Tomcat: 127\\.0\\.0\\.1:${port} is already in use by another process`))
  const apacheStart = await runRecipe(apache, 'start', { Tomcat: [{ path: '/T/Tomcat', variables: { ip: '127.0.0.1', port: '1' } }] })
  t.not(apacheStart.code, 0)
  t.regex(apacheStart.stderr, new RegExp(`/Apache VM 8/Apache: 127\\.0\\.0\\.1:${port} is already in use by another process`))
})
