// Wire validation (protocol/messages.ts, checks.ts, agent-endpoint.ts, embedded-frames.ts) and names
// (broker-names.ts): what the receivers rely on to drop bad input with a clear reason, and RabbitMQ names that never
// collide nor contain topic syntax.
import test from 'ava'
import { MalformedMessageError, decodeJson } from '../protocol/checks.js'
import {
  UnknownMessageKindError, UnsupportedMessageVersionError, parseAgentToDmMessage, parseDmToAgentMessage
} from '../protocol/messages.js'
import { agentQueueName, agentRoutingKey, routingWord } from '../protocol/broker-names.js'
import { parseAgentEndpoint } from '../protocol/agent-endpoint.js'
import { parseAgentFrame, parseDmFrame } from '../protocol/embedded-frames.js'

test('valid messages of every kind pass, with unknown extra fields kept for newer senders', t => {
  const instance = { name: 'VM', component: 'VM', path: '/VM', overriddenExports: {}, data: {}, channels: [], children: [] }
  const dmMessages = [
    { v: 1, kind: 'changeState', instancePath: '/VM/A', newState: 'DEPLOYED_STARTED', recipes: { A: { 'deploy.sh': 'ZWNobw==' } } },
    { v: 1, kind: 'addInstance', parentPath: '/VM', instance },
    { v: 1, kind: 'removeInstance', instancePath: '/VM/A' },
    { v: 1, kind: 'resendStates' },
    { v: 1, kind: 'resynchronize', futureField: 3 },
    { v: 1, kind: 'setProbePeriod', probePeriodMs: 2_000 }
  ]
  for (const msg of dmMessages) t.deepEqual(parseDmToAgentMessage(msg), msg as never)
  const agentMessages = [
    { v: 1, kind: 'heartbeat', application: 'a', scopedInstancePath: '/VM', ipAddress: '10.0.0.1', modelRequired: false, peerId: 'p', listenAddresses: ['/ip4/10.0.0.1/tcp/1'] },
    { v: 1, kind: 'instanceChanged', application: 'a', instancePath: '/VM/A', status: 'PROBLEM', problem: 'deploy.sh exited 1', imports: { 'B.*': [{ instancePath: '/VM2/B', component: 'B', variables: { 'B.ip': null } }] } },
    { v: 1, kind: 'instanceRemoved', application: 'a', instancePath: '/VM/A' },
    { v: 1, kind: 'machineDown', application: 'a', scopedInstancePath: '/VM' }
  ]
  for (const msg of agentMessages) t.deepEqual(parseAgentToDmMessage(msg), msg as never)
})

test('invalid messages are rejected with the error class of their fault and the faulty field', t => {
  t.throws(() => decodeJson('{"v":1,'), { instanceOf: MalformedMessageError, message: /not JSON/ })
  t.throws(() => parseDmToAgentMessage([]), { instanceOf: MalformedMessageError, message: /expected an object, got an array/ })
  t.throws(() => parseDmToAgentMessage({ v: 2, kind: 'resendStates' }), { instanceOf: UnsupportedMessageVersionError, message: /version 2.*speaks version 1/ })
  t.throws(() => parseDmToAgentMessage({ kind: 'resendStates' }), { instanceOf: UnsupportedMessageVersionError })
  t.throws(() => parseDmToAgentMessage({ v: 1, kind: 'heartbeat' }), { instanceOf: UnknownMessageKindError, message: /"heartbeat"; expected one of setScopedInstance/ })
  t.throws(() => parseAgentToDmMessage({ v: 1, kind: '__proto__' }), { instanceOf: UnknownMessageKindError })
  t.throws(() => parseDmToAgentMessage({ v: 1, kind: 'setProbePeriod', probePeriodMs: 'often' }), { instanceOf: MalformedMessageError, message: /probePeriodMs/ })
  const nested = t.throws(() => parseDmToAgentMessage({
    v: 1,
    kind: 'addInstance',
    parentPath: '/VM',
    instance: { name: 'VM', component: 'VM', path: '/VM', overriddenExports: {}, data: {}, channels: [], children: [{ name: 7 }] }
  }), { instanceOf: MalformedMessageError })
  t.is(nested.field, 'instance.children[0].name')
  t.regex(nested.message, /field 'instance\.children\[0\]\.name': expected a string, got number 7/)
  const status = t.throws(() => parseAgentToDmMessage({ v: 1, kind: 'instanceChanged', application: 'a', instancePath: '/x', status: 'RUNNING', imports: {} }), { instanceOf: MalformedMessageError })
  t.is(status.field, 'status')
  const missing = t.throws(() => parseAgentToDmMessage({ v: 1, kind: 'machineDown', application: 'a' }), { instanceOf: MalformedMessageError })
  t.is(missing.field, 'scopedInstancePath')
})

test('endpoints and embedded frames are validated too', t => {
  t.deepEqual(parseAgentEndpoint({ kind: 'amqp', url: 'amqp://h', domain: 'd' }), { kind: 'amqp', url: 'amqp://h', domain: 'd' })
  t.throws(() => parseAgentEndpoint({ kind: 'kafka' }), { message: /field 'endpoint\.kind': expected 'amqp', 'embedded' or 'memory'/ })
  t.throws(() => parseAgentEndpoint({ kind: 'embedded', url: 'ws://h' }), { message: /endpoint\.token/ })
  t.deepEqual(parseDmFrame('{"t":"ack","seq":3}'), { t: 'ack', seq: 3 })
  t.throws(() => parseDmFrame('{"t":"ack","seq":-1}'), { message: /field 'seq': expected a sequence number/ })
  t.throws(() => parseAgentFrame('{"t":"bye"}'), { message: /unknown frame type/ })
  t.throws(() => parseAgentFrame(JSON.stringify({ t: 'hello', v: 2, application: 'a', scopedInstancePath: '/x', token: 't', epoch: 'e' })), { instanceOf: UnsupportedMessageVersionError })
})

test('routing words hold no topic syntax, stay distinct, and long names are shortened under the AMQP limit', t => {
  const names = ['/VM 1', '/VM.1', '/VM*1', '/VM#1', '/VM%201', '/VM 1/Tomcat', 'é/ü', '/a.b', '/a/b']
  const words = names.map(routingWord)
  for (const word of words) t.regex(word, /^[A-Za-z0-9_%~-]+$/)
  t.is(new Set(words).size, names.length)
  t.is(agentRoutingKey('/VM.1').split('.').length, 2)
  const long = `/${'x'.repeat(500)}`
  const queue = agentQueueName('meshconf', 'a'.repeat(300), long)
  t.true(Buffer.byteLength(queue) <= 255, `${queue.length}`)
  t.not(routingWord(long), routingWord(`${long}y`))
})
