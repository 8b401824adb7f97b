// The DM's deployment benchmark: wall time of deploy-and-start-all for 1 machine and for 100 machines, with the
// local target (one agent process per machine, compiled agent) and no-op recipes, from the request to the moment
// every instance is DEPLOYED_STARTED. Goal: 100 machines take less than 3 times as long as 1 (machines are created
// in parallel). Usage: node dist/simulations/bench/deploy.js [--json] [--machines 100] [--runs 1]
// Progress goes to stderr; `--json` prints { one_machine_ms, hundred_machines_ms, ratio, ... } on stdout.
import '../../agent/polyfill.js'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { startDmService, type DmService } from '../../manager/commands/dm.js'
import type { DmEvent } from '../../manager/dm.js'

/** Longest wait for one deployment, in milliseconds. */
const DEPLOY_WAIT_MS = 300_000
/** Longest wait for the machines of a run to be terminated, in milliseconds. */
const UNDEPLOY_WAIT_MS = 120_000

const quiet = { info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`DM: ${m}\n`) } }

/** A template of `machines` VMs, each holding one no-op Service (script installer, scripts that exit 0). */
function writeTemplate (root: string, machines: number): void {
  const instances: string[] = []
  for (let i = 1; i <= machines; i++) instances.push(`instance of VM {\n  name: vm${i};\n  instance of Service {\n    name: service;\n  }\n}\n`)
  const files: Record<string, string> = {
    'descriptor/application.properties': `name = Bench${machines}\nversion = 1.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = all.instances\n`,
    'graph/main.graph': 'VM {\n  installer: target;\n  children: Service;\n}\nService {\n  installer: script;\n  exports: ip;\n}\n',
    'graph/VM/target.properties': 'id = bench-local\nhandler = local\nname = agent processes\n',
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

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** Resolves when every instance of `application` has `status`, from the DM's events. */
function allInStatus (service: DmService, application: string, status: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const all: string[] = []
      const walk = (i: { status: string, children: any[] }): void => { all.push(i.status); i.children.forEach(walk) }
      service.dm.instances(application).forEach(walk)
      return all.every(s => s === status)
    }
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`not every instance reached ${status} in ${timeoutMs} ms`)) }, timeoutMs)
    const unsubscribe = service.dm.onEvent((event: DmEvent) => {
      if (event.type === 'instance' && event.application === application && event.status === status && check()) {
        clearTimeout(timer)
        unsubscribe()
        resolve()
      }
    })
  })
}

/** One deployment of `machines` machines on a fresh DM; returns the wall time in milliseconds. */
async function measure (machines: number): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), `meshconf-bench-deploy-${machines}-`))
  let service: DmService | undefined
  try {
    writeTemplate(join(root, 'template'), machines)
    service = await startDmService({ dataDirectory: join(root, 'dm'), port: 0, agentsPort: await freePort(), target: 'local', log: quiet })
    const { name } = await service.dm.loadTemplateFromPath(join(root, 'template'))
    service.dm.createApplication({ name: 'bench', template: { name, version: '1.0' } })
    const started = allInStatus(service, 'bench', 'DEPLOYED_STARTED', DEPLOY_WAIT_MS)
    const t0 = performance.now()
    service.dm.action('bench', { action: 'deploy-and-start-all' })
    await started
    const wallMs = performance.now() - t0
    const undeployed = allInStatus(service, 'bench', 'NOT_DEPLOYED', UNDEPLOY_WAIT_MS)
    service.dm.action('bench', { action: 'undeploy-all' })
    await undeployed
    return wallMs
  } finally {
    await service?.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, machines: { type: 'string' }, runs: { type: 'string' } } })
  const machines = Number(values.machines ?? '100')
  const runs = Number(values.runs ?? '1')
  if (!Number.isInteger(machines) || machines < 2 || !Number.isInteger(runs) || runs < 1) {
    throw new Error('usage: deploy.js [--json] [--machines N (>= 2, default 100)] [--runs R (default 1)]')
  }
  process.stderr.write(`load average ${loadavg().map(l => l.toFixed(1)).join(' ')}\n`)
  const one: number[] = []
  const many: number[] = []
  for (let run = 0; run < runs; run++) {
    one.push(await measure(1))
    process.stderr.write(`1 machine: ${Math.round(one[run])} ms\n`)
    many.push(await measure(machines))
    process.stderr.write(`${machines} machines: ${Math.round(many[run])} ms\n`)
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const report = {
    one_machine_ms: Math.round(median(one)),
    hundred_machines_ms: Math.round(median(many)),
    machines,
    ratio: Math.round(median(many) / median(one) * 100) / 100,
    runs
  }
  if (values.json === true) process.stdout.write(JSON.stringify(report) + '\n')
  else process.stderr.write(`deploy and start: 1 machine ${report.one_machine_ms} ms, ${machines} machines ${report.hundred_machines_ms} ms, ratio ${report.ratio} (goal < 3)\n`)
}

await main()
