// The LAMP simulation's services as real processes: the database answers, Tomcat reads from it, Apache
// round-robins over the Tomcats of its config file and re-reads that file on SIGHUP without restarting.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { LAMP_DIR, answeredBy, getJson } from './lamp-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

const children = new Set<ChildProcess>()
const tempDirs: string[] = []

test.after.always(async () => {
  for (const child of children) child.kill('SIGKILL')
  await Promise.all(tempDirs.map(async dir => await rm(dir, { recursive: true, force: true })))
})

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lamp-services-'))
  tempDirs.push(dir)
  return dir
}

interface Service { child: ChildProcess, port: number, pidFile: string, output: () => string }

/** Starts `graph/<component>/files/<file>` and waits for its pid file (written once it listens). */
async function startService (component: string, file: string, dir: string, args: string[], port: number): Promise<Service> {
  const pidFile = join(dir, `${file}.${port}.pid`)
  const child = spawn(process.execPath, [join(LAMP_DIR, 'graph', component, 'files', file), ...args, '--pid-file', pidFile],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  child.stdout?.on('data', chunk => { output += String(chunk) })
  child.stderr?.on('data', chunk => { output += String(chunk) })
  child.once('exit', () => children.delete(child))
  await waitFor(`${file} to listen (${output})`, async () => {
    if (child.exitCode !== null) throw new Error(`${file} exited with ${child.exitCode}: ${output}`)
    return (await readFile(pidFile, 'utf8').catch(() => '')).trim() === String(child.pid) ? true : undefined
  })
  return { child, port, pidFile, output: () => output }
}

async function startDb (dir: string, data: Record<string, string>): Promise<Service & { data: string }> {
  const file = join(dir, `db-${Math.random().toString(36).slice(2)}.json`)
  await writeFile(file, JSON.stringify(data))
  const port = await freePort()
  return { ...await startService('MySQL', 'db.mjs', dir, ['--data', file, '--host', '127.0.0.1', '--port', String(port)], port), data: file }
}

async function startTomcat (dir: string, name: string, db: Service): Promise<Service> {
  const port = await freePort()
  const config = join(dir, `tomcat-${port}.conf`)
  await writeFile(config, `name = ${name}\nhost = 127.0.0.1\nport = ${port}\ndatabase = http://127.0.0.1:${db.port}\nkey = message\n`)
  return await startService('Tomcat', 'tomcat.mjs', dir, ['--config', config], port)
}

async function writeApacheConfig (file: string, port: number, members: Service[]): Promise<void> {
  await writeFile(file, [`host = 127.0.0.1`, `port = ${port}`, ...members.map(m => `member = http://127.0.0.1:${m.port}`)].join('\n'))
}

async function stopped (service: Service): Promise<number | null> {
  if (service.child.exitCode !== null) return service.child.exitCode
  return await new Promise(resolve => service.child.once('exit', code => resolve(code)))
}

test('the database answers the stored value, stores a new one in its data file, and refuses bad requests', async t => {
  const dir = await tempDir()
  const db = await startDb(dir, { message: 'hello' })
  const url = `http://127.0.0.1:${db.port}`
  t.deepEqual((await getJson(`${url}/kv/message`)).body, { key: 'message', value: 'hello' })
  t.is((await getJson(`${url}/kv/missing`)).status, 404)
  t.is((await getJson(`${url}/other`)).status, 404)
  t.is((await getJson(`${url}/kv/message`, { method: 'PUT', body: 'changed' })).status, 204)
  t.deepEqual((await getJson(`${url}/kv/message`)).body, { key: 'message', value: 'changed' })
  t.deepEqual(JSON.parse(await readFile(db.data, 'utf8')), { message: 'changed' })
  t.is((await getJson(`${url}/kv/message`, { method: 'DELETE' })).status, 405)
  db.child.kill('SIGTERM')
  t.is(await stopped(db), 0)
  await t.throwsAsync(readFile(db.pidFile), { code: 'ENOENT' }, 'the pid file is removed on SIGTERM')
})

test('the database refuses a data file that is not a JSON object, with the file named', async t => {
  const dir = await tempDir()
  const data = join(dir, 'broken.json')
  await writeFile(data, '[1, 2')
  const child = spawn(process.execPath, [join(LAMP_DIR, 'graph/MySQL/files/db.mjs'), '--data', data, '--host', '127.0.0.1',
    '--port', String(await freePort()), '--pid-file', join(dir, 'db.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise(resolve => child.once('exit', resolve))
  t.is(code, 2)
  t.true(stderr.includes(data), stderr)
})

test('Tomcat answers with its name and the value read from the database at each request', async t => {
  const dir = await tempDir()
  const db = await startDb(dir, { message: 'from the db' })
  const tomcat = await startTomcat(dir, '/Tomcat VM 1/Tomcat', db)
  const reply = await getJson(`http://127.0.0.1:${tomcat.port}/`)
  t.is(reply.status, 200)
  t.like(reply.body, { name: '/Tomcat VM 1/Tomcat', value: 'from the db', pid: tomcat.child.pid })
  await getJson(`http://127.0.0.1:${db.port}/kv/message`, { method: 'PUT', body: 'new value' })
  t.like((await getJson(`http://127.0.0.1:${tomcat.port}/`)).body, { value: 'new value' })
  db.child.kill('SIGTERM')
  await stopped(db)
  const failed = await getJson(`http://127.0.0.1:${tomcat.port}/`)
  t.is(failed.status, 502)
  t.is(failed.body.name, '/Tomcat VM 1/Tomcat')
  t.regex(failed.body.error, new RegExp(`database http://127.0.0.1:${db.port}`))
})

test('Tomcat reads its config at each request: a new database applies without restart', async t => {
  const dir = await tempDir()
  const first = await startDb(dir, { message: 'first db' })
  const second = await startDb(dir, { message: 'second db' })
  const tomcat = await startTomcat(dir, 'T', first)
  t.like((await getJson(`http://127.0.0.1:${tomcat.port}/`)).body, { value: 'first db' })
  const config = join(dir, `tomcat-${tomcat.port}.conf`)
  await writeFile(config, (await readFile(config, 'utf8')).replace(`:${first.port}`, `:${second.port}`))
  t.like((await getJson(`http://127.0.0.1:${tomcat.port}/`)).body, { value: 'second db', pid: tomcat.child.pid })
})

test('Apache round-robins over its members and re-reads them on SIGHUP, same pid, no restart', async t => {
  const dir = await tempDir()
  const db = await startDb(dir, { message: 'v' })
  const one = await startTomcat(dir, 'one', db)
  const two = await startTomcat(dir, 'two', db)
  const port = await freePort()
  const config = join(dir, 'apache.conf')
  await writeApacheConfig(config, port, [one])
  const apache = await startService('Apache', 'apache.mjs', dir, ['--config', config], port)
  const url = `http://127.0.0.1:${port}`
  const before = (await getJson(`${url}/server-status`)).body
  t.like(before, { pid: apache.child.pid, reloads: 0, members: [`http://127.0.0.1:${one.port}`] })

  const names = async (count: number): Promise<string[]> => {
    const seen: string[] = []
    for (let i = 0; i < count; i++) {
      const reply = await getJson(`${url}/`)
      t.is(reply.status, 200)
      t.is(reply.body.value, 'v')
      seen.push(reply.body.name)
    }
    return seen
  }
  t.deepEqual(await names(2), ['one', 'one'])

  await writeApacheConfig(config, port, [one, two])
  apache.child.kill('SIGHUP')
  await waitFor('reload 1', async () => (await getJson(`${url}/server-status`)).body.reloads === 1 ? true : undefined)
  const turns = await names(4)
  t.deepEqual(answeredBy(turns), ['one', 'two'])
  t.not(turns[0], turns[1], 'members answer in turn')
  t.is(turns[0], turns[2])

  await writeApacheConfig(config, port, [two])
  apache.child.kill('SIGHUP')
  await waitFor('reload 2', async () => (await getJson(`${url}/server-status`)).body.reloads === 2 ? true : undefined)
  t.deepEqual(await names(3), ['two', 'two', 'two'])

  const after = (await getJson(`${url}/server-status`)).body
  t.is(after.pid, before.pid)
  t.is(after.startedAt, before.startedAt)
  t.is(apache.child.exitCode, null)
})

test('Apache skips a member that refuses connections, answers 502 when none answers, keeps its config when the new one is broken', async t => {
  const dir = await tempDir()
  const db = await startDb(dir, { message: 'v' })
  const alive = await startTomcat(dir, 'alive', db)
  const deadPort = await freePort()
  const port = await freePort()
  const config = join(dir, 'apache.conf')
  await writeFile(config, `host = 127.0.0.1\nport = ${port}\nmember = http://127.0.0.1:${deadPort}\nmember = http://127.0.0.1:${alive.port}\n`)
  const apache = await startService('Apache', 'apache.mjs', dir, ['--config', config], port)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 3; i++) t.like((await getJson(`${url}/`)).body, { name: 'alive' })

  await writeFile(config, `host = 127.0.0.1\nport = ${port}\nmember = not a url\n`)
  apache.child.kill('SIGHUP')
  await waitFor('the refusal in the log', () => apache.output().includes('configuration kept') ? true : undefined)
  t.regex(apache.output(), /apache\.conf:3: member "not a url" is not a URL/)
  t.like((await getJson(`${url}/server-status`)).body, { reloads: 0 })
  t.like((await getJson(`${url}/`)).body, { name: 'alive' })

  alive.child.kill('SIGTERM')
  await stopped(alive)
  t.is((await getJson(`${url}/`)).status, 502)
})

test('a service exits when its pid file disappears (its instance folder removed without stop.sh)', async t => {
  const dir = await tempDir()
  const db = await startDb(dir, { message: 'v' })
  await rm(db.pidFile)
  t.is(await stopped(db), 0)
  t.regex(db.output(), /pid file .* removed, exiting/)
})
