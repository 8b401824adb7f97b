// A hostile actor of the chaos runs: a rogue mesh peer holding the application's pnet key (read from a machine's
// saved state, as an attacker owning that machine would) but no ownership of its own. It joins the mesh of an
// importer (Apache) and publishes forged announces, withdraws and digests for another machine's Tomcat. The importer
// must refuse each one (agent/mesh/ownership.ts) and count it by reason in its view (`meshconf agent view`).
import { controlTopic, createDmSigningKey, exportsTopic, pnetKeyBytes, signOwnership, type MeshMessage } from '../../protocol/mesh.js'
import type { SignedOwnership } from '../../protocol/messages.js'
import { createRawNode, joinMeshOf, sendTo, tomcatAnnounce, tomcatWithdraw, type WireTarget } from '../../fixtures/mesh-wire.js'

/** One forged mesh message and the topic it goes on. */
export interface PeerForgery { name: string, topic: string, message: MeshMessage }

/** What the rogue peer knows: the application, its own peer id, and an ownership it stole (another peer's). */
export interface RoguePeerKnowledge { application: string, roguePeerId: string, stolenOwnership: SignedOwnership }

/**
 * The forged messages about `victimInstance` (a Tomcat of another machine): announces under the stolen ownership
 * (another peer's), under one the rogue signed with a DM key of its own, and under the stolen one re-addressed to
 * itself (a broken signature); a withdraw (it owns nothing); a digest claiming the victim's instances. `seq` starts
 * above `seqFrom`, newer than anything the owner sent, so that only the ownership checks stand in the way.
 */
export function roguePeerForgeries (knowledge: RoguePeerKnowledge, victimScope: string, victimInstance: string, seqFrom: number): PeerForgery[] {
  const { application, roguePeerId, stolenOwnership } = knowledge
  if (stolenOwnership.peerId === roguePeerId) throw new Error('the rogue peer must not hold an ownership of its own')
  const tomcats = exportsTopic(application, 'Tomcat')
  const ownKey = signOwnership(createDmSigningKey(), { peerId: roguePeerId, application, scopedInstancePath: victimScope })
  const readdressed = { ...stolenOwnership, peerId: roguePeerId, scopedInstancePath: victimScope }
  let seq = seqFrom
  return [
    { name: `announce of ${victimInstance} with another peer's ownership`, topic: tomcats, message: tomcatAnnounce(application, stolenOwnership, victimInstance, 1, ++seq, '192.0.2.66') },
    { name: `announce of ${victimInstance} with an ownership of its own DM key`, topic: tomcats, message: tomcatAnnounce(application, ownKey, victimInstance, 1, ++seq, '192.0.2.66') },
    { name: `announce of ${victimInstance} with a stolen ownership re-addressed to itself and the victim's scope`, topic: tomcats, message: tomcatAnnounce(application, readdressed, victimInstance, 1, ++seq, '192.0.2.66') },
    { name: `withdraw of ${victimInstance}`, topic: tomcats, message: tomcatWithdraw(application, victimInstance, 1, ++seq) },
    {
      name: `digest claiming ${victimInstance} with another peer's ownership`,
      topic: controlTopic(application),
      message: { v: 1, kind: 'digest', application, epoch: 1, seq: ++seq, prefixes: { Tomcat: { seq, instances: [victimInstance] } }, addresses: ['/ip4/192.0.2.66/tcp/4001'], ownership: stolenOwnership }
    }
  ]
}

/** Sum of rejection counters by reason. */
export const totalRejections = (counts: Partial<Record<string, number>>): number => Object.values(counts).reduce<number>((a, b) => a + (b ?? 0), 0)

/**
 * Joins the importer's mesh with the pnet key `pnetKey`, publishes the forgeries made for the rogue's fresh identity,
 * waits for `handled` (the importer's verdicts: the rogue stays connected until they are in), and leaves.
 */
export async function runRoguePeer (pnetKey: string, target: WireTarget, make: (roguePeerId: string) => PeerForgery[],
  handled: (sent: number) => Promise<void>): Promise<void> {
  const rogue = await createRawNode(pnetKeyBytes(pnetKey))
  try {
    await joinMeshOf(rogue.node, target)
    let sent = 0
    for (const forgery of make(rogue.peerId)) {
      await sendTo(rogue.node, forgery.topic, forgery.message, target)
      sent++
    }
    await handled(sent)
  } finally {
    await rogue.node.stop()
  }
}
