// The file plug-in (instructions.properties: copy, move, download, delete, in order) and the logger plug-in.
import test, { type ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { lstat, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFilePlugin, DOWNLOAD_FILE_NAME } from '../agent/plugins/file.js'
import { base64Files, component, instance, startTestAgent, temporaryDir } from './lifecycle-fixtures.js'

const components = {
  VM: component('VM', { installer: 'target', children: ['Conf', 'Logged'] }),
  Conf: component('Conf', { installer: 'file' }),
  Logged: component('Logged', { installer: 'logger', imports: [{ name: 'DB.ip', optional: true }] })
}
const root = (): ReturnType<typeof instance> => instance('/VM', 'VM', [instance('/VM/Conf', 'Conf'), instance('/VM/Logged', 'Logged')])

// Serial: the two tests that download write Roboconf's fixed name <tmp>/roboconf_tmp_file.
test.serial('file plug-in: copy, move, download and delete run in their order, step by step', async t => {
  const body = `downloaded ${Math.random()}`
  const server = createServer((_, response) => { response.end(body) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`
  const a = await startTestAgent(t, {
    components,
    root: root(),
    recipes: () => ({
      Conf: base64Files({
        'files/app.conf': 'key=value\n',
        'instructions.properties': [
          '# the file plug-in\'s instructions',
          'deploy.2.move = copy.conf -> moved.conf',
          'deploy.1.copy = files/app.conf -> copy.conf',
          `deploy.3.download = ${url}`,
          'start.1.delete = moved.conf'
        ].join('\n')
      })
    })
  })
  await a.request('/VM/Conf', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Conf'), 'DEPLOYED_STOPPED', a.notifier.last('/VM/Conf')?.problem)
  const dir = join(a.stateDir, 'instances', 'VM_Conf')
  t.is(await readFile(join(dir, 'moved.conf'), 'utf8'), 'key=value\n')
  t.false(existsSync(join(dir, 'copy.conf')))
  t.is(await readFile(join(tmpdir(), DOWNLOAD_FILE_NAME), 'utf8'), body)
  await a.request('/VM/Conf', 'DEPLOYED_STARTED')
  t.false(existsSync(join(dir, 'moved.conf')))
  t.true(existsSync(join(dir, 'files', 'app.conf')))
})

test('file plug-in: a malformed instruction fails the step with a clear error', async t => {
  const a = await startTestAgent(t, {
    components,
    root: root(),
    recipes: () => ({ Conf: base64Files({ 'instructions.properties': 'deploy.first.copy = a -> b\n' }) })
  })
  await a.request('/VM/Conf', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Conf'), 'NOT_DEPLOYED')
  t.regex(a.notifier.last('/VM/Conf')?.problem ?? '', /file plug-in instruction "deploy.first.copy": expected <step>.<number>/)
})

test('logger plug-in: every step is logged, nothing else happens', async t => {
  const a = await startTestAgent(t, { components, root: root() })
  await a.request('/VM/Logged', 'DEPLOYED_STARTED')
  await a.addImport('DB', { instancePath: '/VM 2/DB', component: 'DB', variables: { 'DB.ip': '10.0.0.2' } })
  await a.request('/VM/Logged', 'NOT_DEPLOYED')
  t.deepEqual(a.log.lines.filter(l => l.includes('logger plug-in')), [
    'INFO [/VM/Logged] logger plug-in: initialize',
    'INFO [/VM/Logged] logger plug-in: deploy',
    'INFO [/VM/Logged] logger plug-in: start',
    'INFO [/VM/Logged] logger plug-in: update (import /VM 2/DB added)',
    'INFO [/VM/Logged] logger plug-in: stop',
    'INFO [/VM/Logged] logger plug-in: undeploy'
  ])
})

/** An HTTP server on loopback answering every request with `handler`; its URL. */
async function serve (t: ExecutionContext, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`
}

const downloading = (url: string): ReturnType<typeof base64Files> =>
  base64Files({ 'instructions.properties': `deploy.1.download = ${url}\n` })

test('file plug-in: a download larger than the cap, or slower than the timeout, fails the step and leaves nothing', async t => {
  const big = await serve(t, (_, response) => {
    // No content-length: the cap is enforced on what arrives.
    response.write(Buffer.alloc(600 * 1024))
    response.end(Buffer.alloc(600 * 1024))
  })
  const silent = await serve(t, () => {})
  const a = await startTestAgent(t, {
    components,
    root: root(),
    plugins: [createFilePlugin({ maxDownloadBytes: 1024 * 1024, downloadTimeoutMs: 300 })],
    recipes: () => ({ Conf: downloading(big) })
  })
  await a.request('/VM/Conf', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Conf'), 'NOT_DEPLOYED')
  t.regex(a.notifier.last('/VM/Conf')?.problem ?? '', /download of http:\/\/127.0.0.1:\d+\/data is larger than 1048576 bytes; aborted/)

  const b = await startTestAgent(t, {
    components,
    root: root(),
    plugins: [createFilePlugin({ downloadTimeoutMs: 300 })],
    recipes: () => ({ Conf: downloading(silent) })
  })
  await b.request('/VM/Conf', 'DEPLOYED_STOPPED')
  t.is(b.agent.instanceStatus('/VM/Conf'), 'NOT_DEPLOYED')
  t.regex(b.notifier.last('/VM/Conf')?.problem ?? '', /took longer than 300 ms; aborted/)
})

test.serial('file plug-in: a symbolic link planted at the download\'s name is replaced, not written through', async t => {
  const body = `downloaded ${Math.random()}`
  const url = await serve(t, (_, response) => { response.end(body) })
  const victim = join(await temporaryDir(t, 'victim'), 'passwd')
  await writeFile(victim, 'untouched')
  const planted = join(tmpdir(), DOWNLOAD_FILE_NAME)
  await rm(planted, { force: true })
  await symlink(victim, planted)
  const a = await startTestAgent(t, { components, root: root(), recipes: () => ({ Conf: downloading(url) }) })
  await a.request('/VM/Conf', 'DEPLOYED_STOPPED')
  t.is(a.agent.instanceStatus('/VM/Conf'), 'DEPLOYED_STOPPED', a.notifier.last('/VM/Conf')?.problem)
  t.is(await readFile(victim, 'utf8'), 'untouched')
  t.false((await lstat(planted)).isSymbolicLink())
  t.is(await readFile(planted, 'utf8'), body)
})
