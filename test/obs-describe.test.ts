// describe: an UNRESOLVED Apache names the Tomcat prefix it misses; once a Tomcat starts, it names the import as
// held, with the Tomcat it comes from and since when. Through REST and `meshconf describe`.
import test from 'ava'
import { join } from 'node:path'
import { startDmService } from '../manager/commands/dm.js'
import { runCliInProcess } from './cli-helpers.js'
import { statuses, tempDir, writeTemplate } from './dm-helpers.js'
import { client } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

test('describe names the import an UNRESOLVED Apache misses, then holds it from the Tomcat that started', async t => {
  const dir = tempDir('obs-describe')
  const service = await startDmService({ dataDirectory: join(dir.path, 'data'), port: 0, agentsPort: 0, target: 'in-process', log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } })
  t.teardown(async () => { await service.stop(); dir.remove() })
  const call = client(service)
  await call('POST', '/api/templates', {
    path: writeTemplate(join(dir.path, 'template'), {
      'descriptor/application.properties': 'name = Web\nversion = 1.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = initial.instances\n',
      'graph/main.graph': [
        'VM {', '  installer: target;', '  children: Tomcat, Apache;', '}',
        'Tomcat {', '  installer: script;', '  exports: ip, portAJP = 8009;', '}',
        'Apache {', '  installer: script;', '  exports: ip, port = 80;', '  imports: Tomcat.ip, Tomcat.portAJP;', '}', ''
      ].join('\n'),
      'instances/initial.instances': [
        'instance of VM {', '  name: Apache VM;', '  instance of Apache {', '    name: Apache;', '  }', '}',
        'instance of VM {', '  name: Tomcat VM;', '  instance of Tomcat {', '    name: Tomcat;', '  }', '}', ''
      ].join('\n'),
      'graph/Apache/scripts/start.sh': '#!/bin/bash\ntrue\n',
      'graph/Tomcat/scripts/start.sh': '#!/bin/bash\ntrue\n'
    })
  })
  await call('POST', '/api/applications', { name: 'web', template: { name: 'Web', version: '1.0' } })
  const app = '/api/applications/web'
  const describe = async (): Promise<any> => await call('GET', `${app}/instances/describe?path=${encodeURIComponent('/Apache VM/Apache')}`)
  const cli = async (): Promise<string> => {
    const result = await runCliInProcess(['describe', 'web', '/Apache VM/Apache', '--dm', service.url, '--token', service.token], { home: dir.path })
    t.is(result.exitCode, 0, result.stderr)
    return result.stdout
  }

  await call('POST', `${app}/actions`, { action: 'deploy-and-start-all', path: '/Apache VM' })
  await waitFor('Apache UNRESOLVED', async () => statuses(await call('GET', `${app}/instances`))['/Apache VM/Apache'] === 'UNRESOLVED', { timeoutMs: 60_000 })
  const waiting = await describe()
  t.like(waiting, { path: '/Apache VM/Apache', component: 'Apache', status: 'UNRESOLVED', imports: { held: [], missing: ['Tomcat'] } })
  t.like(waiting.machine, { path: '/Apache VM', status: 'DEPLOYED_STARTED', target: 'default', handler: 'in-process', ipAddress: '127.0.0.1', agentVersion: '0.1.0' })
  t.regex(waiting.machine.peerId, /^12D3KooW/)
  t.truthy(Date.parse(waiting.machine.lastHeartbeat))
  t.truthy(Date.parse(waiting.since))
  t.deepEqual(waiting.exports, { 'Apache.ip': '127.0.0.1', 'Apache.port': '80' })
  t.deepEqual(waiting.events.map((e: { reason: string }) => e.reason).slice(-3), ['DEPLOYING', 'DEPLOYED_STOPPED', 'UNRESOLVED'])
  t.regex(await cli(), /imports missing: Tomcat\.\* \(no exporter yet\)/)
  const status = await runCliInProcess(['status', 'web', '--dm', service.url, '--token', service.token], { home: dir.path })
  t.regex(status.stdout, /Apache \(Apache\) +UNRESOLVED\n +waits for Tomcat\.\*/)

  const before = Date.now()
  await call('POST', `${app}/actions`, { action: 'deploy-and-start-all', path: '/Tomcat VM' })
  await waitFor('Apache started', async () => statuses(await call('GET', `${app}/instances`))['/Apache VM/Apache'] === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })
  const started = await describe()
  t.like(started, { status: 'DEPLOYED_STARTED', imports: { missing: [] } })
  t.is(started.imports.held.length, 1)
  t.like(started.imports.held[0], { prefix: 'Tomcat', from: '/Tomcat VM/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '127.0.0.1', 'Tomcat.portAJP': '8009' } })
  t.true(Date.parse(started.imports.held[0].since) >= before - 1000)
  t.regex(await cli(), /imports held:\n {4}Tomcat\.\* from \/Tomcat VM\/Tomcat \(Tomcat\) since \S+: Tomcat\.ip=127\.0\.0\.1, Tomcat\.portAJP=8009\n {2}imports missing: none/)

  const missing = await call('GET', `${app}/instances/describe?path=${encodeURIComponent('/Nope')}`).catch((err: Error) => err.message)
  t.regex(missing, /404/)
})
