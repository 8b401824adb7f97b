// RabbitMQ specifics (127.0.0.1:5672): durable queues declared before the machine exists, clean-up, and recovery
// when the broker drops the connections (`rabbitmqctl close_connection`, which touches only this test's clients).
import test from 'ava'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import amqp from 'amqplib'
import { agentQueueName, agentsExchangeName } from '../protocol/broker-names.js'
import type { AgentToDmMessage, DmToAgentMessage } from '../protocol/messages.js'
import { createAmqpLink } from '../agent/link/amqp.js'
import { createAmqpMessaging } from '../manager/messaging/amqp.js'
import {
  AMQP_URL, captureLogger, deleteAmqpNames, heartbeat, removeInstance, uniqueApplication
} from './messaging-helpers.js'
import { waitFor } from './helpers/wait.js'

const run = promisify(execFile)

test('prepareAgent declares a durable queue that keeps messages until the agent exists; forget and delete remove it', async t => {
  const domain = `meshconf-test-${randomUUID().slice(0, 8)}`
  const application = uniqueApplication('durable')
  const dm = createAmqpMessaging({ url: AMQP_URL, domain, logger: captureLogger() })
  await dm.start()
  t.teardown(async () => {
    await dm.stop()
    await deleteAmqpNames(AMQP_URL, domain, [[application, '/VM 1'], [application, '/VM 2']])
  })
  const connection = await amqp.connect(AMQP_URL, { noDelay: true })
  t.teardown(async () => { await connection.close() })

  await dm.prepareAgent(application, '/VM 1')
  await dm.prepareAgent(application, '/VM 2')
  await dm.sendToAgent(application, '/VM 1', removeInstance('/VM 1/a'))
  await dm.sendToAgent(application, '/VM 1', removeInstance('/VM 1/b'))
  const queue1 = agentQueueName(domain, application, '/VM 1')
  const queue2 = agentQueueName(domain, application, '/VM 2')
  // checking a missing queue closes the channel (404): a fresh one after each such check
  const openChannel = async (): Promise<amqp.Channel> => {
    const c = await connection.createChannel()
    c.on('error', () => {})
    return c
  }
  let channel = await openChannel()
  t.is((await channel.checkQueue(queue1)).messageCount, 2)
  t.is((await channel.checkQueue(queue2)).messageCount, 0)

  // the agent connecting afterwards gets both, in order
  const link = createAmqpLink({ url: AMQP_URL, domain, application, scopedInstancePath: '/VM 1', logger: captureLogger() })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  await link.start()
  await waitFor('two messages', () => received.length === 2)
  await link.stop()
  t.deepEqual(received, [removeInstance('/VM 1/a'), removeInstance('/VM 1/b')])

  await dm.forgetAgent(application, '/VM 2')
  await t.throwsAsync(channel.checkQueue(queue2), { message: /NOT_FOUND/ })
  channel = await openChannel()
  await dm.deleteApplication(application)
  await t.throwsAsync(channel.checkQueue(queue1), { message: /NOT_FOUND/ })
  channel = await openChannel()
  await t.throwsAsync(channel.checkExchange(agentsExchangeName(domain, application)), { message: /NOT_FOUND/ })
})

/** The pids of the broker connections whose name contains one of `markers`. */
async function connectionsNamed (...markers: string[]): Promise<string[]> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties'])
  return stdout.split('\n').filter(line => markers.some(m => line.includes(m))).map(line => line.split('\t')[0])
}

test('DM and agent reconnect by themselves when the broker closes their connections, losing nothing', async t => {
  const domain = `meshconf-test-${randomUUID().slice(0, 8)}`
  const application = uniqueApplication(`reconnect ${randomUUID().slice(0, 8)}`)
  const dmLogger = captureLogger()
  const dm = createAmqpMessaging({ url: AMQP_URL, domain, logger: dmLogger })
  const notifications: AgentToDmMessage[] = []
  dm.onAgentMessage(msg => { notifications.push(msg) })
  await dm.start()
  const link = createAmqpLink({ url: AMQP_URL, domain, application, scopedInstancePath: '/VM 1', logger: captureLogger() })
  const received: DmToAgentMessage[] = []
  link.onMessage(msg => { received.push(msg) })
  await link.start()
  t.teardown(async () => {
    await link.stop()
    await dm.stop()
    await deleteAmqpNames(AMQP_URL, domain, [[application, '/VM 1']])
  })

  // The agent's connection is named after its application (unique here); the DM's after its domain.
  const pids = await connectionsNamed(application, domain)
  t.is(pids.length, 2)
  for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, 'meshconf test: connection dropped on purpose'])
  await waitFor('both sides to notice', () => !link.connected() || link.metrics().connections > 1)

  // sent while (possibly) disconnected: kept and delivered after the reconnection
  const sends = [
    link.send(heartbeat(application, '/VM 1')),
    dm.sendToAgent(application, '/VM 1', removeInstance('/VM 1/x'))
  ]
  await waitFor('both sides to reconnect', () => link.metrics().connections === 2 && dm.metrics().connections === 2)
  await Promise.all(sends)
  await waitFor('the heartbeat and the message', () => notifications.length === 1 && received.length === 1)
  t.deepEqual(notifications, [heartbeat(application, '/VM 1')])
  t.deepEqual(received, [removeInstance('/VM 1/x')])
  t.true(dmLogger.lines.some(line => line.includes('reconnected to RabbitMQ')))
})
