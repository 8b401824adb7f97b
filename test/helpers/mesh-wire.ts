// The mesh's wire protocol spoken by hand, for tests that play a rogue peer or a hand-driven owner against an agent
// (a mesh in the test's process, or an agent process): bare libp2p nodes, announces, malformed messages.
import type { ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { MeshNode } from '../../agent/mesh/node.js'
import type { MeshView, RejectionReason } from '../../agent/mesh/service.js'
import type { MeshApp } from '../../fixtures/mesh-app.js'
import { createRawNode, joinMeshOf, sendTo, tomcatAnnounce, tomcatWithdraw, type WireTarget } from '../../fixtures/mesh-wire.js'
import {
  controlTopic, createDmSigningKey, encodeMeshMessage, exportsTopic, pnetKeyBytes, signOwnership, type AnnounceMessage, type MeshMessage
} from '../../protocol/mesh.js'
import type { SignedOwnership } from '../../protocol/messages.js'
import { waitFor } from './wait.js'

/** The agent a raw node talks to: an Apache, which imports Tomcat, in this process or in an agent process. */
export interface MeshTarget {
  app: MeshApp
  peerId: string
  addresses: string[]
  /** Its mesh's view: what it holds, from whom, and its rejection counters. */
  view (): MeshView | Promise<MeshView>
}

/** A bare libp2p node that speaks the wire protocol by hand (a rogue peer, or a hand-driven owner). */
export async function startRawNode (t: ExecutionContext, psk?: Uint8Array): Promise<{ node: MeshNode, peerId: string }> {
  const raw = await createRawNode(psk)
  t.teardown(async () => { await raw.node.stop() })
  return raw
}

const wire = (target: MeshTarget): WireTarget => ({ application: target.app.application, peerId: target.peerId, addresses: target.addresses })

/** Connects the raw node to the target and waits until the target listens to it on the Tomcat topic. */
export async function joinMesh (raw: MeshNode, target: MeshTarget): Promise<void> {
  await joinMeshOf(raw, wire(target))
}

export async function send (raw: MeshNode, topic: string, data: MeshMessage | Uint8Array, target: MeshTarget): Promise<void> {
  await sendTo(raw, topic, data, wire(target))
}

/**
 * Publishes `data` on `topic` as authored and signed by `author` (any key, not the raw node's own): a peer with the
 * pnet key relaying messages of made-up peers, as gossip relays the messages of others. Swaps the gossipsub
 * router's publish configuration (its signing key and author) for the one message.
 */
export async function publishAs (raw: MeshNode, author: PrivateKey, topic: string, data: MeshMessage | Uint8Array): Promise<void> {
  const router = raw.services.pubsub as unknown as { publishConfig: unknown }
  const own = router.publishConfig
  // PublishConfigType.Signing (0), as gossipsub's getPublishConfigFromPeerId builds it for StrictSign.
  router.publishConfig = { type: 0, author: peerIdFromPrivateKey(author), key: publicKeyToProtobuf(author.publicKey), privateKey: author }
  // The router reads its configuration when publish is called, before its first await: restored at once, so that
  // several of these may be in flight together.
  let published: Promise<unknown>
  try {
    published = raw.services.pubsub.publish(topic, data instanceof Uint8Array ? data : encodeMeshMessage(data))
  } finally {
    router.publishConfig = own
  }
  await published
}

export function announceOf (app: MeshApp, ownership: SignedOwnership, instancePath: string, epoch: number, seq: number, ip: string): AnnounceMessage {
  return tomcatAnnounce(app.application, ownership, instancePath, epoch, seq, ip)
}

export function withdrawOf (app: MeshApp, instancePath: string, epoch: number, seq: number): MeshMessage {
  return tomcatWithdraw(app.application, instancePath, epoch, seq)
}

export const total = (counts: Partial<Record<RejectionReason, number>>): number => Object.values(counts).reduce((a, b) => a + (b ?? 0), 0)

/** A message that fails validation, of one of many kinds; every one is invalid by construction. */
export function malformed (i: number, app: MeshApp, valid: AnnounceMessage): Uint8Array {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const json = (o: unknown): Uint8Array => text(JSON.stringify(o))
  const wrongValues = [null, -1, 1.5, '', 'x'.repeat(5000), [], {}, true, Number.MAX_VALUE]
  const fields = ['v', 'kind', 'application', 'epoch', 'seq', 'instancePath', 'prefix', 'variables', 'ownership', 'addresses', 'component']
  switch (i % 8) {
    case 0: return randomBytes(1 + (i % 700))
    case 1: return json(valid).slice(0, 1 + (i % 200))
    case 2: {
      const field = fields[i % fields.length]
      const value = wrongValues[Math.floor(i / 8) % wrongValues.length]
      // `{}` and `[]` happen to be valid for no field but variables/addresses: use a string there.
      return json({ ...valid, [field]: (field === 'variables' || field === 'addresses') ? 'nope' : value })
    }
    case 3: return json({ ...valid, v: 2 + (i % 5) })
    case 4: return json({ ...valid, application: `${app.application}-other` })
    case 5: return json({ ...valid, variables: { [`Other.x${i}`]: 'v' } })
    case 6: return json({ v: 1, kind: 'request', application: app.application, prefixes: i % 2 === 0 ? 'Tomcat' : [i] })
    default: return json([i, 'not an object'])
  }
}

/**
 * Sends `count` malformed messages on the Tomcat and control topics, in paced batches: gossipsub's outbound stream
 * has no backpressure (it aborts past its write buffer), so each batch is all rejected before the next.
 */
export async function flood (raw: MeshNode, target: MeshTarget, valid: AnnounceMessage, count: number, intervalMs?: number): Promise<void> {
  const topics = [exportsTopic(target.app.application, 'Tomcat'), controlTopic(target.app.application)]
  const batch = 250
  for (let first = 0; first < count; first += batch) {
    const sent = Math.min(count, first + batch)
    await Promise.all(Array.from({ length: sent - first }, async (_, k) => { await send(raw, topics[(first + k) % 2], malformed(first + k, target.app, valid), target) }))
    await waitFor(`${sent} rejections`, async () => total((await target.view()).rejections) >= sent, { state: async () => { const { rejections, connectedPeers } = await target.view(); return { rejections, connected: connectedPeers.length } }, timeoutMs: 60_000, everyMs: intervalMs })
  }
}

/**
 * A rogue with the pnet key and a DM-signed ownership of /Tomcat VM 1 joins the target's mesh, sends it `count`
 * malformed messages (flood), then a valid announce of /Tomcat VM 1/Tomcat (Tomcat.ip 10.0.0.1); resolves with the
 * rogue's peer id once the announce is sent.
 */
export async function floodThenValid (t: ExecutionContext, target: MeshTarget, count: number, intervalMs?: number): Promise<string> {
  const { app } = target
  const rogue = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(rogue.node, target)
  const ownership = signOwnership(app.dmKey, { peerId: rogue.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const valid = announceOf(app, ownership, '/Tomcat VM 1/Tomcat', 1, 1, '10.0.0.1')
  await flood(rogue.node, target, valid, count, intervalMs)
  await send(rogue.node, exportsTopic(app.application, 'Tomcat'), valid, target)
  return rogue.peerId
}

/** What the target holds, as [instance, owner, Tomcat.ip]. */
async function heldTomcats (target: MeshTarget): Promise<Array<[string, string, string | null | undefined]>> {
  return (await target.view()).held.map(h => [h.instancePath, h.peerId, h.variables['Tomcat.ip']])
}

const TOMCAT = '/Tomcat VM 1/Tomcat'

/**
 * The legitimate owner of /Tomcat VM 1 (a hand-driven node) announces its Tomcat; then a rogue with the pnet key
 * announces that instance under forged ownerships, withdraws it (not being its owner), and announces an instance of
 * its own scope, which is accepted: once the target holds it, every forgery sent before it was handled. Checks that
 * the target holds the owner's Tomcat and the rogue's own, and rejected each forgery once, for its reason.
 */
export async function forgeTomcat (t: ExecutionContext, target: MeshTarget): Promise<void> {
  const { app } = target
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  const rogue = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(owner.node, target)
  await joinMesh(rogue.node, target)
  const topic = exportsTopic(app.application, 'Tomcat')
  const sign = (peerId: string, scopedInstancePath: string, application = app.application, key = app.dmKey): SignedOwnership =>
    signOwnership(key, { peerId, application, scopedInstancePath })
  const ownership = sign(owner.peerId, '/Tomcat VM 1')
  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 1, 1, '10.0.0.1'), target)
  await waitFor('the owner\'s Tomcat', async () => (await target.view()).held.length === 1, { state: async () => await target.view(), timeoutMs: 60_000 })

  const rogueScope = sign(rogue.peerId, '/Rogue VM')
  const forgeries: Array<[RejectionReason, SignedOwnership]> = [
    ['untrusted-dm-key', sign(rogue.peerId, '/Tomcat VM 1', app.application, createDmSigningKey())],
    ['outside-scope', rogueScope],
    ['wrong-peer', ownership],
    ['bad-signature', { ...rogueScope, scopedInstancePath: '/Tomcat VM 1' }],
    ['wrong-application', sign(rogue.peerId, '/Tomcat VM 1', 'other-app')]
  ]
  // Newer stamps than the owner's: only the ownership checks stand in their way.
  let seq = 100
  for (const [, forged] of forgeries) await send(rogue.node, topic, announceOf(app, forged, TOMCAT, 1, ++seq, '6.6.6.6'), target)
  await send(rogue.node, topic, withdrawOf(app, TOMCAT, 1, ++seq), target)
  await send(rogue.node, topic, announceOf(app, rogueScope, '/Rogue VM/Tomcat', 1, ++seq, '10.0.0.66'), target)
  await waitFor('the rogue\'s own instance', async () => (await heldTomcats(target)).some(([path]) => path === '/Rogue VM/Tomcat'), { state: async () => await target.view(), timeoutMs: 60_000 })
  t.deepEqual((await heldTomcats(target)).sort(), [['/Rogue VM/Tomcat', rogue.peerId, '10.0.0.66'], [TOMCAT, owner.peerId, '10.0.0.1']])
  t.deepEqual((await target.view()).rejections, Object.fromEntries([...forgeries.map(([reason]) => [reason, 1]), ['not-owner', 1]]))
}

/**
 * An owner's messages replayed, reordered, and left over from its previous epoch, each group followed by a marker
 * announce from the same owner (handled after them). Checks that only the newest message of the Tomcat counts.
 */
export async function replayTomcat (t: ExecutionContext, target: MeshTarget): Promise<void> {
  const { app } = target
  const owner = await startRawNode(t, pnetKeyBytes(app.pnetKey))
  await joinMesh(owner.node, target)
  const topic = exportsTopic(app.application, 'Tomcat')
  const ownership = signOwnership(app.dmKey, { peerId: owner.peerId, application: app.application, scopedInstancePath: '/Tomcat VM 1' })
  const marker = '/Tomcat VM 1/Marker'
  const ipOf = async (path: string): Promise<string | null | undefined> => (await heldTomcats(target)).find(([p]) => p === path)?.[2]
  const sync = async (epoch: number, seq: number): Promise<void> => {
    await send(owner.node, topic, announceOf(app, ownership, marker, epoch, seq, `m${seq}`), target)
    await waitFor(`marker ${seq}`, async () => await ipOf(marker) === `m${seq}`, { state: async () => await target.view(), timeoutMs: 60_000 })
  }

  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 1, 5, 'newer'), target)
  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 1, 3, 'older'), target)
  await send(owner.node, topic, withdrawOf(app, TOMCAT, 1, 4), target)
  await sync(1, 6)
  t.is(await ipOf(TOMCAT), 'newer')

  await send(owner.node, topic, withdrawOf(app, TOMCAT, 1, 7), target)
  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 1, 5, 'replayed'), target)
  await sync(1, 8)
  t.is(await ipOf(TOMCAT), undefined)

  // A restarted owner (next epoch) starts its seq again; the old epoch's late messages lose.
  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 2, 1, 'restarted'), target)
  await send(owner.node, topic, announceOf(app, ownership, TOMCAT, 1, 100, 'previous life'), target)
  await sync(2, 2)
  t.is(await ipOf(TOMCAT), 'restarted')
}
