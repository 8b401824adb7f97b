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
  // An immediate queued after later(4) runs after the outbox's own (a timer could fire first on a busy host).
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(sent, [1, 2, 3, 4], 'the flush of 3 left no empty round behind, and 4 went after its step')
})

test('a message that repeats the one queued just before it is dropped; one that repeats an earlier one is not', async t => {
  const sent: string[] = []
  const outbox = createStepOutbox<string>(m => { sent.push(m) }, (previous, message) => previous === message)
  for (const m of ['vm started', 'vm started', 'app deployed', 'vm started', 'vm started']) outbox.later(m)
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(sent, ['vm started', 'app deployed', 'vm started'])
  // nothing is left to compare with once the step's messages left: the same report in the next step goes
  outbox.later('vm started')
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(sent, ['vm started', 'app deployed', 'vm started', 'vm started'])
})
