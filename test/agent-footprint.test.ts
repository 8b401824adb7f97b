// What keeps ICU's data out of an agent's memory (docs/tuning.md): localeCompare without locales compares code units
// (the agent's polyfill; with locales or options it still asks ICU), and isoTime formats times without toISOString.
import '../agent/polyfill.js'
import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { isoTime } from '../common/clock.js'

test('localeCompare without locales orders by code unit, consistently', t => {
  t.is('a'.localeCompare('b'), -1)
  t.is('b'.localeCompare('a'), 1)
  t.is('same'.localeCompare('same'), 0)
  // ICU's root collation puts 'a' before 'B'; code units put 'B' (0x42) first.
  t.is('B'.localeCompare('a'), -1)
  t.is(''.localeCompare('x'), -1)
  const addresses = ['/ip4/127.0.0.1/tcp/4002', '/ip6/::1/tcp/4001', '/ip4/10.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4001']
    .map(a => multiaddr(a).toString())
  const sorted = [...addresses].sort((a, b) => a.localeCompare(b))
  t.deepEqual(sorted, [...addresses].sort())
  t.deepEqual([...addresses].reverse().sort((a, b) => a.localeCompare(b)), sorted)
})

test('localeCompare with locales or options still compares with ICU', t => {
  t.is('a'.localeCompare('B', 'en'), -1)
  t.is('a'.localeCompare('A', undefined, { sensitivity: 'base' }), 0)
  t.is('\u00e4'.localeCompare('z', 'de'), -1)
  t.is('\u00e4'.localeCompare('z', 'sv'), 1)
})

test('isoTime is toISOString, for every kind of time, and throws as it does on an invalid one', t => {
  const times = [0, 1, 999, 1000, 86_399_999, Date.UTC(2024, 1, 29, 23, 59, 59, 7), Date.UTC(1999, 11, 31, 9, 5, 3, 40), Date.now(),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), -1, -62_198_755_200_000, Date.UTC(10000, 0, 1), -8.64e15, 8.64e15, 1.5]
  for (const ms of times) t.is(isoTime(ms), new Date(ms).toISOString(), `time ${ms}`)
  t.throws(() => isoTime(Number.NaN), { instanceOf: RangeError })
  t.throws(() => isoTime(8.64e15 + 1), { instanceOf: RangeError })
})
