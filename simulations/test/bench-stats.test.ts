// Percentile math and the /proc readers the benchmarks rely on.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { childrenCpuMs, cpuPercentOver, cpuTimeMs, hostBusyCpuMs, InvalidSamplesError, mean, percentile, residentSetMb, socketTraffic, sumSocketTraffic, untilQuiet } from '../bench/stats.js'

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

test('socket counters are summed for the given processes only', t => {
  const output = [
    '0 0 127.0.0.1:1 127.0.0.1:2 users:(("node",pid=10,fd=3))',
    '\t cubic bytes_sent:100 bytes_acked:100 bytes_received:40 segs_out:9 data_segs_out:3 data_segs_in:2',
    '0 0 127.0.0.1:2 127.0.0.1:1 users:(("node",pid=11,fd=3))',
    '\t cubic bytes_sent:40 bytes_received:100 data_segs_out:2 data_segs_in:3',
    '0 0 127.0.0.1:5 127.0.0.1:6 users:(("beam",pid=99,fd=3))',
    '\t cubic bytes_sent:7000 bytes_received:7000 data_segs_out:70 data_segs_in:70'
  ].join('\n')
  t.deepEqual(sumSocketTraffic(output, new Set([10, 11])), { bytesSent: 140, bytesReceived: 140, dataSegmentsOut: 5, dataSegmentsIn: 5 })
  t.deepEqual(sumSocketTraffic(output, new Set([10])), { bytesSent: 100, bytesReceived: 40, dataSegmentsOut: 3, dataSegmentsIn: 2 })
})

test('the traffic of a real loopback connection is counted', async t => {
  const { createServer, connect } = await import('node:net')
  const server = createServer(socket => { socket.on('data', () => {}) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as { port: number }).port
  const client = connect(port, '127.0.0.1')
  t.teardown(() => { client.destroy() })
  await new Promise(resolve => client.once('connect', resolve))
  const before = await socketTraffic([process.pid])
  client.write(Buffer.alloc(5000, 1))
  await new Promise(resolve => setTimeout(resolve, 200))
  const after = await socketTraffic([process.pid])
  // Both ends are this process: 5000 bytes out of the client, the same 5000 into the server.
  t.true(after.bytesSent - before.bytesSent >= 5000)
  t.true(after.bytesReceived - before.bytesReceived >= 5000)
})

test('untilQuiet: an idle process is quiet at once; a spinning one never, even under a loose sum bound, and the wait ends at its bound', async t => {
  const idle = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
  const busy = spawn(process.execPath, ['-e', 'for (;;) {}'])
  t.teardown(() => { idle.kill('SIGKILL'); busy.kill('SIGKILL') })
  await new Promise(resolve => setTimeout(resolve, 500)) // past node's own start
  const calm = await untilQuiet([idle.pid as number], { totalBelowPct: 10, eachBelowPct: 5 }, 300, 5000)
  t.true(calm.quiet, `idle at ${calm.totalCpuPct} %`)
  t.true(calm.waitedMs < 1500, `waited ${calm.waitedMs} ms`)
  const spinning = await untilQuiet([idle.pid as number, busy.pid as number], { totalBelowPct: 10 }, 300, 1000)
  t.false(spinning.quiet)
  t.true(spinning.totalCpuPct > 30, `a spinning process uses a core: ${spinning.totalCpuPct} %`)
  t.true(spinning.waitedMs >= 1000 && spinning.waitedMs < 2000, `waited ${spinning.waitedMs} ms`)
  // A sum bound above what two processes can use (as 3 % x 100 agents on 2 cores): only the per-process bound holds.
  const hidden = await untilQuiet([idle.pid as number, busy.pid as number], { totalBelowPct: 300, eachBelowPct: 20 }, 300, 1000)
  t.false(hidden.quiet)
  t.true(hidden.busiestCpuPct > 30, `the spinning one: ${hidden.busiestCpuPct} %`)
})

test('the host\'s busy CPU counts a spinning child; the children\'s CPU counts a waited-for one', async t => {
  const host0 = await hostBusyCpuMs()
  const children0 = await childrenCpuMs()
  // Spins 400 ms of wall time, then exits; spawnSync waits for it, so the kernel adds its CPU to our children's.
  spawnSync(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end) {}'])
  const spent = await childrenCpuMs() - children0
  const busy = await hostBusyCpuMs() - host0
  t.true(spent >= 200, `the child used ${spent} ms of CPU`)
  t.true(busy >= spent * 0.8, `the host was busy ${busy} ms, of which the child ${spent} ms`)
})
