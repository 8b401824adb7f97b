// The DM's deployment benchmark: wall time of deploy-and-start-all for 1 machine and for 100 machines, with the
// local target (one agent process per machine, compiled agent; or --target in-process, or --target docker: one
// container per machine from the agent image, built when missing) and no-op recipes, from the request to the moment
// every instance is DEPLOYED_STARTED. Goal: 100 machines take less than 3 times as long as 1 (machines are created
// in parallel). Usage: node dist/simulations/bench/deploy.js [--json] [--machines 100] [--runs 1] [--target local]
// [--insecure | --compare-insecure] [--amqp URL] [--cpu-prof FILE]. Progress goes to stderr; `--json` prints { one_machine_ms,
// hundred_machines_ms, ratio, ... } on stdout. The DM's link to its agents is TLS (wss://) as `dm start` makes it;
// `--insecure` measures it in plaintext, and `--compare-insecure` measures both in the same run, alternately, and adds
// `insecure` (the same figures in plaintext) and `tls_cost` (TLS over plaintext) to the document. With `--amqp URL`
// the machines talk through that RabbitMQ, each with its own broker user (management API), and `--insecure` means
// one shared broker user instead. `--cpu-prof FILE` writes a V8 CPU profile (.cpuprofile) of the DM over the
// measured window of the many-machine run only (from the request until every instance started).
import '../../agent/polyfill.js'
import { spawnSync } from 'node:child_process'
import { Session } from 'node:inspector/promises'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { startDmService, type DmService, type DmServiceOptions } from '../../manager/commands/dm.js'
import { buildAgentImage } from '../../manager/docker/image.js'
import { privateDockerNetwork } from '../../manager/targets/docker.js'
import type { DmEvent } from '../../manager/dm.js'
import { childrenCpuMs, hostBusyCpuMs } from './stats.js'
import { freePort } from '../../common/net.js'
import { errorMessage } from '../../protocol/errors.js'

/** Longest wait for one deployment, in milliseconds. */
const DEPLOY_WAIT_MS = Number(process.env.BENCH_DEPLOY_WAIT_MS ?? 300_000)
/** Longest wait for the machines of a run to be terminated, in milliseconds. */
const UNDEPLOY_WAIT_MS = 120_000

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`DM: ${m}\n`) } }

/** A template of `machines` VMs, each holding one no-op Service (script installer, scripts that exit 0). */
function writeTemplate (root: string, machines: number): void {
  const instances: string[] = []
  for (let i = 1; i <= machines; i++) instances.push(`instance of VM {\n  name: vm${i};\n  instance of Service {\n    name: service;\n  }\n}\n`)
  const files: Record<string, string> = {
    'descriptor/application.properties': `name = Bench${machines}\nversion = 1.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = all.instances\n`,
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Service;\n}\nService {\n  installer: script;\n  exports: ip;\n}\n',
    'instances/all.instances': instances.join('')
  }
  for (const action of ['deploy', 'start', 'stop', 'undeploy']) files[`graph/Service/scripts/${action}.sh`] = '#!/bin/sh\nexit 0\n'
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    if (path.endsWith('.sh')) chmodSync(file, 0o755)
  }
}

/** Resolves when every instance of `application` has `status`, from the DM's events (the tree is read once). */
function allInStatus (service: DmService, application: string, status: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const current = new Map<string, string>()
    const walk = (i: { path: string, status: string, children: any[] }): void => { current.set(i.path, i.status); i.children.forEach(walk) }
    if (service.dm.listApplications().some(a => a.name === application)) service.dm.instances(application).forEach(walk)
    let matching = [...current.values()].filter(s => s === status).length
    if (matching === current.size) {
      resolve()
      return
    }
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`not every instance reached ${status} in ${timeoutMs} ms`)) }, timeoutMs)
    const unsubscribe = service.dm.onEvent((event: DmEvent) => {
      if (event.type !== 'instance' || event.application !== application) return
      const before = current.get(event.path)
      current.set(event.path, event.status)
      matching += (event.status === status ? 1 : 0) - (before === status ? 1 : 0)
      if (matching === current.size) {
        clearTimeout(timer)
        unsubscribe()
        resolve()
      }
    })
  })
}

/** Says which instances did not start, with the end of their agent's log (the machine folders go afterwards). */
function report (service: DmService, dataDirectory: string): void {
  for (const root of service.dm.instances('bench')) {
    const late = [root, ...root.children].filter(i => i.status !== 'DEPLOYED_STARTED')
    if (late.length === 0) continue
    process.stderr.write(`not started: ${late.map(i => `${i.path} ${i.status}`).join(', ')}\n`)
    const log = join(dataDirectory, 'machines', 'local', root.data['machine.id'] ?? root.data['machine.name'] ?? '-', 'agent.log')
    try {
      process.stderr.write(readFileSync(log, 'utf8').split('\n').filter(l => !l.includes('[mesh]')).slice(-8).map(l => `    ${l}`).join('\n') + '\n')
    } catch {
      process.stderr.write(`    (no agent log at ${log})\n`)
    }
  }
}

interface Measure {
  /** Until every instance was DEPLOYED_STARTED; null when some never were within the wait. */
  allMs: number | null
  /** Until 99 % of the instances were DEPLOYED_STARTED (what a stuck straggler does not hide). */
  p99Ms: number | null
  /** Instances not started at the end of the wait. */
  stuck: string[]
  /** CPU time the whole host spent busy from the request until every instance started (or the wait ended), in ms. */
  hostCpuMs: number
  /** Of which the DM's (this process), in ms. */
  dmCpuMs: number
  /** Of which the target's launcher's (the local target forks agents from a small process beside the DM), in ms. */
  launcherCpuMs: number
  /** From the first machine-creation request to the target (its `create`) to the last, in ms; null with fewer than 2. */
  createSpreadMs: number | null
}

/**
 * Times every machine-creation request the DM makes to its targets (the call a cloud would see as an API request),
 * by wrapping each target's `create` (the DM holds these same objects).
 */
function timeCreateRequests (service: DmService): number[] {
  const times: number[] = []
  for (const handler of service.targets) {
    const create = handler.create.bind(handler)
    handler.create = async params => {
      times.push(performance.now())
      return await create(params)
    }
  }
  return times
}

const monotonicSeconds = (ns: bigint): string => (Number(ns / 1000n) / 1e6).toFixed(6)

/** A V8 CPU profile of this process (the DM) from `start` until `stop`, written to `file`. */
async function profileInto (file: string): Promise<{ stop: () => Promise<void> }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(file, JSON.stringify(profile))
      session.disconnect()
    }
  }
}

/**
 * One deployment of `machines` machines on a fresh DM, wall times in milliseconds. `dockerImage`: the docker target's
 * image id; `cpuProfile`: a file to write the DM's CPU profile of the measured window to.
 */
async function measure (machines: number, target: string, dockerImage?: string, insecure = false, amqpUrl?: string, cpuProfile?: string): Promise<Measure> {
  const root = mkdtempSync(join(tmpdir(), `meshconf-bench-deploy-${machines}-`))
  let service: DmService | undefined
  try {
    writeTemplate(join(root, 'template'), machines)
    // a machine slow to boot on a loaded host must not flap to PROBLEM in the middle of the measure
    // containers: on a network of this run's own
    const docker: Partial<DmServiceOptions> = {}
    if (target === 'docker') {
      const { network, subnet } = await privateDockerNetwork('bench')
      Object.assign(docker, { dockerImage, dockerNetwork: network, dockerSubnet: subnet })
    }
    service = await startDmService({ dataDirectory: join(root, 'dm'), port: 0, agentsPort: await freePort(), target, log: quiet, machineSilenceMs: DEPLOY_WAIT_MS, ...docker,
      ...(amqpUrl !== undefined
        ? { amqpUrl, amqpDomain: `bench-trust-${process.pid}-${machines}`, brokerUsers: !insecure }
        : { insecure }) })
    const createRequests = timeCreateRequests(service)
    const { name } = await service.dm.loadTemplateFromPath(join(root, 'template'))
    service.dm.createApplication({ name: 'bench', template: { name, version: '1.0' } })
    const started = allInStatus(service, 'bench', 'DEPLOYED_STARTED', DEPLOY_WAIT_MS)
    const profiler = cpuProfile === undefined ? undefined : await profileInto(cpuProfile)
    const cpu0 = await hostBusyCpuMs()
    const dmCpu0 = process.cpuUsage()
    const launcherCpuMs = (): number => service?.targets.reduce((sum, t) => sum + (t.launcherCpuMs?.() ?? 0), 0) ?? 0
    const launcherCpu0 = launcherCpuMs()
    const t0 = performance.now()
    const monotonic0 = process.hrtime.bigint()
    const startedAt = new Map<string, number>()
    service.dm.onEvent(e => {
      if (e.type === 'instance' && e.status === 'DEPLOYED_STARTED' && !startedAt.has(e.path)) startedAt.set(e.path, performance.now() - t0)
    })
    if (process.env.BENCH_TIMELINE === '1') {
      service.dm.onEvent(e => { if (e.type === 'instance') process.stderr.write(`T ${Math.round(performance.now() - t0)} ${e.path} ${e.status}\n`) })
    }
    const progress = setInterval(() => {
      const counts: Record<string, number> = {}
      const walk = (i: { status: string, children: any[] }): void => { counts[i.status] = (counts[i.status] ?? 0) + 1; i.children.forEach(walk) }
      service?.dm.instances('bench').forEach(walk)
      process.stderr.write(`  ${Math.round((performance.now() - t0) / 1000)} s: ${JSON.stringify(counts)}\n`)
    }, 10_000)
    let allMs: number | null = null
    try {
      service.dm.action('bench', { action: 'deploy-and-start-all' })
      await started
      allMs = performance.now() - t0
    } catch {
      report(service, join(root, 'dm'))
    } finally {
      clearInterval(progress)
    }
    const hostCpuMs = await hostBusyCpuMs() - cpu0
    const dmCpu = process.cpuUsage(dmCpu0)
    const launcherCpu = launcherCpuMs() - launcherCpu0
    await profiler?.stop()
    // on CLOCK_MONOTONIC, as `perf record -k CLOCK_MONOTONIC` stamps its samples (perf report --time A,B)
    process.stderr.write(`${machines} machine(s): measured window ${monotonicSeconds(monotonic0)},${monotonicSeconds(process.hrtime.bigint())} (CLOCK_MONOTONIC, s)\n`)
    const dmCpuMs = (dmCpu.user + dmCpu.system) / 1000
    const times = [...startedAt.values()].sort((a, b) => a - b)
    const total = machines * 2
    const stuck: string[] = []
    const walk = (i: { path: string, status: string, children: any[] }): void => { if (i.status !== 'DEPLOYED_STARTED') stuck.push(i.path); i.children.forEach(walk) }
    service.dm.instances('bench').forEach(walk)
    const p99Index = Math.ceil(total * 0.99) - 1
    const createSpreadMs = createRequests.length < 2 ? null : Math.max(...createRequests) - Math.min(...createRequests)
    return { allMs, p99Ms: times.length > p99Index ? times[p99Index] : null, stuck, hostCpuMs, dmCpuMs, launcherCpuMs: launcherCpu, createSpreadMs }
  } finally {
    if (service !== undefined) {
      // machines of the local target outlive the DM: terminate them whatever happened
      const undeployed = allInStatus(service, 'bench', 'NOT_DEPLOYED', UNDEPLOY_WAIT_MS)
      service.dm.action('bench', { action: 'undeploy-all' })
      await undeployed.catch(err => process.stderr.write(`cleanup: ${errorMessage(err)}\n`))
      await service.stop()
    }
    rmSync(root, { recursive: true, force: true })
  }
}

/** CPU time of starting a bare Node.js process (`node -e 0`), in ms: the least each agent process costs. */
async function bareNodeStartCpuMs (samples = 5): Promise<number> {
  const before = await childrenCpuMs()
  for (let i = 0; i < samples; i++) spawnSync(process.execPath, ['-e', '0'])
  return (await childrenCpuMs() - before) / samples
}

/** The figures of `runs` runs of 1 and of `machines` machines (medians). */
function summarize (one: Measure[], many: Measure[], machines: number, target: string, runs: number) {
  // the median of the runs; a run with a stuck instance counts as infinitely slow
  const median = (xs: Array<number | null>): number | null => {
    const sorted = xs.map(x => x ?? Infinity).sort((a, b) => a - b)
    const m = sorted[Math.floor(sorted.length / 2)]
    return Number.isFinite(m) ? Math.round(m) : null
  }
  const ratio = (a: number | null, b: number | null): number | null => a !== null && b !== null && b > 0 ? Math.round(a / b * 100) / 100 : null
  // What limits the many-machine run on this host: the CPU its processes need, spread over every core, is the least
  // wall time any schedule could take (machines of a cloud bring their own CPU; local ones share these cores).
  const cores = availableParallelism()
  const manyCpuMs = median(many.map(m => m.hostCpuMs))
  const cpuFloorMs = manyCpuMs === null ? null : Math.round(manyCpuMs / cores)
  const oneMs = median(one.map(m => m.allMs))
  const manyMs = median(many.map(m => m.allMs))
  const manyP99 = median(many.map(m => m.p99Ms))
  return {
    one_machine_ms: oneMs,
    hundred_machines_ms: manyMs,
    hundred_machines_p99_ms: manyP99,
    machines,
    target,
    ratio: ratio(manyMs, oneMs),
    ratio_p99: ratio(manyP99, oneMs),
    stuck: many.flatMap(m => m.stuck),
    cores,
    host_cpu_s: manyCpuMs === null ? null : Math.round(manyCpuMs / 100) / 10,
    dm_cpu_s: Math.round((median(many.map(m => m.dmCpuMs)) ?? 0) / 100) / 10,
    // What a cloud would see (issue 20): the DM's own CPU per machine, how far apart its creation requests go out,
    // and how near the run came to the least time the host's cores allow.
    dm_cpu_ms_per_machine: ratio(median(many.map(m => m.dmCpuMs)), machines),
    // the local target's launcher (it forks the agents): the host's cost of starting machines, a cloud's API's
    launcher_cpu_ms_per_machine: ratio(median(many.map(m => m.launcherCpuMs)), machines),
    create_requests_spread_ms: median(many.map(m => m.createSpreadMs)),
    wall_over_cpu_floor: ratio(manyMs, cpuFloorMs),
    cpu_s_per_machine: manyCpuMs === null ? null : Math.round(manyCpuMs / machines) / 1000,
    cpu_floor_ms: cpuFloorMs,
    floor_ratio: ratio(cpuFloorMs, oneMs),
    runs
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean' }, machines: { type: 'string' }, runs: { type: 'string' }, target: { type: 'string' },
      insecure: { type: 'boolean' }, 'compare-insecure': { type: 'boolean' }, amqp: { type: 'string' }, 'cpu-prof': { type: 'string' }
    }
  })
  // local: one agent process per machine (the figure of the issue); in-process: agents inside the DM (its own cost)
  const target = values.target ?? 'local'
  if (!['local', 'in-process', 'docker'].includes(target)) throw new Error('--target is local (default), in-process or docker')
  // the image by its id: another build may move its tag meanwhile
  const dockerImage = target === 'docker' ? (await buildAgentImage({})).imageId : undefined
  const machines = Number(values.machines ?? '100')
  const runs = Number(values.runs ?? '1')
  const compare = values['compare-insecure'] === true
  if (!Number.isInteger(machines) || machines < 2 || !Number.isInteger(runs) || runs < 1 || (compare && values.insecure === true)) {
    throw new Error('usage: deploy.js [--json] [--machines N (>= 2, default 100)] [--runs R (default 1)] [--insecure | --compare-insecure]')
  }
  process.stderr.write(`load average ${loadavg().map(l => l.toFixed(1)).join(' ')}\n`)
  const modes = compare ? [false, true] : [values.insecure === true]
  const one = new Map<boolean, Measure[]>(modes.map(m => [m, []]))
  const many = new Map<boolean, Measure[]>(modes.map(m => [m, []]))
  // Alternately, so that the host's load (other processes) weighs on both alike.
  for (let run = 0; run < runs; run++) {
    for (const insecure of modes) {
      const label = values.amqp !== undefined ? (insecure ? 'shared broker user' : 'broker user per machine') : insecure ? 'plaintext' : 'TLS'
      const m1 = await measure(1, target, dockerImage, insecure, values.amqp)
      one.get(insecure)?.push(m1)
      process.stderr.write(`${label}, 1 machine: ${JSON.stringify(m1)}\n`)
      const profile = values['cpu-prof'] === undefined ? undefined : values['cpu-prof'].replace(/(\.cpuprofile)?$/, `-${run}-${insecure ? 'plain' : 'tls'}.cpuprofile`)
      const mn = await measure(machines, target, dockerImage, insecure, values.amqp, profile)
      many.get(insecure)?.push(mn)
      process.stderr.write(`${label}, ${machines} machines: ${JSON.stringify(mn)}\n`)
    }
  }
  const nodeStartCpuMs = Math.round(await bareNodeStartCpuMs())
  const main = summarize(one.get(modes[0]) ?? [], many.get(modes[0]) ?? [], machines, target, runs)
  const plain = compare ? summarize(one.get(true) ?? [], many.get(true) ?? [], machines, target, runs) : undefined
  const over = (a: number | null, b: number | null): number | null => a !== null && b !== null && b > 0 ? Math.round(a / b * 100) / 100 : null
  const report = {
    ...main,
    tls: !modes[0],
    node_start_cpu_ms: nodeStartCpuMs,
    load_average: loadavg().map(l => Math.round(l * 10) / 10),
    ...(plain !== undefined
      ? {
          insecure: plain,
          tls_cost: {
            one_machine: over(main.one_machine_ms, plain.one_machine_ms),
            hundred_machines: over(main.hundred_machines_ms, plain.hundred_machines_ms),
            hundred_machines_p99: over(main.hundred_machines_p99_ms, plain.hundred_machines_p99_ms),
            dm_cpu: over(main.dm_cpu_s, plain.dm_cpu_s),
            host_cpu: over(main.host_cpu_s, plain.host_cpu_s)
          }
        }
      : {})
  }
  const line = (r: ReturnType<typeof summarize>, label: string): string =>
    `${label}: deploy and start: 1 machine ${r.one_machine_ms} ms, ${machines} machines ${r.hundred_machines_ms ?? 'not all started'} ms (99 %: ${r.hundred_machines_p99_ms} ms), ratio ${r.ratio} (99 %: ${r.ratio_p99}; goal < 3)\n` +
    `${machines} machines used ${r.host_cpu_s} CPU-s (the DM ${r.dm_cpu_s}; ${r.cpu_s_per_machine} s per machine; a bare node process: ${nodeStartCpuMs} ms): on ${r.cores} cores no schedule takes less than ${r.cpu_floor_ms} ms (ratio ${r.floor_ratio})\n`
  if (values.json === true) process.stdout.write(JSON.stringify(report) + '\n')
  else process.stderr.write(line(main, modes[0] ? 'plaintext' : 'TLS') + (plain !== undefined ? line(plain, 'plaintext') : ''))
}

await main()
