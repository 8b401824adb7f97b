// The per-instance action queue: FIFO per instance, readers of a parent together, writers alone, no deadlock.
import test from 'ava'
import { ActionQueue } from '../agent/lifecycle/queue.js'

function gate (): { open: () => void, opened: Promise<void> } {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { open, opened }
}

test('actions on one instance run one at a time, in the order they were queued', async t => {
  const queue = new ActionQueue()
  const order: string[] = []
  const first = gate()
  void queue.run([['/a', 'write']], async () => { order.push('1 begins'); await first.opened; order.push('1 ends') })
  void queue.run([['/a', 'write']], async () => { order.push('2') })
  void queue.run([['/a', 'write']], async () => { order.push('3') })
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(order, ['1 begins'])
  first.open()
  await queue.settled()
  t.deepEqual(order, ['1 begins', '1 ends', '2', '3'])
})

test('siblings reading their parent run together; an action on the parent waits for them, and they for it', async t => {
  const queue = new ActionQueue()
  const order: string[] = []
  const slow = gate()
  void queue.run([['/vm/a', 'write'], ['/vm', 'read']], async () => { order.push('a begins'); await slow.opened; order.push('a ends') })
  void queue.run([['/vm/b', 'write'], ['/vm', 'read']], async () => { order.push('b') })
  void queue.run([['/vm', 'write'], ['/vm/a', 'write'], ['/vm/b', 'write']], async () => { order.push('parent') })
  void queue.run([['/vm/b', 'write'], ['/vm', 'read']], async () => { order.push('b again') })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.deepEqual(order, ['a begins', 'b'], 'b does not wait for a\'s slow action')
  slow.open()
  await queue.settled()
  t.deepEqual(order, ['a begins', 'b', 'a ends', 'parent', 'b again'])
})

test('settled() also waits for actions queued by running actions', async t => {
  const queue = new ActionQueue()
  const order: string[] = []
  void queue.run([['/a', 'write']], async () => {
    order.push('first')
    void queue.run([['/a/child', 'write'], ['/a', 'read']], async () => { order.push('queued by first') })
  })
  await queue.settled()
  t.deepEqual(order, ['first', 'queued by first'])
})
