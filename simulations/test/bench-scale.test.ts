// The scale mode's pure pieces (no agents run): the Serf model, the SVG chart writer, the handlers' log, the table,
// and how agents are packed into processes.
import test from 'ava'
import { hostLayout } from '../bench/chain.js'
import { parseHandlerLog } from '../bench/peers.js'
import { ChartError, escapeXml, lineChartSvg, linearTicks, logTicks } from '../bench/plot.js'
import { BudgetSpentError, createBudget } from '../bench/budget.js'
import { formatScaleTable, scaleCharts, serfModelMs, type ScalePoint } from '../bench/scale.js'

test('the Serf model gives the times of Serf\'s simulator (99.9 %, 200 ms rounds, fanout 3)', t => {
  // The simulator's curve at N = 10: first round at or above 99.9 % is the 7th (1.4 s); 2.0 s at 1 000, 2.2 s at 10 000.
  t.is(serfModelMs(10), 1400)
  t.is(serfModelMs(100), 1600)
  t.is(serfModelMs(1000), 2000)
  t.is(serfModelMs(10_000), 2200)
  // Loss slows it; a faster gossip interval speeds it.
  t.true(serfModelMs(1000, { loss: 0.2 }) > serfModelMs(1000))
  t.is(serfModelMs(1000, { intervalMs: 100 }), 1000)
  t.throws(() => serfModelMs(0), { instanceOf: RangeError, message: /whole number of nodes >= 1; got 0/ })
})

test('the chart writer: log x, ticks, escaped labels, unmeasured series listed as such', t => {
  t.deepEqual(logTicks(10, 1000), [10, 100, 1000])
  t.deepEqual(logTicks(15, 300), [10, 100, 1000])
  t.deepEqual(linearTicks(9), [0, 2, 4, 6, 8, 10])
  t.deepEqual(linearTicks(0), [0, 1])
  t.is(escapeXml('a < b & "c"'), 'a &lt; b &amp; &quot;c&quot;')
  const svg = lineChartSvg({
    title: 'Time <to> converge',
    xLabel: 'N',
    yLabel: 'ms',
    logY: true,
    series: [
      { name: 'mesh', points: [[10, 20], [100, 200], [1000, null]] },
      { name: 'etcd', points: [[10, null]] },
      { name: 'model', points: [[10, 1400], [1000, 2000]], dashed: true }
    ]
  })
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
  t.true(svg.trimEnd().endsWith('</svg>'))
  t.regex(svg, /Time &lt;to&gt; converge/)
  // Two measured points of the mesh and the model's two: four markers, two lines; the unmeasured series in the legend.
  t.is(svg.match(/<circle /g)?.length, 4)
  t.is(svg.match(/<polyline /g)?.length, 2)
  t.regex(svg, /stroke-dasharray="6 4" points=/)
  t.regex(svg, />etcd \(not measured\)</)
  t.throws(() => lineChartSvg({ title: 'empty', xLabel: '', yLabel: '', series: [] }), { instanceOf: ChartError, message: /"empty" has no points/ })
  t.throws(() => lineChartSvg({ title: 'zero', xLabel: '', yLabel: '', series: [{ name: 's', points: [[0, 1]] }] }), { instanceOf: ChartError, message: /N must be > 0/ })
})

test('the handlers\' log: time, who, what, payload; other lines skipped', t => {
  const runs = parseHandlerLog('1796581630.055463 w1 put e0-17\n1796581630,5 serf3 member-failed serf9 127.0.0.1 \nnot a line\n')
  t.is(runs.length, 2)
  t.deepEqual(runs[0], { atMs: 1796581630055.463, who: 'w1', what: 'put', payload: 'e0-17' })
  t.like(runs[1], { who: 'serf3', what: 'member-failed', payload: 'serf9 127.0.0.1' })
  t.is(runs[1].atMs, 1796581630500)
})

test('packing: MySQL and the Tomcats alone, the Apaches by 50', t => {
  const layout = hostLayout(1000, 50)
  t.deepEqual(layout.slice(0, 3), [[0], [1], [2]])
  t.is(layout.length, 3 + 20)
  t.deepEqual(layout.flat(), Array.from({ length: 1000 }, (_, i) => i))
  t.true(layout.slice(3).every(l => l.length <= 50))
  t.deepEqual(hostLayout(5, 1), [[0], [1], [2], [3], [4]])
})

test('the scale table and charts: a column per N, n/a where not measured', t => {
  const point = (agents: number, allMs: number | null): ScalePoint => ({
    agents,
    processes: 3 + Math.ceil((agents - 3) / 50),
    all_updated_ms: allMs,
    all_updated_max_ms: allMs,
    msgs_per_change_per_agent: 2,
    bytes_per_change_per_agent: 900,
    crash_detect_ms: 60,
    rss_mb_per_agent: 9.5,
    idle_cpu_pct_per_agent: 0.2,
    rss_mb_per_packed_agent: 8.1,
    idle_cpu_pct_per_packed_agent: 0.15,
    idle_cpu_pct_owners: 4.2,
    serf_model_ms: serfModelMs(agents),
    serf: agents === 10 ? { agents, all_ms: 180, failure_all_ms: 6400 } : null,
    etcd: null,
    phases: [],
    notes: allMs === null ? ['change 1: 900 of 997 importers updated within 10000 ms (slowest of those 4100 ms)'] : []
  })
  const points = [point(10, 21), point(1000, null)]
  const table = formatScaleTable(points)
  t.regex(table, /^figure\s+N = 10\s+N = 1000\s+goal$/m)
  t.regex(table, /every importer updated, p50\s+21 ms\s+n\/a\s+<= 1000 ms at 1000/)
  t.regex(table, /Serf member-failed at every agent\s+6400 ms\s+n\/a/)
  t.regex(table, /idle CPU per packed agent\s+0.15 %\s+0.15 %/)
  // Why a figure is n/a, under the table.
  t.regex(table, /\nN = 1000: change 1: 900 of 997 importers updated within 10000 ms/)
  t.notRegex(table, /\nN = 10:/)
  const charts = scaleCharts(points)
  t.deepEqual(Object.keys(charts).sort(), ['scale-bytes.svg', 'scale-convergence.svg', 'scale-crash.svg', 'scale-idle-cpu.svg', 'scale-memory.svg', 'scale-messages.svg'])
  const model = charts['scale-convergence.svg'].series.find(s => s.name.startsWith('Serf model'))
  t.deepEqual(model?.points.map(p => p[0]), [10, 30, 100, 300, 1000])
  for (const chart of Object.values(charts)) t.regex(lineChartSvg(chart), /<\/svg>/)
})

test('the run\'s budget cuts each wait to what is left, and names a phase that has no time left', t => {
  let nowMs = 0
  const budget = createBudget(60_000, () => nowMs)
  t.is(budget.cap(10_000, 'a change'), 10_000)
  nowMs = 55_000
  t.is(budget.leftMs(), 5000)
  t.is(budget.cap(10_000, 'a change'), 5000)
  t.throws(() => budget.cap(15_000, 'the kill -9', 6000), { instanceOf: BudgetSpentError, message: 'not run: the kill -9 needs at least 6000 ms, 5000 ms left of the run\'s budget' })
  nowMs = 70_000
  t.is(budget.leftMs(), 0)
  t.throws(() => budget.cap(1000, 'starting the agents'), { instanceOf: BudgetSpentError, message: /0 ms left/ })
  t.is(createBudget(Infinity).cap(120_000, 'anything'), 120_000)
})
