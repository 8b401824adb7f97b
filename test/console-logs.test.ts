// The tail the console's log route reads: the last lines of at most the file's last 64 KiB, a partial first line
// dropped, an empty file empty.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MAX_LOG_READ_BYTES, tailOf } from '../manager/rest/console-logs.js'
import { tempDir } from './dm-helpers.js'

test('tailOf reads the last lines of a log, at most its last 64 KiB', t => {
  const dir = tempDir('console-logs')
  t.teardown(() => { dir.remove() })
  const small = join(dir.path, 'small.log')
  writeFileSync(small, 'one\ntwo\nthree\n')
  t.deepEqual(tailOf(small, 2), ['two', 'three'])
  t.deepEqual(tailOf(small, 10), ['one', 'two', 'three'])
  const empty = join(dir.path, 'empty.log')
  writeFileSync(empty, '')
  t.deepEqual(tailOf(empty, 5), [])
  const big = join(dir.path, 'big.log')
  const lines = Array.from({ length: 20_000 }, (_, k) => `line ${k} ${'x'.repeat(20)}`)
  writeFileSync(big, lines.join('\n') + '\n')
  const all = tailOf(big, 100_000)
  t.is(all.at(-1), lines.at(-1))
  t.true(all.join('\n').length <= MAX_LOG_READ_BYTES, 'no more than the last 64 KiB')
  t.true(all.every(l => /^line \d+ x{20}$/.test(l)), 'the partial first line is dropped')
})
