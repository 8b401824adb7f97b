// The messaging contract, run over every implementation: memory (in-process), embedded (the DM's WebSocket
// endpoint, on a free port) and amqp (the real RabbitMQ on 127.0.0.1:5672, with a unique domain per harness).
import test from 'ava'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { REJECTION_LOG_INTERVAL_MS, REJECTION_LOG_LIMIT } from '../link/constants.js'
import { createHarness, heartbeat, removeInstance, uniqueApplication, type Harness } from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

const KINDS: Array<Harness['kind']> = ['memory', 'embedded', 'amqp']

const SET_SCOPED_INSTANCE = (application: string, path: string): DmToAgentMessage => ({
  v: 1,
  kind: 'setScopedInstance',
  model: {
    application,
    scopedInstancePath: path,
    components: {
      VM: { name: 'VM', installer: 'target', exports: {}, randomExports: [], imports: [], facets: [], extendsChain: [], children: ['Tomcat'] },
      Tomcat: {
        name: 'Tomcat', installer: 'bash', exports: { 'Tomcat.ip': null, 'Tomcat.port': '8080' }, randomExports: [],
        imports: [{ name: 'MySQL.*', optional: false, external: false }], facets: [], extendsChain: [], children: [],
        recipeDirectory: 'graph/Tomcat'
      }
    },
    instance: {
      name: path.slice(1), component: 'VM', path, overriddenExports: {}, data: { 'ip.address': '127.0.0.1' }, channels: [], status: 'NOT_DEPLOYED',
      children: [{ name: 'Tomcat', component: 'Tomcat', path: `${path}/Tomcat`, overriddenExports: { port: '8081' }, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }]
    },
    externalExports: {}
  },
  mesh: {
    bootstrapPeers: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample'],
    pnetKey: '/key/swarm/psk/1.0.0/\n/base16/\n' + '00'.repeat(32),
    ownership: { peerId: '12D3KooWExample', application, scopedInstancePath: path, dmPublicKey: 'AAAA', signature: 'BBBB' },
    trustedDmKeys: ['AAAA']
  },
  recipes: { Tomcat: { 'deploy.sh': Buffer.from('#!/bin/sh\necho deployed\n').toString('base64') } }
})

for (const kind of KINDS) {
  test(`${kind}: notifications from agents reach the DM, in order`, async t => {
    const application = uniqueApplication('notify')
    const harness = await createHarness(kind, [application])
    t.teardown(harness.close)
    const received: AgentToDmMessage[] = []
    harness.dm.onAgentMessage(msg => { received.push(msg) })
    await harness.dm.prepareAgent(application, '/VM 1')
    const link = await harness.agent(application, '/VM 1')
    t.true(link.connected())

    await link.send(heartbeat(application, '/VM 1', { peerId: 'peer-1', listenAddresses: ['/ip4/127.0.0.1/tcp/1'] }))
    for (let i = 0; i < 20; i++) {
      await link.send({ v: 1, kind: 'instanceChanged', application, instancePath: '/VM 1/Tomcat', status: i % 2 === 0 ? 'DEPLOYING' : 'DEPLOYED_STOPPED', imports: {} })
    }
    await link.send({ v: 1, kind: 'machineDown', application, scopedInstancePath: '/VM 1' })
    await waitFor('22 notifications', () => received.length >= 22)

    t.deepEqual(received[0], heartbeat(application, '/VM 1', { peerId: 'peer-1', listenAddresses: ['/ip4/127.0.0.1/tcp/1'] }))
    t.deepEqual(received.slice(1, 21).map(m => m.kind === 'instanceChanged' ? m.status : m.kind),
      Array.from({ length: 20 }, (_, i) => i % 2 === 0 ? 'DEPLOYING' : 'DEPLOYED_STOPPED'))
    t.is(received[21].kind, 'machineDown')
    t.is(link.metrics().sent, 22)
    t.is(harness.dm.metrics().received, 22)
  })

  test(`${kind}: an agent receives only its own messages, those sent before it connected included`, async t => {
    const app1 = uniqueApplication('app1')
    const app2 = uniqueApplication('app2')
    const harness = await createHarness(kind, [app1, app2])
    t.teardown(harness.close)
    const agents: Array<[string, string]> = [[app1, '/VM 1'], [app1, '/VM 2'], [app2, '/VM 1'], [app1, '/VM 1/Tomcat VM']]
    for (const [application, path] of agents) await harness.dm.prepareAgent(application, path)
    // Sent before any agent connects: kept for them.
    await harness.dm.sendToAgent(app1, '/VM 1', SET_SCOPED_INSTANCE(app1, '/VM 1'))
    for (const [application, path] of agents) await harness.dm.sendToAgent(application, path, removeInstance(`${application}|${path}|early`))

    const inbox = new Map<string, DmToAgentMessage[]>()
    for (const [application, path] of agents) {
      const link = await harness.agent(application, path)
      const messages: DmToAgentMessage[] = []
      inbox.set(`${application}|${path}`, messages)
      link.onMessage(msg => { messages.push(msg) })
    }
    for (const [application, path] of agents) await harness.dm.sendToAgent(application, path, removeInstance(`${application}|${path}|late`))
    await waitFor('every late message', () => [...inbox.values()].every(m => m.some(x => x.kind === 'removeInstance' && x.instancePath.endsWith('|late'))))

    for (const [application, path] of agents) {
      const messages = inbox.get(`${application}|${path}`) ?? []
      const own = [removeInstance(`${application}|${path}|early`), removeInstance(`${application}|${path}|late`)]
      t.deepEqual(messages, application === app1 && path === '/VM 1' ? [SET_SCOPED_INSTANCE(app1, '/VM 1'), ...own] : own,
        `messages of ${path} in ${application}`)
    }
  })

  test(`${kind}: garbage, unknown versions and kinds, and messages about another agent are dropped and counted`, async t => {
    const application = uniqueApplication('garbage')
    const harness = await createHarness(kind, [application])
    t.teardown(harness.close)
    const received: AgentToDmMessage[] = []
    harness.dm.onAgentMessage(msg => { received.push(msg) })
    await harness.dm.prepareAgent(application, '/VM 1')
    const link = await harness.agent(application, '/VM 1')
    const toAgent: DmToAgentMessage[] = []
    link.onMessage(msg => { toAgent.push(msg) })

    const garbage = [
      'not json {',
      JSON.stringify({ v: 2, kind: 'heartbeat' }),
      JSON.stringify({ v: 1, kind: 'launchMissiles' }),
      JSON.stringify({ v: 1, kind: 'heartbeat', application, scopedInstancePath: '/VM 1', ipAddress: 7, modelRequired: true }),
      JSON.stringify(heartbeat('another application', '/VM 1'))
    ]
    const wrap = (text: string, seq: number): string => kind === 'embedded'
      ? (text.startsWith('{') ? JSON.stringify({ t: 'msg', seq, body: JSON.parse(text) }) : text)
      : text
    for (const [i, text] of garbage.entries()) await harness.injectToDm(application, '/VM 1', wrap(text, i))
    await link.send(heartbeat(application, '/VM 1'))
    await waitFor('the valid heartbeat', () => received.length === 1)
    await waitFor('5 rejections', () => harness.dm.metrics().rejected === 5)
    t.deepEqual(received, [heartbeat(application, '/VM 1')])
    if (kind !== 'amqp') {
      // memory and embedded know which scoped instance a connection speaks for
      await link.send(heartbeat(application, '/VM 2'))
      await link.send({ v: 1, kind: 'instanceRemoved', application, instancePath: '/VM 2/Tomcat' })
      await waitFor('2 more rejections', () => harness.dm.metrics().rejected === 7)
    }

    if (harness.injectToAgent !== undefined) {
      await harness.injectToAgent(application, '/VM 1', 'garbage')
      await harness.injectToAgent(application, '/VM 1', JSON.stringify({ v: 1, kind: 'changeState', instancePath: '/VM 1', newState: 'FLYING' }))
      await harness.dm.sendToAgent(application, '/VM 1', { v: 1, kind: 'resendStates' })
      await waitFor('the valid message to the agent', () => toAgent.length === 1)
      await waitFor('2 rejections by the agent', () => link.metrics().rejected === 2)
      t.deepEqual(toAgent, [{ v: 1, kind: 'resendStates' }])
    }
    t.is(received.length, 1)

    // a flood is counted in full but logs a few lines per interval only
    const before = harness.dm.metrics().rejected
    const linesBefore = harness.logs.length
    const startedAt = Date.now()
    for (let i = 0; i < 200; i++) await harness.injectToDm(application, '/VM 1', kind === 'embedded' ? JSON.stringify({ t: 'msg', seq: 100 + i, body: {} }) : '{}')
    await waitFor('200 more rejections', () => harness.dm.metrics().rejected === before + 200)
    const windows = Math.ceil((Date.now() - startedAt) / REJECTION_LOG_INTERVAL_MS) + 1
    const dmWarnings = harness.logs.slice(linesBefore).filter(line => line.startsWith('warn DM') && line.includes('dropped'))
    t.true(dmWarnings.length <= windows * (REJECTION_LOG_LIMIT + 1), `${dmWarnings.length} lines in ${windows} log intervals`)
  })

  test(`${kind}: the agent handles its messages one at a time, in order, and a failing handler is survived`, async t => {
    const application = uniqueApplication('order')
    const harness = await createHarness(kind, [application])
    t.teardown(harness.close)
    const link = await harness.agent(application, '/VM 1')
    const handled: string[] = []
    let running = 0
    let overlapped = false
    link.onMessage(async msg => {
      if (msg.kind !== 'removeInstance') return
      running++
      if (running > 1) overlapped = true
      await new Promise(resolve => setTimeout(resolve, 2))
      running--
      if (msg.instancePath === '/fail') throw new Error('handler failure on purpose')
      handled.push(msg.instancePath)
    })
    const expected: string[] = []
    for (let i = 0; i < 30; i++) {
      await harness.dm.sendToAgent(application, '/VM 1', removeInstance(i === 10 ? '/fail' : `/${i}`))
      if (i !== 10) expected.push(`/${i}`)
    }
    await waitFor('29 handled messages', () => handled.length === 29)
    t.deepEqual(handled, expected)
    t.false(overlapped)
  })
}
