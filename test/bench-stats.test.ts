// Percentile math and the /proc readers the benchmarks rely on.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpuPercentOver, cpuTimeMs, InvalidSamplesError, mean, percentile, residentSetMb } from '../simulations/bench/stats.js'

test('nearest-rank percentiles of unsorted samples', t => {
  const samples = [15, 20, 35, 40, 50]
  t.is(percentile(samples, 5), 15)
  t.is(percentile(samples, 30), 20)
  t.is(percentile(samples, 40), 20)
  t.is(percentile(samples, 50), 35)
  t.is(percentile(samples, 100), 50)
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i) // 100..1, reversed on purpose
  t.is(percentile(hundred, 50), 50)
  t.is(percentile(hundred, 99), 99)
  t.is(percentile([7], 99), 7)
  t.is(mean([1, 2, 6]), 3)
})

test('percentiles refuse empty or broken samples and out-of-range ranks', t => {
  t.throws(() => percentile([], 50), { instanceOf: InvalidSamplesError, message: /no samples/ })
  t.throws(() => percentile([1, Number.NaN], 50), { instanceOf: InvalidSamplesError })
  t.throws(() => percentile([1], 0), { instanceOf: InvalidSamplesError, message: /outside/ })
  t.throws(() => percentile([1], 101), { instanceOf: InvalidSamplesError })
})

test('a busy child uses CPU and memory; a sleeping one uses almost no CPU', async t => {
  const busy = spawn(process.execPath, ['-e', 'const a = Buffer.alloc(64 * 2 ** 20, 1); for (;;) a[0]++'], { stdio: 'ignore' })
  const idle = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => { busy.kill('SIGKILL'); idle.kill('SIGKILL') })
  await Promise.all([once(busy, 'spawn'), once(idle, 'spawn')])
  await new Promise(resolve => setTimeout(resolve, 500))
  const [busyPct, idlePct] = await cpuPercentOver([busy.pid!, idle.pid!], 1000)
  t.true(busyPct > 5, `busy child used ${busyPct} % of a core`)
  t.true(idlePct < busyPct / 10, `sleeping child used ${idlePct} %`)
  t.true(await residentSetMb(busy.pid!) > 64)
  t.true(await cpuTimeMs(busy.pid!) > 0)
})
