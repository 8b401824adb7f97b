// The docker target against the real Docker Engine: machines are containers booted from the agent image, their
// agents join the DM through the network's gateway, deploy, and import from each other across containers; a DM
// killed -9 finds them again by their labels; a container killed from outside is a crashed machine.
import test from 'ava'
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import Docker from 'dockerode'
import { DockerUnavailableError } from '../manager/docker/engine.js'
import { buildAgentImage } from '../manager/docker/image.js'
import { createDockerTarget, dockerDmId, DockerTargetPropertyError, privateDockerNetwork } from '../manager/targets/docker.js'
import { createNetnsTarget } from '../manager/targets/netns.js'
import { client, kill9, startDm, type RestCall, type RunningDm } from './dm-process-helpers.js'
import { statuses, tempDir, writeShopTemplate, writeTemplate } from './dm-helpers.js'
import { dockerKill, ensureAgentImage, networkExists, removeDockerLeftovers } from './helpers/docker.js'
import { freePort } from '../common/net.js'
import { waitFor } from './helpers/wait.js'

/** The Shop application whose App writes where it found its DB (the DB's exported ip and port it imports). */
async function loadShop (call: RestCall, root: string, instances?: string): Promise<void> {
  writeShopTemplate(root, { instances })
  writeTemplate(root, { 'graph/App/scripts/start.sh': '#!/bin/bash\necho "DB at ${DB_0_ip}:${DB_0_port}" > started.txt\n' })
  await call('POST', '/api/templates', { path: root })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })
}

/** A DM in its own process with the docker target as default, on a network of the test's own. */
async function dockerDm (t: { teardown: (fn: () => Promise<void>) => void }, prefix: string, extra: object = {}): Promise<{
  options: Record<string, unknown>, dir: string, dmId: string, image: string, network: string, subnet: string, start: () => Promise<RunningDm>
}> {
  const image = await ensureAgentImage()
  const dir = tempDir(prefix)
  const dataDirectory = join(dir.path, 'data')
  const { network, subnet } = await privateDockerNetwork(prefix)
  const dmId = dockerDmId(resolve(dataDirectory))
  const options = { dataDirectory, port: 0, agentsPort: await freePort(), target: 'docker', dockerImage: image.imageId, dockerNetwork: network, dockerSubnet: subnet, ...extra }
  let running: RunningDm | undefined
  t.teardown(async () => {
    if (running !== undefined) await kill9(running)
    await removeDockerLeftovers(dmId, network)
    dir.remove()
  })
  return {
    options, dir: dir.path, dmId, image: image.imageId, network, subnet,
    start: async () => { running = await startDm(options); return running }
  }
}

async function allStatuses (call: RestCall, application = 'shop'): Promise<Record<string, string>> {
  return statuses(await call('GET', `/api/applications/${application}/instances`))
}

/** Runs a command in a container and returns its output. */
async function dockerExec (containerId: string, command: string[]): Promise<string> {
  const docker = new Docker()
  const exec = await docker.getContainer(containerId).exec({ Cmd: command, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ hijack: true, stdin: false })
  const chunks: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    const sink = { write: (chunk: Buffer) => { chunks.push(chunk); return true } }
    docker.modem.demuxStream(stream, sink as unknown as NodeJS.WritableStream, sink as unknown as NodeJS.WritableStream)
    stream.on('end', resolve)
    stream.on('error', reject)
  })
  return Buffer.concat(chunks).toString('utf8')
}

test('containers from the agent image: agents join, deploy, import across containers, survive a DM kill -9 (found by their labels), and go with their network on undeploy', async t => {
  t.timeout(300_000)
  const env = await dockerDm(t, 'dkdm')
  let dm = await env.start()
  let call = client(dm)
  await loadShop(call, join(env.dir, 'template'))
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('every instance started in containers', async () => Object.values(await allStatuses(call)).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 180_000 })

  const target = createDockerTarget({ dmId: env.dmId })
  const machines = await target.machines()
  t.deepEqual(machines.map(m => [m.application, m.scopedInstancePath, m.state]).sort(), [['shop', '/vm1', 'running'], ['shop', '/vm2', 'running']])
  const vm1 = machines.find(m => m.scopedInstancePath === '/vm1')!
  const vm2 = machines.find(m => m.scopedInstancePath === '/vm2')!
  const prefix = env.subnet.split('.').slice(0, 3).join('.')
  t.true(vm1.address?.startsWith(`${prefix}.`), `vm1 at ${vm1.address} in ${env.subnet}`)
  t.not(vm1.address, vm2.address)
  // the agent reported its container's address, and the App imported the DB's over the mesh between containers
  const tree = await call('GET', '/api/applications/shop/instances') as Array<{ path: string, data: Record<string, string> }>
  t.is(tree.find(i => i.path === '/vm1')?.data['ip.address'], vm1.address)
  const started = await dockerExec(vm2.containerId, ['bash', '-c', 'cat "$(find /var/lib/meshconf/agent -name started.txt | head -1)"'])
  t.is(started.trim(), `DB at ${vm1.address}:5432`)

  await kill9(dm)
  t.true(await target.isRunning(vm1.machineId), 'the containers outlive their DM')
  dm = await env.start()
  call = client(dm)
  t.deepEqual(await target.machines().then(ms => ms.map(m => m.containerId).sort()), [vm1.containerId, vm2.containerId].sort())
  t.true(Object.values(await allStatuses(call)).every(s => s === 'DEPLOYED_STARTED'))
  // the restarted DM commands the agents it found again
  await call('POST', '/api/applications/shop/instances/state', { path: '/vm2/app', state: 'DEPLOYED_STOPPED' })
  await waitFor('app stopped after the DM restart', async () => (await allStatuses(call))['/vm2/app'] === 'DEPLOYED_STOPPED', { timeoutMs: 60_000 })
  await call('POST', '/api/applications/shop/instances/state', { path: '/vm2/app', state: 'DEPLOYED_STARTED' })
  await waitFor('app started again', async () => (await allStatuses(call))['/vm2/app'] === 'DEPLOYED_STARTED', { timeoutMs: 60_000 })

  await call('POST', '/api/applications/shop/actions', { action: 'undeploy-all' })
  await waitFor('all undeployed', async () => Object.values(await allStatuses(call)).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 90_000 })
  await waitFor('containers removed', async () => (await target.machines()).length === 0, { timeoutMs: 30_000 })
  await waitFor('network removed with its last container', async () => !await networkExists(env.network), { timeoutMs: 30_000 })
})

test('a container killed from outside is a crashed machine: PROBLEM while the DM runs, NOT_DEPLOYED and removed after a DM restart', async t => {
  t.timeout(240_000)
  const env = await dockerDm(t, 'dkkill', { machineSilenceMs: 3_000 })
  let dm = await env.start()
  let call = client(dm)
  const oneMachine = 'instance of VM {\n  name: vm1;\n  instance of DB {\n    name: db;\n  }\n}\n'
  await loadShop(call, join(env.dir, 'template'), oneMachine)
  await call('POST', '/api/applications/shop/actions', { action: 'deploy-and-start-all' })
  await waitFor('db started in its container', async () => (await allStatuses(call))['/vm1/db'] === 'DEPLOYED_STARTED', { timeoutMs: 120_000 })
  const target = createDockerTarget({ dmId: env.dmId })
  const [machine] = await target.machines()

  await dockerKill(machine.containerId)
  await waitFor('the machine goes to PROBLEM (no heartbeat)', async () => (await allStatuses(call))['/vm1'] === 'PROBLEM', { timeoutMs: 60_000 })
  t.false(await target.isRunning(machine.machineId))
  t.is((await target.machines())[0]?.state, 'exited')

  await kill9(dm)
  dm = await env.start()
  call = client(dm)
  t.deepEqual(await allStatuses(call), { '/vm1': 'NOT_DEPLOYED', '/vm1/db': 'NOT_DEPLOYED' })
  t.deepEqual(await target.machines(), [], 'the dead container was removed')
})

test('with no Docker daemon, creating a machine or building the image says what to install and start', async t => {
  const socketPath = join(tempDir('dknone').path, 'docker.sock')
  const target = createDockerTarget({ dmId: 'none', socketPath })
  const params = {
    target: { id: 'd', handler: 'docker', name: 'd', properties: {} }, machineName: 'm1',
    agent: { application: 'a', scopedInstancePath: '/vm', messaging: { kind: 'embedded' as const, url: 'ws://127.0.0.1:1/agents', token: 't' } }
  }
  const error = await t.throwsAsync(target.create(params), { instanceOf: DockerUnavailableError })
  t.regex(error.message, new RegExp(socketPath.replaceAll('/', '\\/')))
  t.regex(error.message, /apt-get install docker\.io/)
  t.regex(error.message, /dockerd/)
  await t.throwsAsync(target.isRunning('m1'), { instanceOf: DockerUnavailableError })
  await t.throwsAsync(buildAgentImage({ socketPath }), { instanceOf: DockerUnavailableError })
})

test('target properties the Engine could not use are refused before anything is created, naming the property', async t => {
  const target = createDockerTarget({ dmId: 'props', socketPath: '/nonexistent/docker.sock' })
  const make = (properties: Record<string, string>) => ({
    target: { id: 'small-vm', handler: 'docker', name: 'small', properties }, machineName: 'm1',
    agent: { application: 'a', scopedInstancePath: '/vm', messaging: { kind: 'embedded' as const, url: 'ws://127.0.0.1:1/agents', token: 't' } }
  })
  for (const [property, value] of [['docker.memory', 'lots'], ['docker.memory', '1k'], ['docker.cpus', '-1'], ['docker.network.subnet', '10.1.2.0/31'],
    ['docker.network', 'bad name'], ['docker.env.1BAD', 'x']]) {
    const error = await t.throwsAsync(target.create(make({ [property]: value })), { instanceOf: DockerTargetPropertyError })
    t.regex(error.message, new RegExp(`small-vm.*${property.replaceAll('.', '\\.')}`))
  }
})

test('netns and docker applications side by side in one DM: the namespaces still reach each other while dockerd runs', async t => {
  t.timeout(300_000)
  if (process.getuid?.() !== 0) {
    t.fail('this test needs root (network namespaces); the CI runs as root')
    return
  }
  const netnsSubnet = `10.213.${100 + Math.floor(Math.random() * 150)}`
  const env = await dockerDm(t, 'dkns', { target: 'netns', netnsSubnet })
  t.teardown(async () => {
    // namespaces and agents the test may have left (a failure before the undeploy)
    const machines = join(env.dir, 'data', 'machines', 'netns')
    const netns = createNetnsTarget({ machinesDirectory: machines, subnet: netnsSubnet })
    for (const machine of existsSync(machines) ? readdirSync(machines) : []) await netns.terminate(machine).catch(() => {})
  })
  const call = client(await env.start())
  await loadShop(call, join(env.dir, 'template'))
  await call('POST', '/api/targets', { id: 'containers', handler: 'docker', properties: { 'docker.image': env.image, 'docker.network': env.network, 'docker.network.subnet': env.subnet } })
  await call('POST', '/api/applications', { name: 'shop-in-containers', template: { name: 'Shop', version: '1.0' } })
  await call('POST', '/api/applications/shop-in-containers/targets', { targetId: 'containers' })
  await Promise.all(['shop', 'shop-in-containers'].map(async app => { await call('POST', `/api/applications/${app}/actions`, { action: 'deploy-and-start-all' }) }))
  for (const app of ['shop', 'shop-in-containers']) {
    await waitFor(`${app} started`, async () => Object.values(await allStatuses(call, app)).every(s => s === 'DEPLOYED_STARTED'), { timeoutMs: 180_000 })
  }
  const address = async (app: string, path: string): Promise<string | undefined> =>
    (await call('GET', `/api/applications/${app}/instances`) as Array<{ path: string, data: Record<string, string> }>).find(i => i.path === path)?.data['ip.address']
  // the App on vm2 imported the DB of vm1: namespaces talked over their bridge, containers over their network
  t.true((await address('shop', '/vm1'))?.startsWith(`${netnsSubnet}.`))
  t.true((await address('shop-in-containers', '/vm1'))?.startsWith(env.subnet.split('.').slice(0, 3).join('.') + '.'))
  t.is((await createDockerTarget({ dmId: env.dmId }).machines()).length, 2)

  for (const app of ['shop', 'shop-in-containers']) {
    await call('POST', `/api/applications/${app}/actions`, { action: 'undeploy-all' })
    await waitFor(`${app} undeployed`, async () => Object.values(await allStatuses(call, app)).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 90_000 })
  }
})

test('two DMs on one network: it is made once, each finds only its own containers, and it goes with the last machine of either', async t => {
  t.timeout(120_000)
  const image = await ensureAgentImage()
  const { network, subnet } = await privateDockerNetwork('share')
  const ids = ['a', 'b'].map(side => dockerDmId(`${network}-${side}`))
  const [first, second] = ids.map(dmId => createDockerTarget({ dmId, image: image.imageId, network, subnet }))
  t.teardown(async () => { for (const dmId of ids) await removeDockerLeftovers(dmId, network) })
  const params = (machineName: string, properties: Record<string, string> = {}) => ({
    target: { id: 'default', handler: 'docker', name: 'default', properties }, machineName,
    // no DM answers there: the agents keep trying, their containers keep running
    agent: { application: 'shop', scopedInstancePath: `/${machineName}`, messaging: { kind: 'embedded' as const, url: 'ws://127.0.0.1:9/agents', token: 't' } }
  })
  const size = { 'docker.cpus': '0.5', 'docker.memory': '256m', 'docker.env.GREETING': 'hello from the target' }
  await Promise.all([first.create(params('vm1', size)), second.create(params('vm2'))])
  t.deepEqual((await first.machines()).map(m => m.scopedInstancePath), ['/vm1'])
  t.deepEqual((await second.machines()).map(m => m.scopedInstancePath), ['/vm2'])
  t.true((await first.address('vm1'))?.startsWith(subnet.split('.').slice(0, 3).join('.') + '.'))
  t.true(await second.isRunning('vm2'))
  t.false(await first.isRunning('vm2'), 'a DM does not see another\'s machines')
  // the "VM size" and the extra environment, as the Engine applied them; the params readable by root only
  const [vm1] = await first.machines()
  const inspected = await new Docker().getContainer(vm1.containerId).inspect()
  t.is(inspected.HostConfig.NanoCpus, 500_000_000)
  t.is(inspected.HostConfig.Memory, 256 * 1024 ** 2)
  t.true(inspected.Config.Env.includes('GREETING=hello from the target'))
  t.like(inspected.Config.Labels, { 'meshconf.application': 'shop', 'meshconf.path': '/vm1', 'meshconf.machine': 'vm1', 'meshconf.dm': ids[0] })
  t.is((await dockerExec(vm1.containerId, ['stat', '-c', '%a %U', '/etc/meshconf/agent.json'])).trim(), '600 root')

  await first.terminate('vm1')
  t.true(await networkExists(network), 'the other DM\'s machine still uses it')
  await second.terminate('vm2')
  t.false(await networkExists(network))
  await first.terminate('vm1') // already gone: not an error
})
