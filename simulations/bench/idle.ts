// An idle 10-agent mesh chain, as the full benchmark measures its cost: RSS per agent (VmRSS, and /proc/<pid>/smaps_rollup's
// split: file-backed pages, anonymous, private) and idle CPU per agent (utime + stime from /proc over long windows).
// Node flags given to this process reach the agents (inheritedNodeFlags), as does its environment: compare settings
// with `node --max-semi-space-size=1 dist/simulations/bench/idle.js --windows 3 --window-s 20`. `--hold S` keeps the
// chain up S seconds more after the windows (pids printed) for a profiler. Run at nice 19 on a shared host: the figures
// are CPU time, not wall time.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startChain } from './chain.js'
import { BENCH_AGENTS, SETTLE_MAX_MS, SETTLE_MS, SETTLE_WINDOW_MS, SETTLED_AGENT_CPU_PCT, SETTLED_CPU_PCT } from './bench-constants.js'
import { cpuPercentOver, mean, residentSetMb, round2, untilQuiet } from './stats.js'

/** smaps_rollup's fields, in MB. */
async function memoryOf (pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]] = Number(m[2]) / 1024
  return out
}

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: String(BENCH_AGENTS) },
    windows: { type: 'string', default: '2' },
    'window-s': { type: 'string', default: '20' },
    'wait-s': { type: 'string', default: '8' },
    hold: { type: 'string', default: '0' }
  }
})
const workDir = await mkdtemp(join(tmpdir(), 'meshconf-idle-'))
const chain = await startChain({ agents: Number(values.agents), transport: 'mesh', workDir, progress: line => process.stderr.write(`${line}\n`) })
try {
  await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
  const pids = chain.hosts.map(h => h.pid)
  await untilQuiet(pids, { totalBelowPct: SETTLED_CPU_PCT * pids.length, eachBelowPct: SETTLED_AGENT_CPU_PCT }, SETTLE_WINDOW_MS, SETTLE_MAX_MS)
  await new Promise(resolve => setTimeout(resolve, Number(values['wait-s']) * 1000))
  process.stderr.write(`pids ${pids.join(' ')}\n`)
  for (let w = 0; w < Number(values.windows); w++) {
    const cpu = await cpuPercentOver(pids, Number(values['window-s']) * 1000)
    const rss = await Promise.all(pids.map(residentSetMb))
    const smaps = await Promise.all(pids.map(memoryOf))
    const field = (name: string): number => round2(mean(smaps.map(s => s[name] ?? 0)))
    process.stdout.write(JSON.stringify({
      window: w + 1,
      idle_cpu_pct_per_agent: round2(mean(cpu) * 100) / 100,
      idle_cpu_pct_max: round2(Math.max(...cpu)),
      rss_mb_per_agent: round2(mean(rss)),
      rss_mb_max: round2(Math.max(...rss)),
      file_mb: field('Rss') - field('Anonymous'),
      anon_mb: field('Anonymous'),
      pss_mb: field('Pss'),
      private_mb: round2(field('Private_Clean') + field('Private_Dirty'))
    }) + '\n')
  }
  if (Number(values.hold) > 0) await new Promise(resolve => setTimeout(resolve, Number(values.hold) * 1000))
} finally {
  await chain.stop()
  await rm(workDir, { recursive: true, force: true })
}
