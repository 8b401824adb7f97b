// `meshconf dm start` through the real CLI entry: prints the URL, the token only at first start, writes
// ~/.meshconf/config.json (HOME is a temp folder here), serves the REST API with that token, stops on SIGTERM.
import test from 'ava'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createPrivateBroker } from '../fixtures/broker.js'
import { statuses, tempDir, writeShopTemplate } from './dm-helpers.js'
import { freePort } from '../common/net.js'
import { client, killAgents, localAgents } from './dm-process-helpers.js'
import { waitFor } from './helpers/wait.js'

const ENTRY = join(process.cwd(), 'test', 'dm-cli-entry.ts')

async function runDm (home: string, args: string[]): Promise<{ lines: string[], stderr: () => string, stop: () => Promise<number | null>, exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: process.cwd(), env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  createInterface({ input: child.stdout }).on('line', line => lines.push(line))
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const deadline = Date.now() + 60_000
  // the token line (first start only) and the context line follow the URL line
  while (!lines.some(l => / context /.test(l)) && child.exitCode === null && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  if (!lines.some(l => l.includes('listening on'))) throw new Error(`the DM did not start: ${stderr}`)
  return { lines, stderr: () => stderr, exited, stop: async () => { child.kill('SIGTERM'); return await exited } }
}

test('meshconf dm start prints the token once, writes the config file, and answers with that token', async t => {
  t.timeout(180_000)
  const dir = tempDir('dm-cli')
  t.teardown(() => dir.remove())
  const dataDir = join(dir.path, 'data')
  const args = ['dm', 'start', '--port', String(await freePort()), '--agents-port', String(await freePort()), '--data-dir', dataDir]
  const first = await runDm(dir.path, args)
  const url = first.lines.find(l => l.includes('listening on'))?.match(/listening on (\S+)/)?.[1]
  t.truthy(url)
  const tokenLine = first.lines.find(l => l.startsWith('token'))
  t.truthy(tokenLine)
  const token = readFileSync(join(dataDir, 'token'), 'utf8').trim()
  // piped, as here: the token stays in its file, out of any log
  t.regex(tokenLine ?? '', /^token created in .*token \(not printed/)
  t.false(first.lines.join('\n').includes(token))
  // the context named after the data folder, current as there was none; it refers to the token file
  t.deepEqual(JSON.parse(readFileSync(join(dir.path, '.meshconf', 'config.json'), 'utf8')),
    { current: 'data', contexts: { data: { dm: url, tokenFile: join(dataDir, 'token'), dataDir } } })
  t.true(first.lines.some(l => /^added context data in .*config\.json; it is the current context$/.test(l)), first.lines.join('\n'))
  t.is((await fetch(`${url}/api/applications`)).status, 401)
  const answer = await fetch(`${url}/api/applications`, { headers: { authorization: `Bearer ${token}` } })
  t.is(answer.status, 200)
  t.deepEqual(await answer.json(), [])
  t.is(await first.stop(), 0)

  // second start: same token, not printed again
  const second = await runDm(dir.path, args)
  t.false(second.lines.some(l => l.startsWith('token')))
  t.is((await fetch(`${url}/api/templates`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  t.is(await second.stop(), 0)
})

/** The DM's JSON log lines (stderr is not a terminal here), other lines left out. */
function jsonLines (stderr: string): Array<{ level: number, component?: string, msg?: string }> {
  return stderr.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { level: number, component?: string, msg?: string })
}

test('meshconf dm start --log-level: debug lines at debug, no info line at warn; --metrics-port: /metrics without the token there only; the probes give nothing away', async t => {
  t.timeout(180_000)
  const dir = tempDir('dm-cli-obs')
  t.teardown(() => dir.remove())
  const metricsPort = await freePort()
  const dataDir = join(dir.path, 'debug')
  const debug = await runDm(dir.path, ['dm', 'start', '--port', String(await freePort()), '--agents-port', String(await freePort()), '--data-dir', dataDir,
    '--target', 'in-process', '--log-level', 'debug', '--metrics-port', String(metricsPort)])
  const url = debug.lines.find(l => l.includes('listening on'))?.match(/listening on (\S+)/)?.[1] ?? ''
  const token = readFileSync(join(dataDir, 'token'), 'utf8').trim()
  // the metrics port: Prometheus' text format, no token asked, /metrics alone
  const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.is(scraped.status, 200)
  t.regex(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  const text = await scraped.text()
  t.regex(text, /^# HELP meshconf_events_stored /m)
  t.regex(text, /^# TYPE meshconf_instances gauge$/m)
  t.is((await fetch(`http://127.0.0.1:${metricsPort}/api/applications`)).status, 404, 'nothing but /metrics on the metrics port')
  // the REST port still asks for the token
  t.is((await fetch(`${url}/metrics`)).status, 401)
  const behindToken = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  t.is(behindToken.status, 200)
  t.regex(await behindToken.text(), /^# TYPE meshconf_events_stored gauge$/m)
  // the probes, without a token: a status word, no version, path, address or count
  for (const [probe, status] of [['/healthz', 'ok'], ['/readyz', 'ready']] as const) {
    const answer = await fetch(`${url}${probe}`)
    t.is(answer.status, 200)
    const body = await answer.text()
    t.deepEqual(JSON.parse(body), { status }, probe)
    t.false([token, dataDir, dir.path].some(secret => body.includes(secret)))
    t.false([...answer.headers.keys()].some(h => /^(server|x-powered-by)$/.test(h)), `${probe} names no server software`)
  }
  t.is(await debug.stop(), 0)
  const debugLines = jsonLines(debug.stderr())
  t.true(debugLines.some(e => e.level === 20 && e.component === 'dm' && /REST API on .*\/metrics without the token on http:\/\/127\.0\.0\.1:\d+/.test(e.msg ?? '')), debug.stderr())
  t.true(debugLines.some(e => e.level === 30), 'info lines too (the request log)')
  t.false(debug.stderr().includes(token), 'the token is never logged')

  const warnDir = join(dir.path, 'warn')
  const warn = await runDm(dir.path, ['dm', 'start', '--port', String(await freePort()), '--agents-port', String(await freePort()), '--data-dir', warnDir,
    '--target', 'in-process', '--log-level', 'warn'])
  const warnUrl = warn.lines.find(l => l.includes('listening on'))?.match(/listening on (\S+)/)?.[1] ?? ''
  // a request: at info it would be in the request log
  t.is((await fetch(`${warnUrl}/api/applications`, { headers: { authorization: `Bearer ${readFileSync(join(warnDir, 'token'), 'utf8').trim()}` } })).status, 200)
  t.is(await warn.stop(), 0)
  t.deepEqual(jsonLines(warn.stderr()).filter(e => e.level < 40), [], 'no debug or info line at warn')
})

test('meshconf dm start refuses an unknown target with a usage error', async t => {
  const dir = tempDir('dm-cli-bad')
  t.teardown(() => dir.remove())
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'dm', 'start', '--target', 'ec2', '--data-dir', join(dir.path, 'd')], {
    cwd: process.cwd(), env: { ...process.env, HOME: dir.path }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  t.is(code, 2)
  t.regex(stderr, /'ec2' is invalid\. Allowed choices are local, netns, docker, existing, in-process/)
})

test('meshconf dm start --amqp: an application deployed and started through RabbitMQ', async t => {
  t.timeout(240_000)
  const dir = tempDir('dm-cli-amqp')
  // a private node: the CLI's DM uses the default domain, whose DM queue other DMs on the shared broker may use
  const brokerDir = tempDir('dm-cli-amqp-node')
  const broker = await createPrivateBroker({ directory: brokerDir.path, name: 'meshconf-dm-cli' })
  const dataDir = join(dir.path, 'data')
  let dm: Awaited<ReturnType<typeof runDm>> | undefined
  t.teardown(async () => {
    await dm?.stop()
    killAgents(dataDir)
    await broker.stop()
    brokerDir.remove()
    dir.remove()
  })
  await broker.start()
  dm = await runDm(dir.path, ['dm', 'start', '--port', String(await freePort()), '--data-dir', dataDir, '--amqp', broker.url])
  t.true(dm.lines.some(l => l.includes('agents via RabbitMQ')))
  const url = dm.lines.find(l => l.includes('listening on'))?.match(/listening on (\S+)/)?.[1] ?? ''
  const call = client({ url, token: readFileSync(join(dataDir, 'token'), 'utf8').trim() })
  await call('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'template')) })
  await call('POST', '/api/applications', { name: 'cli shop', template: { name: 'Shop', version: '1.0' } })
  await call('POST', '/api/applications/cli%20shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('every instance started', async () =>
    Object.values(statuses(await call('GET', '/api/applications/cli%20shop/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 120_000 })
  // the agents were told to reach the DM through this broker
  const agents = localAgents(dataDir)
  t.is(agents.length, 2)
  for (const agent of agents) {
    const params = JSON.parse(readFileSync(join(dataDir, 'machines', 'local', agent.machine, 'params.json'), 'utf8')) as { messaging: { kind: string, url: string } }
    t.deepEqual([params.messaging.kind, params.messaging.url], ['amqp', broker.url])
  }
  await call('POST', '/api/applications/cli%20shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () =>
    Object.values(statuses(await call('GET', '/api/applications/cli%20shop/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 })
  t.is(await dm.stop(), 0)
})
