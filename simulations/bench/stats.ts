// Percentiles and process resource samples for the benchmarks.
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'

/** A sample set that cannot be summarised (empty, or holding a value that is not a finite number). */
export class InvalidSamplesError extends Error {
  constructor (what: string) {
    super(`cannot compute a percentile: ${what}`)
    this.name = 'InvalidSamplesError'
  }
}

/**
 * The nearest-rank percentile: the smallest sample such that at least `p` % of the samples are at or below it.
 * `p` in (0, 100]. Samples need not be sorted.
 */
export function percentile (samples: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new InvalidSamplesError(`percentile ${p} is outside (0, 100]`)
  if (samples.length === 0) throw new InvalidSamplesError('no samples')
  if (samples.some(s => !Number.isFinite(s))) throw new InvalidSamplesError('a sample is not a finite number')
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]
}

/** Rounds to 0.01 for printing (figures are in ms, MB or %). */
export function round2 (value: number): number {
  return Math.round(value * 100) / 100
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const CLOCK_TICKS_PER_S = 100

/** Resident set size of a process, in MB (1 MB = 2^20 bytes), from /proc/<pid>/status. */
export async function residentSetMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (line === null) throw new Error(`no VmRSS in /proc/${pid}/status (is ${pid} a zombie?)`)
  return Number(line[1]) / 1024
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export async function cpuTimeMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_S
}

/**
 * CPU time a process's threads have run so far, in ns: the sum of /proc/<pid>/task/<tid>/schedstat's first field (the
 * scheduler's run time, to the ns; /proc/<pid>/stat counts 10 ms ticks, coarser than one reconfiguration's CPU).
 * Threads that already exited are not counted (a Node process keeps its V8 and libuv threads). Falls back to
 * cpuTimeMs where the kernel keeps no schedstat.
 */
export async function cpuTimeNs (pid: number): Promise<number> {
  try {
    const tids = await readdir(`/proc/${pid}/task`)
    const runs = await Promise.all(tids.map(async tid => await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
      .then(s => Number(s.split(' ')[0])).catch(() => 0)))
    return runs.reduce((a, b) => a + b, 0)
  } catch {
    return (await cpuTimeMs(pid)) * 1e6
  }
}

/** CPU time the whole host has spent busy (every core, every process, kernel included) so far, in ms, from /proc/stat. */
export async function hostBusyCpuMs (): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n').find(l => l.startsWith('cpu '))
  if (line === undefined) throw new Error('no "cpu " line in /proc/stat')
  // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / CLOCK_TICKS_PER_S
}

/** CPU time (user + system) of this process's waited-for children so far, in ms, from /proc/self/stat. */
export async function childrenCpuMs (): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS_PER_S
}

/** Average CPU use of each process over `windowMs`, in % of one core. */
export async function cpuPercentOver (pids: readonly number[], windowMs: number): Promise<number[]> {
  const before = await Promise.all(pids.map(cpuTimeMs))
  const start = performance.now()
  await new Promise(resolve => setTimeout(resolve, windowMs))
  const after = await Promise.all(pids.map(cpuTimeMs))
  const elapsed = performance.now() - start
  return pids.map((_, i) => ((after[i] - before[i]) / elapsed) * 100)
}

/**
 * What untilQuiet saw: whether the processes went quiet, after how long (ms), and their last CPU (% of a core: summed,
 * and of the busiest one).
 */
export interface Quiet { quiet: boolean, waitedMs: number, totalCpuPct: number, busiestCpuPct: number }

/** Bounds of untilQuiet, in % of one core. */
export interface QuietBounds {
  /** The processes' CPU summed. */
  totalBelowPct: number
  /**
   * Each process's CPU: a saturated exporter among 100 idle agents is 1 % of their sum, which a sum alone never sees;
   * default: no bound.
   */
  eachBelowPct?: number
}

/**
 * Measures the processes' CPU over successive windows of `windowMs` until it falls below the bounds, or `maxMs` has
 * passed.
 */
export async function untilQuiet (pids: readonly number[], bounds: QuietBounds, windowMs: number, maxMs: number): Promise<Quiet> {
  const start = performance.now()
  let totalCpuPct = Infinity
  let busiestCpuPct = Infinity
  const isQuiet = (): boolean => totalCpuPct < bounds.totalBelowPct && busiestCpuPct < (bounds.eachBelowPct ?? Infinity)
  while (performance.now() - start < maxMs) {
    const each = await cpuPercentOver(pids, windowMs)
    totalCpuPct = each.reduce((a, b) => a + b, 0)
    busiestCpuPct = Math.max(...each)
    if (isQuiet()) break
  }
  return { quiet: isQuiet(), waitedMs: Math.round(performance.now() - start), totalCpuPct, busiestCpuPct }
}

export function mean (values: readonly number[]): number {
  if (values.length === 0) throw new InvalidSamplesError('no samples')
  return values.reduce((a, b) => a + b, 0) / values.length
}

/** Bytes and TCP data segments of the established TCP sockets of some processes, summed (from `ss -tinp`). */
export interface SocketTraffic {
  bytesSent: number
  bytesReceived: number
  dataSegmentsOut: number
  dataSegmentsIn: number
}

/**
 * Sums the TCP counters of every established socket held by one of `pids` (in this network namespace).
 * Sockets closed meanwhile drop out of the sum, so take two samples around a quiet period with stable connections.
 */
export async function socketTraffic (pids: readonly number[]): Promise<SocketTraffic> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile('ss', ['-tinpH', 'state', 'established'], { maxBuffer: 64 * 2 ** 20 }, (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
  })
  return sumSocketTraffic(output, new Set(pids))
}

/** Parses `ss -tinpH` output: a socket line naming its processes, then an indented line of counters. */
export function sumSocketTraffic (output: string, pids: ReadonlySet<number>): SocketTraffic {
  const total: SocketTraffic = { bytesSent: 0, bytesReceived: 0, dataSegmentsOut: 0, dataSegmentsIn: 0 }
  const counter = (line: string, name: string): number => Number(new RegExp(`\\b${name}:(\\d+)`).exec(line)?.[1] ?? 0)
  let owned = false
  for (const line of output.split('\n')) {
    if (!/^\s/.test(line)) {
      owned = [...line.matchAll(/pid=(\d+)/g)].some(m => pids.has(Number(m[1])))
      continue
    }
    if (!owned) continue
    total.bytesSent += counter(line, 'bytes_sent')
    total.bytesReceived += counter(line, 'bytes_received')
    total.dataSegmentsOut += counter(line, 'data_segs_out')
    total.dataSegmentsIn += counter(line, 'data_segs_in')
    owned = false
  }
  return total
}

/** One stretch of a run: its wall time, the CPU of the processes watched and of the benchmark itself, in ms. */
export interface CpuStretch {
  name: string
  wallMs: number
  agentsCpuMs: number
  benchCpuMs: number
  /** agentsCpuMs by process. */
  byPid: ReadonlyMap<number, number>
}

/**
 * Splits a run into named stretches and tells the CPU each took (user + system, load-independent): the processes
 * watched (a process that exited meanwhile counts with its CPU at the last mark) and this process.
 */
export class CpuMeter {
  readonly stretches: CpuStretch[] = []
  private readonly pids = new Set<number>()
  private wallAt = performance.now()
  private benchAt = benchCpuMs()
  private agentsAt = new Map<number, number>()

  /** Counts this process's CPU from now on (from its start when it has just been forked). */
  watch (pid: number): void {
    this.pids.add(pid)
  }

  /** The CPU of the watched processes and of this one since the meter was made, in ms. */
  get totalCpuMs (): number {
    return this.stretches.reduce((sum, s) => sum + s.agentsCpuMs + s.benchCpuMs, 0)
  }

  /** Closes the stretch since the last mark (or the start) as `name`. */
  async mark (name: string): Promise<CpuStretch> {
    const now = new Map<number, number>()
    await Promise.all([...this.pids].map(async pid => { now.set(pid, await cpuTimeMs(pid).catch(() => this.agentsAt.get(pid) ?? 0)) }))
    let agentsCpuMs = 0
    const byPid = new Map<number, number>()
    for (const [pid, ms] of now) {
      byPid.set(pid, ms - (this.agentsAt.get(pid) ?? 0))
      agentsCpuMs += ms - (this.agentsAt.get(pid) ?? 0)
    }
    const wall = performance.now()
    const bench = benchCpuMs()
    const stretch = { name, wallMs: Math.round(wall - this.wallAt), agentsCpuMs: Math.round(agentsCpuMs), benchCpuMs: Math.round(bench - this.benchAt), byPid }
    this.stretches.push(stretch)
    this.wallAt = wall
    this.benchAt = bench
    this.agentsAt = now
    return stretch
  }
}

function benchCpuMs (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
