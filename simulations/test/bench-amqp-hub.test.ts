// The amqp hub against the real RabbitMQ on loopback: exports reach the agents bound to their prefix,
// withdrawals follow, a request makes owners re-announce, and a malformed message is dropped without harm.
import test from 'ava'
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import { amqpHubMeshFactory, applicationExchangeName, deleteApplicationExchange } from '../bench/amqp-hub.js'
import type { AmqpHubComponents, AmqpHubHandle } from '../bench/amqp-hub.js'
import type { Import, MeshParameters, ScopedModel } from '../../protocol/messages.js'
import type { ImportListener } from '../../agent/ports.js'

const APPLICATION = 'lamp'
const NO_MESH_PARAMETERS: MeshParameters = {
  bootstrapPeers: [], pnetKey: '', trustedDmKeys: [],
  ownership: { peerId: '', application: APPLICATION, scopedInstancePath: '', dmPublicKey: '', signature: '' }
}

function scopedModel (scopedInstancePath: string): ScopedModel {
  const name = scopedInstancePath.slice(1)
  return {
    application: APPLICATION,
    scopedInstancePath,
    components: {},
    instance: { name, component: 'VM', path: scopedInstancePath, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] },
    externalExports: {}
  }
}

type Event = { kind: 'added', prefix: string, exported: Import } | { kind: 'removed', prefix: string, exporterPath: string }

/** Records what the hub delivers, and lets the test wait for a matching event. */
class RecordingListener implements ImportListener {
  readonly events: Event[] = []
  private waiters: Array<() => void> = []
  importAdded (prefix: string, exported: Import): void { this.push({ kind: 'added', prefix, exported }) }
  importRemoved (prefix: string, exporterPath: string): void { this.push({ kind: 'removed', prefix, exporterPath }) }
  async next (predicate: (e: Event) => boolean, timeoutMs = 10_000): Promise<Event> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find(predicate)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`)
      await new Promise<void>(resolve => { this.waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }
  private push (event: Event): void {
    this.events.push(event)
    for (const wake of this.waiters.splice(0)) wake()
  }
}

async function withHub (t: { teardown: (fn: () => Promise<void>) => void }, components: AmqpHubComponents,
  path: string): Promise<{ hub: AmqpHubHandle, listener: RecordingListener }> {
  const listener = new RecordingListener()
  const hub = await amqpHubMeshFactory(components)(scopedModel(path), NO_MESH_PARAMETERS, listener)
  t.teardown(async () => { await hub.stop() })
  return { hub, listener }
}

function freshComponents (t: { teardown: (fn: () => Promise<void>) => void }, log?: (line: string) => void): AmqpHubComponents {
  const components: AmqpHubComponents = { domain: `test-${randomUUID()}`, log }
  // Registered first, so it runs after the hubs' teardowns (ava runs them in reverse order).
  t.teardown(async () => { await deleteApplicationExchange(components, APPLICATION) })
  return components
}

test('an announced export reaches the importer bound to its prefix, and its withdrawal follows', async t => {
  const components = freshComponents(t)
  const apache = await withHub(t, components, '/Apache VM')
  const tomcat = await withHub(t, components, '/Tomcat VM 1')
  const mysql = await withHub(t, components, '/MySQL VM')
  apache.hub.setInterests(new Set(['Tomcat']))
  await apache.hub.flush()

  tomcat.hub.announce('/Tomcat VM 1/Tomcat', 'Tomcat', { 'Tomcat.ip': '10.0.0.2', 'Tomcat.portAJP': '8009', 'WebApp.name': 'x' })
  const added = await apache.listener.next(e => e.kind === 'added')
  t.deepEqual(added, { kind: 'added', prefix: 'Tomcat',
    exported: { instancePath: '/Tomcat VM 1/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.2', 'Tomcat.portAJP': '8009' } } })

  tomcat.hub.withdraw('/Tomcat VM 1/Tomcat')
  const removed = await apache.listener.next(e => e.kind === 'removed')
  t.deepEqual(removed, { kind: 'removed', prefix: 'Tomcat', exporterPath: '/Tomcat VM 1/Tomcat' })
  // Only Apache imports Tomcat: neither the MySQL agent nor the WebApp prefix (nobody's interest) got anything.
  await apache.hub.flush()
  await tomcat.hub.flush()
  t.deepEqual(mysql.listener.events, [])
  t.is(apache.listener.events.length, 2)
  t.true(tomcat.hub.traffic().messagesSent >= 3)
})

test('a request makes the owners of the prefix re-announce (late joiner)', async t => {
  const components = freshComponents(t)
  const mysql = await withHub(t, components, '/MySQL VM')
  mysql.hub.announce('/MySQL VM/MySQL', 'MySQL', { 'MySQL.ip': '10.0.0.3', 'MySQL.port': '3306' })
  await mysql.hub.flush()

  const tomcat = await withHub(t, components, '/Tomcat VM 1')
  // Declaring the interest is enough: the hub asks the owners itself.
  tomcat.hub.setInterests(new Set(['MySQL']))
  const added = await tomcat.listener.next(e => e.kind === 'added')
  t.like(added, { prefix: 'MySQL', exported: { instancePath: '/MySQL VM/MySQL', variables: { 'MySQL.port': '3306' } } })

  // Once withdrawn, the owner no longer answers requests.
  mysql.hub.withdraw('/MySQL VM/MySQL')
  await tomcat.listener.next(e => e.kind === 'removed')
  await mysql.hub.flush()
  const before = tomcat.listener.events.length
  tomcat.hub.request(['MySQL'])
  await tomcat.hub.flush()
  await new Promise(resolve => setTimeout(resolve, 300))
  t.is(tomcat.listener.events.length, before)
})

test('a malformed message on the exchange is logged and dropped, and the hub keeps working', async t => {
  const lines: string[] = []
  const components = freshComponents(t, line => { lines.push(line) })
  const apache = await withHub(t, components, '/Apache VM')
  apache.hub.setInterests(new Set(['Tomcat']))
  await apache.hub.flush()

  const connection = await amqp.connect('amqp://guest:guest@127.0.0.1:5672', { noDelay: true })
  t.teardown(async () => { await connection.close() })
  const channel = await connection.createChannel()
  const exchange = applicationExchangeName(components.domain, APPLICATION)
  channel.publish(exchange, 'those.that.import.Tomcat', Buffer.from('{not json'))
  channel.publish(exchange, 'those.that.import.Tomcat', Buffer.from(JSON.stringify({ v: 1, kind: 'addImport', sender: 'x', prefix: 'Tomcat' })))
  channel.publish(exchange, 'those.that.import.Tomcat', Buffer.from(JSON.stringify({
    v: 1, kind: 'addImport', sender: '/Tomcat VM 9', prefix: 'Tomcat', instancePath: '/Tomcat VM 9/Tomcat', component: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.9' }
  })))
  const added = await apache.listener.next(e => e.kind === 'added')
  t.like(added, { exported: { instancePath: '/Tomcat VM 9/Tomcat' } })
  t.is(apache.listener.events.length, 1)
  t.is(lines.filter(l => l.includes('invalid amqp-hub message')).length, 2)
  t.true(lines.some(l => l.includes('not JSON')))
})
