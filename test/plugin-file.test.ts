// The file plug-in (instructions.properties: copy, move, download, delete, in order) and the logger plug-in.
import test from 'ava'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DOWNLOAD_FILE_NAME } from '../agent/plugins/file.js'
import { base64Files, component, instance, startTestAgent } from './lifecycle-fixtures.js'

const components = {
  VM: component('VM', { installer: 'target', children: ['Conf', 'Logged'] }),
  Conf: component('Conf', { installer: 'file' }),
  Logged: component('Logged', { installer: 'logger', imports: [{ name: 'DB.ip', optional: true }] })
}
const root = (): ReturnType<typeof instance> => instance('/VM', 'VM', [instance('/VM/Conf', 'Conf'), instance('/VM/Logged', 'Logged')])

test('file plug-in: copy, move, download and delete run in their order, step by step', async t => {
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
