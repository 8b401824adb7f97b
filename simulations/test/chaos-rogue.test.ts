// The chaos runs' rogue agent: every message it forges with one machine's credential about another machine is one
// the DM's own checks refuse (signature of the claimed machine, then the sender against what the message is about),
// and the DM's refusal count is read from its /metrics text.
import test from 'ava'
import { parseAgentToDmMessage, parseDmToAgentMessage } from '../../protocol/messages.js'
import {
  agentRoutingKey, AGENT_SIGNATURE_HEADERS, DM_COMMAND_HEADERS, machineBrokerUser
} from '../../protocol/broker-names.js'
import { createDmSigningKey, verifyDmCommand } from '../../protocol/mesh.js'
import { MessageDispatcher } from '../../link/dispatch.js'
import { UnsignedCommandError } from '../../agent/link/websocket.js'
import { checkMessageSignature, issueMessageKey, memoryCredentialStore } from '../../manager/messaging/credentials.js'
import { senderMismatch } from '../../manager/messaging/sender.js'
import { REFUSED_COMMAND_LOG, rejectedFromMetrics, rogueAgentAttempts, rogueCommandAttempts } from '../chaos/rogue-agent.js'

const SECRET = 'dm-secret-for-the-test'

test('signed with a machine\'s message key, every forgery about another machine fails the DM\'s checks', t => {
  const credentials = memoryCredentialStore()
  const key1 = issueMessageKey(credentials, SECRET, 'shop', '/VM 1')
  issueMessageKey(credentials, SECRET, 'shop', '/VM 2')
  const attempts = rogueAgentAttempts({ application: 'shop', scopedInstancePath: '/VM 1', endpoint: { kind: 'amqp', url: 'amqp://agents:x@broker', domain: 'd', messageKey: key1 } },
    { scopedInstancePath: '/VM 2', instancePath: '/VM 2/Tomcat' })
  t.is(attempts.length, 5)
  const kinds = new Set<string>()
  for (const attempt of attempts) {
    const msg = parseAgentToDmMessage(JSON.parse(attempt.content.toString()))
    kinds.add(msg.kind)
    const path = attempt.headers[AGENT_SIGNATURE_HEADERS.path]
    const generation = attempt.headers[AGENT_SIGNATURE_HEADERS.generation]
    const signature = attempt.headers[AGENT_SIGNATURE_HEADERS.signature]
    // What the DM does (manager/messaging/amqp.ts, signatureProblem): an unsigned message, a bad signature, or a
    // good signature about another machine.
    const refusal = typeof path !== 'string' || typeof generation !== 'number' || typeof signature !== 'string'
      ? 'unsigned'
      : checkMessageSignature(credentials, SECRET, 'shop', path, generation, attempt.content, signature) ?? senderMismatch(msg, 'shop', path)
    t.truthy(refusal, attempt.name)
  }
  t.deepEqual([...kinds].sort(), ['heartbeat', 'instanceRemoved', 'machineDown'])
  // The forgery signed as itself is well signed: only the sender check stops it (the rogue's credential is valid).
  const own = attempts.find(a => a.name.startsWith('hello as /VM 2, /VM 1\'s own signature'))
  t.is(checkMessageSignature(credentials, SECRET, 'shop', '/VM 1', key1.generation, own?.content ?? Buffer.alloc(0), String(own?.headers[AGENT_SIGNATURE_HEADERS.signature])), undefined)
})

test('with a machine\'s own broker user, the forgeries carry its user id and are about the other machine', t => {
  const user = machineBrokerUser('d', 'shop', '/VM 1')
  const url = `amqp://${encodeURIComponent(user)}:pw@broker:5672/`
  const attempts = rogueAgentAttempts({ application: 'shop', scopedInstancePath: '/VM 1', endpoint: { kind: 'amqp', url, domain: 'd', ownUser: true } },
    { scopedInstancePath: '/VM 2', instancePath: '/VM 2/Tomcat' })
  t.is(attempts.length, 4)
  for (const attempt of attempts) {
    t.true(attempt.userId === undefined || attempt.userId === user, attempt.name)
    t.truthy(senderMismatch(parseAgentToDmMessage(JSON.parse(attempt.content.toString())), 'shop', '/VM 1'), attempt.name)
  }
  t.true(attempts.some(a => a.userId === undefined))
})

test('a rogue needs another machine and a credential of its own', t => {
  t.throws(() => rogueAgentAttempts({ application: 'shop', scopedInstancePath: '/VM 1', endpoint: { kind: 'amqp', url: 'amqp://b', domain: 'd' } },
    { scopedInstancePath: '/VM 2', instancePath: '/VM 2' }), { message: /no credential of its own/ })
  t.throws(() => rogueAgentAttempts({ application: 'shop', scopedInstancePath: '/VM 1', endpoint: { kind: 'amqp', url: 'amqp://b', domain: 'd', ownUser: true } },
    { scopedInstancePath: '/VM 1', instancePath: '/VM 1' }), { message: /another machine/ })
})

test('the DM\'s refusal count is read from its metrics text', t => {
  t.is(rejectedFromMetrics('# HELP meshconf_agent_messages_rejected x\n# TYPE meshconf_agent_messages_rejected gauge\nmeshconf_agent_messages_rejected 17\n'), 17)
  t.throws(() => rejectedFromMetrics('meshconf_agent_messages_total{direction="in"} 3\n'), { message: /no meshconf_agent_messages_rejected/ })
})

test('the forged commands to the victim are changeStates that no DM key verifies, and the victim\'s refusal log line is what the chaos counts', t => {
  const dm = createDmSigningKey()
  const commands = rogueCommandAttempts({ scopedInstancePath: '/VM 2', instancePath: '/VM 2/Tomcat' })
  t.is(commands.length, 2)
  for (const command of commands) {
    t.is(command.to, 'agent')
    t.is(command.routingKey, agentRoutingKey('/VM 2'))
    const body = parseDmToAgentMessage(JSON.parse(command.content.toString()))
    t.like(body, { kind: 'changeState', instancePath: '/VM 2/Tomcat', newState: 'NOT_DEPLOYED' })
    const seq = command.headers[DM_COMMAND_HEADERS.seq]
    const signature = command.headers[DM_COMMAND_HEADERS.signature]
    t.false(verifyDmCommand(dm.publicKey, 'shop', '/VM 2', typeof seq === 'number' ? seq : 0, body, typeof signature === 'string' ? signature : undefined), command.name)
  }
  // what the victim's agent logs for each (agent/link/amqp.ts rejects through its dispatcher)
  const lines: string[] = []
  const log = (line: string): void => { lines.push(line) }
  const dispatcher = new MessageDispatcher(parseDmToAgentMessage, { debug: log, info: log, warn: log, error: log }, 'agent /VM 2 of shop')
  dispatcher.reject(new UnsignedCommandError(0, true), 'the DM (signature)')
  dispatcher.reject(new UnsignedCommandError(1, false), 'the DM (signature)')
  t.is([...lines.join('\n').matchAll(REFUSED_COMMAND_LOG)].length, 2)
})
