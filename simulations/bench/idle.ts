// An idle 10-agent mesh chain, as the full benchmark measures its cost: RSS per agent (VmRSS, and /proc/<pid>/smaps_rollup's
// split: file-backed pages, anonymous, private) and idle CPU per agent (utime + stime, children's included, from /proc
// over long windows), with what the agents do meanwhile: TCP data segments out and in per second (`ss`, the frames
// of pings, gossip and digests), and with `--strace S` the syscalls of one owner and one importer over S seconds after
// the windows (`strace -c -f`), with `--timers` the timer callbacks fired per second by where they were armed (the
// agents started with timer-count.js: `node --import ./dist/simulations/bench/timer-count.js
// dist/simulations/bench/idle.js --timers`; that window's CPU is not the agents' cost). CPU time is load-independent
// enough to compare two builds back to back on a busy host: `MESHCONF_BENCH_AGENT_SCRIPT=<other build>/dist/
// simulations/bench/agent-process.bundle.js` runs another build's agents under the same measure (agents.ts).
// Node flags given to this process reach the agents (inheritedNodeFlags), as does its environment: compare settings
// with `node --max-semi-space-size=1 dist/simulations/bench/idle.js --windows 3 --window-s 20`. `--hold S` keeps the
// chain up S seconds more after the windows (pids printed) for a profiler. `--from-up` starts the windows a second after
// every Apache is up, without waiting for the chain to be quiet (the full benchmark's window falls a few seconds after
// that on a quiet host, while digests and their gossip still run: `--from-up --windows 12 --window-s 10` is a
// timeline). Run at nice 19 on a shared host: the figures are CPU time, not wall time (in 10 ms ticks: windows of
// 30 s or more).
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startChain } from './chain.js'
import { BENCH_AGENTS, SETTLE_MAX_MS, SETTLE_MS, SETTLE_WINDOW_MS, SETTLED_AGENT_CPU_PCT, SETTLED_CPU_PCT } from './bench-constants.js'
import { mean, residentSetMb, round2, socketTraffic, untilQuiet } from './stats.js'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ). */
const CLOCK_TICKS_PER_S = 100
/** Syscalls and timer sites printed per agent. */
const TOP_LINES = 12

/** smaps_rollup's fields, in MB. */
async function memoryOf (pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]] = Number(m[2]) / 1024
  return out
}

/** CPU time of a process and of its waited-for children (utime, stime, cutime, cstime), in ms. */
async function cpuWithChildrenMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number)
  return (fields.reduce((a, b) => a + b, 0) * 1000) / CLOCK_TICKS_PER_S
}

/** Per-pid TCP data segments out and in (ss), so that each agent's frames are seen apart. */
async function segmentsOf (pids: readonly number[]): Promise<Array<{ out: number, in: number }>> {
  return await Promise.all(pids.map(async pid => {
    const t = await socketTraffic([pid])
    return { out: t.dataSegmentsOut, in: t.dataSegmentsIn }
  }))
}

/** `strace -c -f -p pid` for `seconds`: its summary table, the busiest syscalls first. */
async function syscallsOf (pid: number, seconds: number): Promise<string[]> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile('timeout', ['-s', 'INT', String(seconds), 'strace', '-c', '-f', '-p', String(pid)], { maxBuffer: 2 ** 20 },
      (err, _stdout, stderr) => { if (err !== null && stderr === '') reject(err); else resolve(stderr) })
  })
  return output.split('\n').filter(l => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l) || /total/.test(l))
}

/** The timer counts timer-count.js wrote for `pid` (site -> callbacks run), empty when it wrote none. */
async function timerCounts (dir: string, pid: number): Promise<Record<string, number>> {
  try {
    return JSON.parse(await readFile(join(dir, `${pid}.json`), 'utf8')) as Record<string, number>
  } catch {
    return {}
  }
}

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: String(BENCH_AGENTS) },
    windows: { type: 'string', default: '2' },
    'window-s': { type: 'string', default: '20' },
    'wait-s': { type: 'string', default: '8' },
    strace: { type: 'string', default: '0' },
    timers: { type: 'boolean', default: false },
    'from-up': { type: 'boolean', default: false },
    hold: { type: 'string', default: '0' }
  }
})
const timerDir = values.timers ? process.env.MESHCONF_TIMER_COUNT_DIR ?? '' : ''
if (values.timers && timerDir === '') throw new Error('--timers: start with MESHCONF_TIMER_COUNT_DIR=<dir> and --import <dist>/simulations/bench/timer-count.js')
const workDir = await mkdtemp(join(tmpdir(), 'meshconf-idle-'))
const chain = await startChain({ agents: Number(values.agents), transport: 'mesh', workDir, progress: line => process.stderr.write(`${line}\n`) })
try {
  await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
  const pids = chain.hosts.map(h => h.pid)
  if (!values['from-up']) {
    await untilQuiet(pids, { totalBelowPct: SETTLED_CPU_PCT * pids.length, eachBelowPct: SETTLED_AGENT_CPU_PCT }, SETTLE_WINDOW_MS, SETTLE_MAX_MS)
    await new Promise(resolve => setTimeout(resolve, Number(values['wait-s']) * 1000))
  }
  process.stderr.write(`pids ${pids.join(' ')} (MySQL, Tomcats, Apaches)\n`)
  const timersBefore = await Promise.all(pids.map(async pid => await timerCounts(timerDir, pid)))
  const timersStart = performance.now()
  for (let w = 0; w < Number(values.windows); w++) {
    const cpuBefore = await Promise.all(pids.map(cpuWithChildrenMs))
    const segmentsBefore = await segmentsOf(pids)
    const start = performance.now()
    await new Promise(resolve => setTimeout(resolve, Number(values['window-s']) * 1000))
    const cpuAfter = await Promise.all(pids.map(cpuWithChildrenMs))
    const elapsedS = (performance.now() - start) / 1000
    const segmentsAfter = await segmentsOf(pids)
    const cpuMs = pids.map((_, i) => cpuAfter[i] - cpuBefore[i])
    const cpu = cpuMs.map(ms => ms / elapsedS / 10)
    const rss = await Promise.all(pids.map(residentSetMb))
    const smaps = await Promise.all(pids.map(memoryOf))
    const field = (name: string): number => round2(mean(smaps.map(s => s[name] ?? 0)))
    const perS = (pick: (s: { out: number, in: number }) => number): number[] =>
      pids.map((_, i) => round2((pick(segmentsAfter[i]) - pick(segmentsBefore[i])) / elapsedS))
    process.stdout.write(JSON.stringify({
      window: w + 1,
      window_s: round2(elapsedS),
      idle_cpu_pct_per_agent: round2(mean(cpu) * 100) / 100,
      idle_cpu_pct_max: round2(Math.max(...cpu)),
      cpu_ms_each: cpuMs,
      segments_out_per_s_each: perS(s => s.out),
      segments_in_per_s_each: perS(s => s.in),
      rss_mb_per_agent: round2(mean(rss)),
      rss_mb_max: round2(Math.max(...rss)),
      file_mb: field('Rss') - field('Anonymous'),
      anon_mb: field('Anonymous'),
      pss_mb: field('Pss'),
      private_mb: round2(field('Private_Clean') + field('Private_Dirty'))
    }) + '\n')
  }
  if (values.timers) {
    // the files are written every few seconds: wait for one more write, then divide by the time since the first read
    await new Promise(resolve => setTimeout(resolve, 5500))
    const elapsedS = (performance.now() - timersStart) / 1000
    const after = await Promise.all(pids.map(async pid => await timerCounts(timerDir, pid)))
    pids.forEach((pid, i) => {
      const rates = Object.entries(after[i]).map(([site, n]) => [site, (n - (timersBefore[i][site] ?? 0)) / elapsedS] as const)
        .filter(([, r]) => r > 0).sort((a, b) => b[1] - a[1])
      const total = rates.reduce((a, [, r]) => a + r, 0)
      process.stdout.write(`timers of ${pid} (agent ${i}): ${total.toFixed(2)} callbacks/s\n`)
      for (const [site, r] of rates.slice(0, TOP_LINES)) process.stdout.write(`  ${r.toFixed(2)}/s ${site}\n`)
    })
  }
  const straceS = Number(values.strace)
  if (straceS > 0) {
    // an owner (the stable Tomcat) and an importer (the first Apache), one after the other
    for (const i of [1, 3]) {
      const lines = await syscallsOf(pids[i], straceS)
      process.stdout.write(`syscalls of ${pids[i]} (agent ${i}) over ${straceS} s:\n${lines.slice(0, TOP_LINES).join('\n')}\n${lines.at(-1) ?? ''}\n`)
    }
  }
  if (Number(values.hold) > 0) await new Promise(resolve => setTimeout(resolve, Number(values.hold) * 1000))
} finally {
  await chain.stop()
  await rm(workDir, { recursive: true, force: true })
}
