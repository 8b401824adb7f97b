// Metrics: a real Prometheus (Debian's, started by the test on a free loopback port) scrapes the DM (with its token)
// and the agents the DM lists (HTTP service discovery); its query API gives the LAMP application's instances by
// state, and the update-latency histogram of the Apache's agent has samples after a Tomcat is added (a scale step).
// Health probes need no token and say nothing else.
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startDmService } from '../manager/commands/dm.js'
import { agentCommandFromSources, statuses, tempDir } from './dm-helpers.js'
import { client, killAgents } from './dm-process-helpers.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

const LAMP = join(process.cwd(), 'simulations', 'lamp')

interface Sample { metric: Record<string, string>, value: [number, string] }

test('a real Prometheus scrapes the DM and the agents: instances by state, the agents\' update latency after a scale step', async t => {
  const dir = tempDir('obs-metrics')
  const dataDirectory = join(dir.path, 'data')
  const service = await startDmService({
    dataDirectory, port: 0, agentsPort: await freePort(), target: 'local', agentCommand: agentCommandFromSources(), agentMetricsPort: 0,
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  })
  const call = client(service)
  let prometheus: ReturnType<typeof spawn> | undefined
  t.teardown(async () => {
    prometheus?.kill('SIGKILL')
    await call('POST', '/api/applications/LAMP/actions', { action: 'undeploy-all' }).catch(() => {})
    await waitFor('undeployed', async () => Object.values(statuses(await call('GET', '/api/applications/LAMP/instances'))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 60_000 }).catch(() => {})
    await service.stop()
    killAgents(dataDirectory)
    dir.remove()
  })

  // health: no token, nothing but yes or no
  const health = await fetch(`${service.url}/healthz`)
  t.is(health.status, 200)
  t.deepEqual(await health.json(), { status: 'ok' })
  t.deepEqual(await (await fetch(`${service.url}/readyz`)).json(), { status: 'ready' })
  t.is((await fetch(`${service.url}/metrics`)).status, 401, '/metrics on the REST port needs the token')

  await call('POST', '/api/templates', { path: LAMP })
  await call('POST', '/api/applications', { name: 'LAMP', template: { name: 'LAMP', version: '1.0.0' } })
  await call('POST', '/api/applications/LAMP/actions', { action: 'deploy-and-start-all' })
  await waitFor('LAMP started', async () => Object.values(statuses(await call('GET', '/api/applications/LAMP/instances'))).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 120_000 })
  const targets = await waitFor('three agents serving metrics', async () => {
    const listed = await call('GET', '/api/metrics/targets') as Array<{ targets: string[], labels: Record<string, string> }>
    return listed.length === 3 ? listed : undefined
  }, { timeoutMs: 30_000 })
  t.deepEqual(targets.map(g => g.labels.machine).sort(), ['/Apache VM', '/MySQL VM', '/Tomcat VM 1'])

  const port = await freePort()
  const config = join(dir.path, 'prometheus.yml')
  const { host } = new URL(service.url)
  writeFileSync(config, [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: meshconf-dm', '    authorization:', `      credentials: ${service.token}`,
    '    static_configs:', `      - targets: ['${host}']`,
    '  - job_name: meshconf-agents', '    http_sd_configs:', `      - url: ${service.url}/api/metrics/targets`, '        refresh_interval: 1s',
    // the type is needed: Prometheus 2.42's service discovery otherwise sends the bare token, without "Bearer"
    '        authorization:', '          type: Bearer', `          credentials: ${service.token}`, ''
  ].join('\n'))
  mkdirSync(join(dir.path, 'tsdb'))
  prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let prometheusLog = ''
  prometheus.stderr?.on('data', (chunk: Buffer) => { prometheusLog = (prometheusLog + chunk.toString()).slice(-4000) })
  const query = async (expr: string): Promise<Sample[]> => {
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`)
    const body = await response.json() as { status: string, data: { result: Sample[] } }
    if (body.status !== 'success') throw new Error(`query ${expr}: ${JSON.stringify(body)}`)
    return body.data.result
  }
  await waitFor('Prometheus ready', async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok, { timeoutMs: 60_000 })
    .catch(err => { throw new Error(`${(err as Error).message}; Prometheus said: ${prometheusLog}`) })

  await waitFor('the DM and three agents up', async () => (await query('up == 1')).length === 4, { timeoutMs: 60_000 })
    .catch(async err => { throw new Error(`${(err as Error).message}: ${JSON.stringify(await query('up'))}; ${prometheusLog}`) })
  const byState = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {}
    for (const s of await query('sum by (state) (meshconf_instances{application="LAMP"})')) out[s.metric.state] = Number(s.value[1])
    return out
  }
  t.deepEqual(await waitFor('the instances by state', async () => {
    const seen = await byState()
    return seen.DEPLOYED_STARTED === 6 ? seen : undefined
  }, { timeoutMs: 30_000 }), { DEPLOYED_STARTED: 6 })
  const tomcats = await query('meshconf_instances{application="LAMP", component="Tomcat"}')
  t.deepEqual(tomcats.map(s => [s.metric.state, s.value[1]]), [['DEPLOYED_STARTED', '1']])

  // a scale step: a second Tomcat; the Apache's agent runs update, its latency is observed
  await call('POST', '/api/applications/LAMP/instances/replicate', { path: '/Tomcat VM 1', newName: 'Tomcat VM 2' })
  const counts = await waitFor('a Tomcat not deployed yet', async () => {
    const seen = await byState()
    return seen.NOT_DEPLOYED === 2 ? seen : undefined
  }, { timeoutMs: 30_000 })
  t.deepEqual(counts, { DEPLOYED_STARTED: 6, NOT_DEPLOYED: 2 })
  await call('POST', '/api/applications/LAMP/actions', { action: 'deploy-and-start-all', path: '/Tomcat VM 2' })
  await waitFor('the update latency observed at the Apache', async () =>
    (await query('meshconf_agent_update_latency_seconds_count{machine="/Apache VM"} > 0')).length === 1, { timeoutMs: 120_000 })
  t.deepEqual(await waitFor('all 8 started', async () => {
    const seen = await byState()
    return seen.DEPLOYED_STARTED === 8 ? seen : undefined
  }, { timeoutMs: 60_000 }), { DEPLOYED_STARTED: 8 })
  const recipes = await waitFor('the new Tomcat\'s recipes scraped', async () => {
    const seen = await query('sum by (step, result) (meshconf_agent_recipe_duration_seconds_count{machine="/Tomcat VM 2"})')
    return seen.length > 0 ? seen : undefined
  }, { timeoutMs: 30_000 })
  t.deepEqual(recipes.map(s => `${s.metric.step} ${s.metric.result} ${s.value[1]}`).sort(), ['deploy ok 1', 'start ok 1'])
  t.true((await query('meshconf_agent_messages_total{direction="in", kind="heartbeat"} > 0')).length === 1)
  // the agents' mesh messages, out at the new Tomcat (its announce) and in at the Apache
  t.true((await query('meshconf_agent_mesh_messages_sent{machine="/Tomcat VM 2"} > 0')).length === 1)
  t.true((await query('meshconf_agent_mesh_messages_received{machine="/Apache VM"} > 0')).length === 1)
  t.true((await query('meshconf_rest_request_duration_seconds_count{route="/api/applications/:app/actions"} > 0')).length >= 1)
  t.true((await query('meshconf_events_stored > 0')).length === 1)
  t.true((await query('meshconf_action_duration_seconds_count{action="start", component="Tomcat"} >= 2')).length === 1)
})
