// `meshconf agent view` as text (manager/commands/agent.ts): the application mesh's summary and held exports, then,
// for an agent of the domain exchange (issue 21), what it exports to other applications, its bindings, the external
// imports it holds (from which application and instance) and its rejections, as the --json view has them.
import test from 'ava'
import { agentViewDocument, formatAgentView } from '../manager/commands/agent.js'
import type { AgentViewDocument } from '../agent/view.js'
import type { AgentMeshView } from '../agent/index.js'

const WRITTEN_AT_MS = Date.UTC(2026, 11, 6, 12, 0, 0)
const mesh: AgentMeshView = {
  peerId: 'peerWeb', application: 'Shop A', scopedInstancePath: '/web vm', epoch: 3, addresses: ['/ip4/127.0.0.1/tcp/4001'],
  connectedPeers: [], interests: [], announced: [], held: [], suspects: [], rejections: {}, sent: { messages: 0, bytes: 0 },
  cached: { ownershipVerdicts: 0, stamps: 0, ownerPrefixStamps: 0, heardFrom: 0 }
}
const document = (view: AgentMeshView): AgentViewDocument => ({ pid: 42, writtenAt: WRITTEN_AT_MS, application: 'Shop A', scopedInstancePath: '/web vm', mesh: view })

test('an agent importing across applications shows its bindings, the external imports it holds and its rejections', t => {
  const lines = formatAgentView(document({
    ...mesh,
    domain: {
      peerId: 'peerWebDomain', addresses: [], connectedPeers: ['peerDb'], interests: ['Db'],
      bindings: [{ prefix: 'Db', exporters: ['Db'], version: 2 }], announced: [],
      held: [{ prefix: 'Db', application: 'Db', instancePath: '/db vm/database', component: 'Database', peerId: 'peerDb', since: WRITTEN_AT_MS - 60_000, variables: { 'Db.ip': '192.0.2.1' } }],
      suspects: [], rejections: { 'untrusted-dm-key': 2, expired: 1 }
    }
  }), WRITTEN_AT_MS)
  t.true(lines.includes('domain exchange: peer peerWebDomain, connected peers: 1; lost owners: none; rejected messages: untrusted-dm-key 2, expired 1'))
  t.true(lines.includes('exports to other applications: none'))
  t.true(lines.includes('external imports: Db; bindings: Db from Db (version 2)'))
  t.regex(lines.at(-2) ?? '', /^PREFIX +FROM APPLICATION +INSTANCE +FROM PEER +HELD SINCE$/)
  t.regex(lines.at(-1) ?? '', /^Db +Db +\/db vm\/database +peerDb +2026-12-06T11:59:00.000Z$/)
})

test('an agent exporting across applications shows what it exports and when its external ownership expires; --json has ISO times', t => {
  const view: AgentMeshView = {
    ...mesh,
    domain: {
      peerId: 'peerDbDomain', addresses: [], connectedPeers: [], interests: [], bindings: [],
      announced: [{ prefix: 'Db', instancePath: '/db vm/database', variables: { 'Db.ip': '192.0.2.1' } }],
      held: [], ownershipExpiresAt: WRITTEN_AT_MS + 3_600_000, suspects: [], rejections: {}
    }
  }
  const lines = formatAgentView(document(view), WRITTEN_AT_MS)
  t.true(lines.includes('exports to other applications: Db of /db vm/database (external ownership expires 2026-12-06T13:00:00.000Z)'))
  t.true(lines.includes('external imports: none; bindings: none'))
  t.is(lines.at(-1), 'holds no external export')
  const json = agentViewDocument(document(view)) as { mesh: { domain: { ownershipExpiresAt: string } } }
  t.is(json.mesh.domain.ownershipExpiresAt, '2026-12-06T13:00:00.000Z')
})

test('an agent outside the domain exchange shows no domain part', t => {
  const lines = formatAgentView(document(mesh), WRITTEN_AT_MS)
  t.false(lines.some(line => line.startsWith('domain exchange')))
  t.is(lines.at(-1), 'holds no export')
})
