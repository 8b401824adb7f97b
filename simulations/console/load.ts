// What the web console costs the DM (issue 19): a DM process with a 100-instance application (50 machines, each with
// an App; nothing deployed), and its REST latency and CPU measured without browsers, then with 3 headless chromiums
// (Debian's, through playwright-core) on the application's page. In each phase the script adds one instance a second
// (an event every browser follows: each re-reads the application) and times a REST read every REQUEST_INTERVAL_MS.
// Not a test: it prints figures. Usage (after npm run build):
//   node dist/simulations/console/load.js [--json] [--seconds 30] [--browsers 3]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium, type BrowserContext } from 'playwright-core'
import { freePort } from '../../common/net.js'
import { errorMessage } from '../../protocol/errors.js'
import { cpuTimeMs, percentile, round2 } from '../bench/stats.js'

/** Debian's chromium (scripts/test-setup.sh installs it). */
const CHROMIUM = '/usr/bin/chromium'
/** Machines of the application; each carries an App: 100 instances. */
const MACHINES = 50
/** How often the script reads the application through REST while measuring, in ms. */
const REQUEST_INTERVAL_MS = 200
/** How often an instance is added (an event for every browser), in ms. */
const EVENT_INTERVAL_MS = 1000
const DEFAULT_SECONDS = 30
const DEFAULT_BROWSERS = 3
/** How long the DM may take to answer /readyz after its start, in ms. */
const DM_START_TIMEOUT_MS = 60_000

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Phase { browsers: number, requests: number, p50_ms: number, p99_ms: number, max_ms: number, dm_cpu_pct: number, events: number }

function writeTemplate (folder: string): void {
  const file = (path: string, text: string): void => { mkdirSync(dirname(join(folder, path)), { recursive: true }); writeFileSync(join(folder, path), text) }
  file('descriptor/application.properties', 'name = Load\nversion = 1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n')
  file('graph/main.graph', 'VM {\n  installer: target;\n  children: App;\n}\nApp {\n  installer: logger;\n  exports: port = 8080;\n}\n')
  file('instances/main.instances', Array.from({ length: MACHINES }, (_, k) => `instance of VM {\n  name: vm${k + 1};\n  instance of App {\n    name: app;\n  }\n}\n`).join(''))
}

async function startDm (dataDir: string, home: string): Promise<{ child: ChildProcess, url: string, token: string }> {
  const port = await freePort()
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'meshconf.js'), 'dm', 'start', '--data-dir', dataDir, '--port', String(port),
    '--agents-port', String(await freePort()), '--target', 'in-process', '--log-level', 'warn'], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + DM_START_TIMEOUT_MS
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then(r => r.ok, () => false)
    if (ready) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the DM did not start at ${url} within ${DM_START_TIMEOUT_MS} ms`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return { child, url, token: readFileSync(join(dataDir, 'token'), 'utf8').trim() }
}

async function main (): Promise<number> {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, seconds: { type: 'string' }, browsers: { type: 'string' } } })
  const seconds = Number(values.seconds ?? DEFAULT_SECONDS)
  const browserCount = Number(values.browsers ?? DEFAULT_BROWSERS)
  if (!(seconds > 0) || !Number.isInteger(browserCount) || browserCount < 1) {
    console.error('usage: node dist/simulations/console/load.js [--json] [--seconds N > 0] [--browsers N >= 1]')
    return 2
  }
  const log = (line: string): void => { process.stderr.write(`[console-load] ${line}\n`) }
  const work = mkdtempSync(join(tmpdir(), 'meshconf-console-load-'))
  let dm: Awaited<ReturnType<typeof startDm>> | undefined
  const contexts: BrowserContext[] = []
  try {
    writeTemplate(join(work, 'template'))
    dm = await startDm(join(work, 'data'), work)
    const { url, token } = dm
    const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const response = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
      if (response.status >= 400) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`)
      return await response.json()
    }
    await call('POST', '/api/templates', { path: join(work, 'template') })
    await call('POST', '/api/applications', { name: 'load', template: { name: 'Load', version: '1.0' } })
    let extra = 0
    const phase = async (browsers: number): Promise<Phase> => {
      const latencies: number[] = []
      let events = 0
      const end = Date.now() + seconds * 1000
      const cpuBefore = await cpuTimeMs(dm?.child.pid ?? 0)
      const began = performance.now()
      const reads = (async () => {
        while (Date.now() < end) {
          const t0 = performance.now()
          await call('GET', '/api/applications/load/topology')
          latencies.push(performance.now() - t0)
          await new Promise(resolve => setTimeout(resolve, REQUEST_INTERVAL_MS))
        }
      })()
      const writes = (async () => {
        while (Date.now() < end) {
          await call('POST', '/api/applications/load/instances', { name: `extra${++extra}`, component: 'VM' })
          events++
          await new Promise(resolve => setTimeout(resolve, EVENT_INTERVAL_MS))
        }
      })()
      await Promise.all([reads, writes])
      const dmCpuPct = 100 * (await cpuTimeMs(dm?.child.pid ?? 0) - cpuBefore) / (performance.now() - began)
      return { browsers, requests: latencies.length, p50_ms: round2(percentile(latencies, 50)), p99_ms: round2(percentile(latencies, 99)), max_ms: round2(Math.max(...latencies)), dm_cpu_pct: round2(dmCpuPct), events }
    }
    log(`DM at ${url}, application "load" with ${MACHINES * 2} instances; ${seconds} s without browsers`)
    const without = await phase(0)
    for (let k = 0; k < browserCount; k++) {
      const context = await chromium.launchPersistentContext(join(work, `profile-${k}`), {
        executablePath: CHROMIUM, headless: true, chromiumSandbox: false, viewport: { width: 1280, height: 900 }
      })
      contexts.push(context)
      const page = context.pages()[0] ?? await context.newPage()
      await page.goto(url)
      await page.getByLabel('DM token').fill(token)
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.getByRole('navigation', { name: 'Pages' }).waitFor()
      await page.goto(`${url}/#/app/load`)
      await page.locator('.tree li[data-path="/vm50/app"]').waitFor({ timeout: 60_000 })
    }
    log(`${browserCount} browsers on the application's page; ${seconds} s with them`)
    const withBrowsers = await phase(browserCount)
    const report = { instances: MACHINES * 2 + extra, without, with: withBrowsers, cpu_added_pct: round2(withBrowsers.dm_cpu_pct - without.dm_cpu_pct) }
    if (values.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    else {
      for (const p of [without, withBrowsers]) {
        process.stdout.write(`${p.browsers} browser(s): GET topology p50 ${p.p50_ms} ms, p99 ${p.p99_ms} ms, max ${p.max_ms} ms (${p.requests} requests); DM CPU ${p.dm_cpu_pct} % of a core; ${p.events} events\n`)
      }
    }
    return 0
  } catch (err) {
    console.error(`console load failed: ${errorMessage(err)}`)
    return 1
  } finally {
    for (const context of contexts) await context.close().catch(() => {})
    if (dm !== undefined) {
      dm.child.kill('SIGTERM')
      await new Promise(resolve => dm?.child.once('exit', resolve))
    }
    rmSync(work, { recursive: true, force: true })
  }
}

process.exitCode = await main()
