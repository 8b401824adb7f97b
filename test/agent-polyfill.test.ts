// The agent's polyfills: localeCompare without locales compares code units (no ICU collator in an agent), with
// locales or options it still asks ICU.
import '../agent/polyfill.js'
import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'

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
