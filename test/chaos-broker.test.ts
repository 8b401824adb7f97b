// The chaos runs' private RabbitMQ node: it serves AMQP on its own port, a restart drops every client connection,
// and it serves again afterwards. The shared broker on 5672 is never touched.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import amqp from 'amqplib'
import { createPrivateBroker } from '../fixtures/broker.js'

test('a private broker serves, drops its clients on restart, and serves again', async t => {
  const directory = await mkdtemp(join(tmpdir(), 'chaos-broker-'))
  const broker = await createPrivateBroker({ directory })
  t.teardown(async () => { await broker.stop(); await rm(directory, { recursive: true, force: true }) })
  t.not(broker.port, 5672)
  await broker.start()

  const first = await amqp.connect(broker.url, { noDelay: true })
  first.on('error', () => {})
  const closed = new Promise<boolean>(resolve => first.once('close', () => { resolve(true) }))
  const channel = await first.createChannel()
  await channel.assertQueue('chaos-broker-test', { durable: false })

  await broker.restart()
  t.true(await closed)

  const second = await amqp.connect(broker.url, { noDelay: true })
  t.teardown(async () => { await second.close().catch(() => {}) })
  const again = await second.createChannel()
  again.on('error', () => {})
  // The non-durable queue did not survive the restart, as with a real broker restart.
  await t.throwsAsync(again.checkQueue('chaos-broker-test'), { message: /NOT_FOUND/ })
})
