// The reliable session under both ends of a link (link/session.ts), played between two sessions by hand: what a
// lost connection loses, what a replay does, what a new process of the peer changes.
import test from 'ava'
import { ReliableSession } from '../link/session.js'

interface Frame { t: string, seq: number, body?: unknown }
const parse = (frame: string): Frame => JSON.parse(frame) as Frame

test('what is not acknowledged is sent again on the next connection, in order, and settles once acknowledged', t => {
  const sender = new ReliableSession<string>()
  const settled: string[] = []
  sender.enqueue('a', () => settled.push('a'))
  sender.enqueue('b', () => settled.push('b'))
  sender.enqueue('c', () => settled.push('c'))
  t.deepEqual(sender.unacknowledged().map(f => parse(f).body), ['a', 'b', 'c'])
  sender.acknowledge(parse(sender.unacknowledged()[1]).seq)
  t.deepEqual(settled, ['a', 'b'])
  t.is(sender.acknowledged, 2)
  t.deepEqual(sender.unacknowledged().map(f => parse(f).body), ['c'])
  t.is(sender.waiting, 1)
  // an old acknowledgement, arriving late, changes nothing
  sender.acknowledge(0)
  t.is(sender.acknowledged, 2)
})

test('a replay of what was handled is acknowledged, not handled again; a new process of the peer starts over', t => {
  const sender = new ReliableSession<string>()
  const receiver = new ReliableSession<string>()
  receiver.peerIs(sender.epoch)
  const first = parse(sender.enqueue('deploy'))
  const second = parse(sender.enqueue('start'))
  t.true(receiver.accept(first.seq))
  t.true(receiver.accept(second.seq))
  // the connection dropped before the acks arrived: the sender sends both again
  for (const frame of sender.unacknowledged()) t.false(receiver.accept(parse(frame).seq))
  t.deepEqual(parse(receiver.ackFrame(second.seq)), { t: 'ack', seq: 1 })
  // the same peer saying hello again keeps its numbering; a restarted peer numbers from 0 again
  receiver.peerIs(sender.epoch)
  t.false(receiver.accept(0))
  const restarted = new ReliableSession<string>()
  t.not(restarted.epoch, sender.epoch)
  receiver.peerIs(restarted.epoch)
  t.true(receiver.accept(parse(restarted.enqueue('deploy')).seq))
})

test('stopping drops what waits and settles its senders', t => {
  const session = new ReliableSession<number>('dm-epoch')
  t.is(session.epoch, 'dm-epoch')
  let settled = 0
  session.enqueue(1, () => settled++)
  session.enqueue(2, () => settled++)
  t.is(session.drop(), 2)
  t.is(settled, 2)
  t.is(session.waiting, 0)
  t.deepEqual(session.unacknowledged(), [])
})
