// agent/outbox.ts: messages queued during a step leave after it, in order, once each.
import test from 'ava'
import { createStepOutbox } from '../agent/outbox.js'

test('queued messages leave after the step, in order; flush sends what waits at once, and nothing twice', async t => {
  const sent: number[] = []
  const outbox = createStepOutbox<number>(n => { sent.push(n) })
  outbox.later(1)
  outbox.later(2)
  t.deepEqual(sent, [], 'nothing during the step')
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(sent, [1, 2])
  outbox.later(3)
  outbox.flush()
  t.deepEqual(sent, [1, 2, 3])
  outbox.later(4)
  await new Promise(resolve => setTimeout(resolve, 10))
  t.deepEqual(sent, [1, 2, 3, 4], 'the flush of 3 left no empty round behind, and 4 went after its step')
})
