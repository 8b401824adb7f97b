// The chaos runs' rogue mesh peer: each announce it forges carries an ownership the importer's verifier refuses for
// the rogue's peer id, though the stolen ownership is valid for its real owner; its withdraw and digest claim what it
// does not own.
import test from 'ava'
import { OwnershipVerifier } from '../../agent/mesh/ownership.js'
import { controlTopic, createDmSigningKey, exportsTopic, signOwnership } from '../../protocol/mesh.js'
import { roguePeerForgeries, totalRejections } from '../chaos/rogue-peer.js'

test('every forged announce is refused by the ownership verifier; the withdraw and digest are about the victim', t => {
  const dm = createDmSigningKey()
  const stolen = signOwnership(dm, { peerId: '12D3KooWOwner', application: 'lamp', scopedInstancePath: '/MySQL VM' })
  const verifier = new OwnershipVerifier({ application: 'lamp', trustedDmKeys: [dm.publicKey] })
  t.true(verifier.check('12D3KooWOwner', stolen, '/MySQL VM/MySQL').ok, 'the stolen ownership is its owner\'s, valid')
  const forgeries = roguePeerForgeries({ application: 'lamp', roguePeerId: '12D3KooWRogue', stolenOwnership: stolen }, '/Tomcat VM 1', '/Tomcat VM 1/Tomcat', 1000)
  t.is(forgeries.length, 5)
  const reasons = forgeries.flatMap(f => {
    if (f.message.kind !== 'announce') return []
    t.is(f.topic, exportsTopic('lamp', 'Tomcat'))
    t.true(f.message.seq > 1000)
    const verdict = verifier.check('12D3KooWRogue', f.message.ownership, f.message.instancePath)
    return verdict.ok ? ['accepted'] : [verdict.reason]
  })
  t.deepEqual(reasons, ['wrong-peer', 'untrusted-dm-key', 'bad-signature'])
  const withdraw = forgeries.find(f => f.message.kind === 'withdraw')
  t.like(withdraw?.message, { instancePath: '/Tomcat VM 1/Tomcat', prefix: 'Tomcat' })
  const digest = forgeries.find(f => f.message.kind === 'digest')
  t.is(digest?.topic, controlTopic('lamp'))
  t.false(digest?.message.kind === 'digest' && verifier.check('12D3KooWRogue', digest.message.ownership, '/Tomcat VM 1/Tomcat').ok)
  t.throws(() => roguePeerForgeries({ application: 'lamp', roguePeerId: '12D3KooWOwner', stolenOwnership: stolen }, '/Tomcat VM 1', '/Tomcat VM 1/Tomcat', 0), { message: /ownership of its own/ })
})

test('rejections are summed over their reasons', t => {
  t.is(totalRejections({ 'wrong-peer': 2, 'not-owner': 1, malformed: undefined }), 3)
  t.is(totalRejections({}), 0)
})
