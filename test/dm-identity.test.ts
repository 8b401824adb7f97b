// Per-machine identity through a real DM (assembled as `meshconf dm start` assembles it): each machine's params
// carry its own credential; the agent of one machine cannot say hello as another, and a machine's credential stops
// working once the machine is undeployed. Machines of the `existing` target: the DM writes their params and starts
// nothing, so the test plays their agents by hand on the embedded endpoint.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import WebSocket from 'ws'
import { startDmService } from '../manager/commands/dm.js'
import { EMBEDDED_CLOSE_CODES } from '../protocol/embedded-frames.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { waitFor } from './helpers/wait.js'

interface Params { messaging: { url: string, token: string, ca: string } }

/** Says hello as the agent of `path` with `token` (over TLS, pinning `ca`); resolves with the close code, or 'welcome'. */
async function hello (url: string, ca: string, path: string, token: string): Promise<number | 'welcome'> {
  const socket = new WebSocket(url, { ca, checkServerIdentity: (() => undefined) as unknown as WebSocket.ClientOptions['checkServerIdentity'] })
  return await new Promise(resolve => {
    socket.once('open', () => socket.send(JSON.stringify({ t: 'hello', v: 1, application: 'shop', scopedInstancePath: path, token, epoch: 'rogue' })))
    socket.once('message', data => {
      if (String(data).includes('"welcome"')) {
        socket.terminate()
        resolve('welcome')
      }
    })
    socket.once('close', code => resolve(code))
  })
}

test('impersonation with another machine\'s credential, and a revoked credential, are refused by the DM', async t => {
  t.timeout(120_000)
  const dir = tempDir('dm-identity')
  const logged: string[] = []
  const log = { debug: () => {}, info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) }
  const service = await startDmService({ dataDirectory: dir.path, port: 0, agentsPort: 0, target: 'existing', machineSilenceMs: 60_000, log })
  t.teardown(async () => {
    await service.stop()
    dir.remove()
  })
  const rest = async (method: string, path: string, body: unknown): Promise<number> =>
    (await fetch(`${service.url}${path}`, {
      method, headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body)
    })).status
  t.is(await rest('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template')) }), 201)
  t.is(await rest('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } }), 201)
  for (const path of ['/vm1', '/vm2']) t.is(await rest('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all', path }), 202)
  const paramsOf = async (path: string): Promise<Params> => {
    const file = await waitFor(`the params of ${path}`, () => logged.map(m => /give the machine (\S+) as \/etc\/meshconf\/agent\.json/.exec(m)?.[1])
      .find(f => f !== undefined && (JSON.parse(readFileSync(f, 'utf8')) as { scopedInstancePath: string }).scopedInstancePath === path))
    return JSON.parse(readFileSync(file, 'utf8')) as Params
  }
  const vm1 = await paramsOf('/vm1')
  const vm2 = await paramsOf('/vm2')
  t.not(vm1.messaging.token, vm2.messaging.token)
  const url = vm1.messaging.url
  const ca = vm1.messaging.ca
  t.regex(url, /^wss:/)

  t.is(await hello(url, ca, '/vm2', vm1.messaging.token), EMBEDDED_CLOSE_CODES.unauthorized, '/vm1\'s agent cannot pass for /vm2')
  t.is(await hello(url, ca, '/vm3', vm1.messaging.token), EMBEDDED_CLOSE_CODES.unauthorized, 'nor for a path with no machine')
  t.is(await hello(url, ca, '/vm1', vm1.messaging.token), 'welcome', 'its own credential works')

  t.is(await rest('POST', '/api/applications/shop/actions', { action: 'undeploy-all', path: '/vm1' }), 202)
  await waitFor('/vm1 undeployed', () => service.dm.instance('shop', '/vm1').status === 'NOT_DEPLOYED' ? true : undefined)
  t.is(await hello(url, ca, '/vm1', vm1.messaging.token), EMBEDDED_CLOSE_CODES.unauthorized, 'the undeployed machine\'s credential is revoked')
  t.is(await hello(url, ca, '/vm2', vm2.messaging.token), 'welcome')
  t.true(logged.some(m => /refused a socket \(bad-credential\): the agent of "\/vm2" \("shop"\)/.test(m)))
  t.true(logged.some(m => /refused a socket \(no-machine\): the agent of "\/vm1"/.test(m)))
})

test('dm start speaks TLS to agents by default (its own authority, made once in its data folder); --insecure keeps plaintext', async t => {
  const dir = tempDir('dm-tls')
  t.teardown(() => { dir.remove() })
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  const secure = await startDmService({ dataDirectory: join(dir.path, 'tls'), port: 0, agentsPort: 0, target: 'existing', log: quiet })
  const endpoint = secure.agentsEndpointUrl
  await secure.stop()
  t.regex(endpoint ?? '', /^wss:\/\/127\.0\.0\.1:\d+\/agents$/)
  t.true(readFileSync(join(dir.path, 'tls', 'tls', 'ca.pem'), 'utf8').startsWith('-----BEGIN CERTIFICATE-----'))
  const plain = await startDmService({ dataDirectory: join(dir.path, 'plain'), port: 0, agentsPort: 0, target: 'existing', log: quiet, insecure: true })
  const plainEndpoint = plain.agentsEndpointUrl
  await plain.stop()
  t.regex(plainEndpoint ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/agents$/)
  t.throws(() => readFileSync(join(dir.path, 'plain', 'tls', 'ca.pem')), { code: 'ENOENT' }, 'no authority made for a plaintext DM')
  // An agents' URL that does not fit is refused, saying what to give.
  await t.throwsAsync(startDmService({ dataDirectory: join(dir.path, 'tls'), port: 0, agentsPort: 0, agentsUrl: 'ws://10.0.0.2:7401', target: 'existing', log: quiet }),
    { message: /speaks TLS; give wss:\/\/…, or add --insecure/ })
})
