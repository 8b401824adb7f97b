// The mesh wire protocol (protocol/mesh.ts): ownership signatures, pnet keys, topics, message validation.
import test from 'ava'
import {
  ControlCharacterError, MeshMessageError, controlTopic, createDmSigningKey, decodeMeshMessage, encodeMeshMessage, exportsTopic,
  generatePnetKey, isNewer, pnetKeyBytes, prefixOfExportsTopic, signOwnership, verifyOwnership, InvalidPnetKeyError,
  DEFAULT_OWNERSHIP_LIFETIME_MS, OWNERSHIP_CLOCK_SKEW_MS, ownershipExpiry,
  type AnnounceMessage, type MeshMessage
} from '../protocol/mesh.js'
import { OwnershipVerifier } from '../agent/mesh/ownership.js'

const claim = { peerId: '12D3KooWPeer', application: 'shop', scopedInstancePath: '/Tomcat VM 1' }

test('an ownership signed by a trusted DM key verifies for instances in its scope only', t => {
  const dm = createDmSigningKey()
  const signed = signOwnership(dm, claim)
  t.is(signed.dmPublicKey, dm.publicKey)
  const expected = { senderPeerId: '12D3KooWPeer', application: 'shop', trustedDmKeys: [dm.publicKey] }
  t.deepEqual(verifyOwnership(signed, { ...expected, instancePath: '/Tomcat VM 1/Tomcat' }), { ok: true })
  t.deepEqual(verifyOwnership(signed, { ...expected, instancePath: '/Tomcat VM 1' }), { ok: true })
  t.like(verifyOwnership(signed, { ...expected, instancePath: '/Tomcat VM 10/Tomcat' }), { ok: false, reason: 'outside-scope' })
  t.like(verifyOwnership(signed, { ...expected, instancePath: '/MySQL VM/MySQL' }), { ok: false, reason: 'outside-scope' })
  t.like(verifyOwnership(signed, { ...expected, senderPeerId: '12D3KooWOther', instancePath: '/Tomcat VM 1/Tomcat' }), { ok: false, reason: 'wrong-peer' })
  t.like(verifyOwnership(signed, { ...expected, application: 'other', instancePath: '/Tomcat VM 1/Tomcat' }), { ok: false, reason: 'wrong-application' })
  t.like(verifyOwnership(signed, { ...expected, trustedDmKeys: [createDmSigningKey().publicKey], instancePath: '/Tomcat VM 1/Tomcat' }), { ok: false, reason: 'untrusted-dm-key' })
})

test('a tampered ownership fails its signature', t => {
  const dm = createDmSigningKey()
  const signed = signOwnership(dm, claim)
  const expected = { senderPeerId: '12D3KooWPeer', application: 'shop', trustedDmKeys: [dm.publicKey], instancePath: '/MySQL VM/MySQL' }
  t.like(verifyOwnership({ ...signed, scopedInstancePath: '/MySQL VM' }, expected), { ok: false, reason: 'bad-signature' })
  t.like(verifyOwnership({ ...signed, scopedInstancePath: '/MySQL VM', signature: 'not base64 at all' }, expected), { ok: false, reason: 'bad-signature' })
  // A key that is not 32 bytes is rejected, not thrown.
  t.like(verifyOwnership({ ...signed, dmPublicKey: 'AAAA' }, { ...expected, trustedDmKeys: ['AAAA'], instancePath: '/Tomcat VM 1/x' }), { ok: false, reason: 'bad-signature' })
})

test('the DM signing key survives a JSON round trip', t => {
  const dm = JSON.parse(JSON.stringify(createDmSigningKey()))
  const signed = signOwnership(dm, claim)
  t.deepEqual(verifyOwnership(signed, { senderPeerId: claim.peerId, application: 'shop', trustedDmKeys: [dm.publicKey], instancePath: '/Tomcat VM 1/T' }), { ok: true })
})

test('pnet keys are libp2p v1 keys; malformed ones get a clear error', t => {
  const key = generatePnetKey()
  t.regex(key, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
  t.not(key, generatePnetKey())
  t.is(new TextDecoder().decode(pnetKeyBytes(key)), key)
  t.is(pnetKeyBytes(key.replaceAll('\n', '\r\n')).byteLength, key.length)
  const err = t.throws(() => pnetKeyBytes('/key/swarm/psk/1.0.0/\n/base16/\nabc'), { instanceOf: InvalidPnetKeyError })
  t.regex(err?.message ?? '', /64 hex digits/)
})

test('topics carry the application and prefix, escaped', t => {
  t.is(exportsTopic('my app', 'Tomcat'), '/meshconf/1/my%20app/exports/Tomcat')
  t.is(prefixOfExportsTopic('my app', exportsTopic('my app', 'a/b')), 'a/b')
  t.is(prefixOfExportsTopic('my app', controlTopic('my app')), undefined)
  t.is(prefixOfExportsTopic('other', exportsTopic('my app', 'Tomcat')), undefined)
})

test('stamps order by epoch, then seq', t => {
  t.true(isNewer({ epoch: 2, seq: 1 }, { epoch: 1, seq: 9 }))
  t.true(isNewer({ epoch: 1, seq: 3 }, { epoch: 1, seq: 2 }))
  t.false(isNewer({ epoch: 1, seq: 2 }, { epoch: 1, seq: 2 }))
  t.false(isNewer({ epoch: 1, seq: 9 }, { epoch: 2, seq: 0 }))
})

const dm = createDmSigningKey()
const announce: AnnounceMessage = {
  v: 1, kind: 'announce', application: 'shop', epoch: 5, seq: 1, instancePath: '/Tomcat VM 1/Tomcat', component: 'Tomcat',
  prefix: 'Tomcat', variables: { 'Tomcat.ip': '10.0.0.1', 'Tomcat.port': null }, ownership: signOwnership(dm, claim), addresses: []
}
const topic = exportsTopic('shop', 'Tomcat')

test('valid messages decode to themselves', t => {
  t.deepEqual(decodeMeshMessage(encodeMeshMessage(announce), 'shop', topic), announce)
  const withdraw = { v: 1, kind: 'withdraw', application: 'shop', epoch: 5, seq: 2, instancePath: '/Tomcat VM 1/Tomcat', prefix: 'Tomcat' } as const
  t.deepEqual(decodeMeshMessage(encodeMeshMessage(withdraw), 'shop', topic), withdraw)
  const request: MeshMessage = { v: 1, kind: 'request', application: 'shop', prefixes: ['Tomcat'], targets: ['peer', 'other peer'], ownership: signOwnership(dm, claim) }
  t.deepEqual(decodeMeshMessage(encodeMeshMessage(request), 'shop', controlTopic('shop')), request)
  const digest: MeshMessage = { v: 1, kind: 'digest', application: 'shop', epoch: 5, seq: 3, prefixes: { Tomcat: { seq: 2, instances: [] } }, addresses: [], ownership: signOwnership(dm, claim) }
  t.deepEqual(decodeMeshMessage(encodeMeshMessage(digest), 'shop', controlTopic('shop')), digest)
})

test('invalid messages are rejected with what is wrong', t => {
  const bad = (value: unknown, on = topic): string => {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : encodeMeshMessage(value as AnnounceMessage)
    return t.throws(() => decodeMeshMessage(bytes, 'shop', on), { instanceOf: MeshMessageError })?.message ?? ''
  }
  t.regex(bad('{not json'), /not UTF-8 JSON/)
  t.regex(bad({ ...announce, v: 2 }), /unknown version 2/)
  t.regex(bad({ ...announce, application: 'other' }), /application "other"/)
  t.regex(bad({ ...announce, prefix: 'MySQL' }), /prefix MySQL arrived on topic/)
  t.regex(bad({ ...announce, seq: -1 }), /seq is not a non-negative integer/)
  t.regex(bad({ ...announce, epoch: 1.5 }), /epoch/)
  t.regex(bad({ ...announce, instancePath: 'Tomcat' }), /not an instance path/)
  t.regex(bad({ ...announce, variables: { 'MySQL.ip': 'x' } }), /does not belong to prefix Tomcat/)
  t.regex(bad({ ...announce, variables: { 'Tomcat.ip': 3 } }), /variables.Tomcat.ip/)
  t.regex(bad({ ...announce, ownership: { ...announce.ownership, signature: 7 } }), /ownership.signature/)
  t.regex(bad({ ...announce, kind: 'explode' }), /unknown kind "explode"/)
  t.regex(bad({ ...announce }, controlTopic('shop')), /arrived on topic/)
  t.regex(bad({ v: 1, kind: 'request', application: 'shop', prefixes: ['x'] }), /not the control topic/)
  t.regex(bad({ ...announce }, '/other/topic'), /not a mesh topic/)
  t.regex(bad('[]'), /message is not an object/)
  t.regex(bad(`{"v":1,"pad":"${'x'.repeat(70_000)}"}`), /exceeds/)
  t.throws(() => decodeMeshMessage(new Uint8Array([0xff, 0xfe, 0x00]), 'shop', topic), { instanceOf: MeshMessageError })
})

test('control characters in exported values, variable names, components or paths are rejected, saying which', t => {
  const bad = (message: unknown): string =>
    t.throws(() => decodeMeshMessage(encodeMeshMessage(message as AnnounceMessage), 'shop', topic), { instanceOf: ControlCharacterError })?.message ?? ''
  t.regex(bad({ ...announce, variables: { 'Tomcat.ip': '1.2.3.4\n; touch PWNED' } }), /variables.Tomcat.ip holds the control character U\+000A: exported values are data/)
  t.regex(bad({ ...announce, variables: { 'Tomcat.ip': 'a\u0000b' } }), /U\+0000/)
  t.regex(bad({ ...announce, variables: { 'Tomcat.ip': '\u001b[2J' } }), /U\+001B/)
  t.regex(bad({ ...announce, variables: { 'Tomcat.i\rp': 'x' } }), /variable name/)
  t.regex(bad({ ...announce, component: 'Tom\tcat' }), /component/)
  t.regex(bad({ ...announce, instancePath: '/Tomcat VM 1/Tom\u0085cat' }), /instancePath/)
  // Quotes, `$()` and backticks are data, not control characters: the importer's recipes quote them.
  const quoted = { ...announce, variables: { 'Tomcat.ip': '1.2.3.4"; touch PWNED; echo "$(id)`id`' } }
  t.deepEqual(decodeMeshMessage(encodeMeshMessage(quoted), 'shop', topic), quoted)
})

test('an ownership signs the machine\'s generation; one without (signed before generations) still verifies', t => {
  const expected = { senderPeerId: claim.peerId, application: 'shop', instancePath: '/Tomcat VM 1/Tomcat', trustedDmKeys: [dm.publicKey] }
  const withGeneration = signOwnership(dm, { ...claim, generation: 3 })
  t.is(withGeneration.generation, 3)
  t.deepEqual(verifyOwnership(withGeneration, expected), { ok: true })
  t.like(verifyOwnership({ ...withGeneration, generation: 4 }, expected), { ok: false, reason: 'bad-signature' })
  t.like(verifyOwnership({ ...withGeneration, generation: undefined }, expected), { ok: false, reason: 'bad-signature' })
  const legacy = signOwnership(dm, claim)
  t.false('generation' in legacy)
  t.deepEqual(verifyOwnership(legacy, expected), { ok: true })
})

test('an ownership signs its expiry (default: the lifetime from now); an expired one, or one without expiry, is refused', t => {
  const dm = createDmSigningKey()
  const expected = { senderPeerId: claim.peerId, application: 'shop', instancePath: '/Tomcat VM 1/Tomcat', trustedDmKeys: [dm.publicKey] }
  const before = Date.now()
  const fresh = signOwnership(dm, { ...claim, generation: 2 })
  t.true((fresh.expiresAt ?? 0) >= before + DEFAULT_OWNERSHIP_LIFETIME_MS && (fresh.expiresAt ?? 0) <= Date.now() + DEFAULT_OWNERSHIP_LIFETIME_MS)
  t.deepEqual(verifyOwnership(fresh, expected), { ok: true })
  // A holder pushing its expiry back breaks the signature.
  t.like(verifyOwnership({ ...fresh, expiresAt: (fresh.expiresAt ?? 0) + 1 }, expected), { ok: false, reason: 'bad-signature' })
  const at = 1_000_000_000_000
  const ending = signOwnership(dm, { ...claim, expiresAt: at })
  t.deepEqual(ownershipExpiry(ending, at + OWNERSHIP_CLOCK_SKEW_MS), { ok: true }, 'within the clock skew')
  const late = ownershipExpiry(ending, at + OWNERSHIP_CLOCK_SKEW_MS + 1)
  t.like(late, { ok: false, reason: 'expired' })
  t.regex(late.ok ? '' : late.detail, /expired at 2001-09-09T01:46:40.000Z/)
  const { expiresAt: _, ...withoutExpiry } = ending
  t.like(ownershipExpiry(withoutExpiry, at), { ok: false, reason: 'no-expiry' })
})

test('the ownership verifier: signature, then expiry at every check (time moves), then the newest generation seen per scope', t => {
  const dm = createDmSigningKey()
  let now = 1_000_000_000_000
  const verifier = new OwnershipVerifier({ application: 'shop', trustedDmKeys: [dm.publicKey], now: () => now, clockSkewMs: 0 })
  const sign = (generation: number, expiresAt: number) => signOwnership(dm, { ...claim, generation, expiresAt })
  const second = sign(2, now + 1000)
  t.deepEqual(verifier.check(claim.peerId, second, '/Tomcat VM 1/Tomcat'), { ok: true })
  t.like(verifier.check(claim.peerId, sign(1, now + 1000), '/Tomcat VM 1/Tomcat'), { ok: false, reason: 'superseded-generation' })
  t.like(verifier.check('12D3KooWOther', second, '/Tomcat VM 1/Tomcat'), { ok: false, reason: 'wrong-peer' })
  now += 1001
  t.like(verifier.check(claim.peerId, second, '/Tomcat VM 1/Tomcat'), { ok: false, reason: 'expired' }, 'the cached signature verdict does not hide the expiry')
  t.deepEqual(verifier.check(claim.peerId, sign(2, now + 1000), '/Tomcat VM 1/Tomcat'), { ok: true }, 'renewed')
  t.like(verifier.check(claim.peerId, sign(3, now - 1), '/Tomcat VM 1/Tomcat'), { ok: false, reason: 'expired' })
  t.deepEqual(verifier.check(claim.peerId, sign(2, now + 1000), '/Tomcat VM 1/Tomcat'), { ok: true }, 'an expired newer generation does not supersede')
})
