// What trust (issue 16) costs a reconfiguration, before and after in one run. Usage:
// `node dist/simulations/bench/compare-trust.js [--before <folder of a built checkout>] [--runs 3] [--calls 200000] [--json]`.
// 1. The ownership check an importer makes on every mesh message, in CPU time per call (process.cpuUsage), rounds
//    alternating: as shipped (agent/mesh/ownership.ts: the cached signature verdict, then the expiry and the
//    generation), the lookup of the cached verdict alone (what the mesh did before issue 16: one composite key, one
//    bounded-map read), and the signature verification a cache miss costs (Ed25519).
// 2. With --before: the mesh benchmark (mesh.js --agents 10 --changes 20, export change -> `update` at 9 importers)
//    of that build and of this one, alternating, `--runs` of each, with the load average beside each run. The other
//    build differs in everything merged between the two commits, not only in trust: read it as "no visible cost" or
//    not, and part 1 for the check itself. Needs root for part 2 (network namespaces).
import { execFile } from 'node:child_process'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { OwnershipVerifier } from '../../agent/mesh/ownership.js'
import { BoundedMap } from '../../agent/mesh/bounded.js'
import { MAX_OWNERSHIP_VERDICTS } from '../../agent/mesh/constants.js'
import { compositeKey } from '../../protocol/keys.js'
import { createDmSigningKey, signOwnership, verifyOwnership } from '../../protocol/mesh.js'
import { errorMessage } from '../../protocol/errors.js'
import { percentile, round2 } from './stats.js'

const run = promisify(execFile)
/** One mesh benchmark run may take this long, in ms, before it is given up (it stops by itself well before). */
const MESH_RUN_TIMEOUT_MS = 900_000
/** Rounds of the check measurement (each round measures the three forms once). */
const CHECK_ROUNDS = 5

function argument (name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function positive (name: string, fallback: number): number {
  const value = Number(argument(name) ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a positive integer`)
  return value
}

/** CPU time (user + system) of `calls` calls of `fn`, in ns per call. */
function cpuNsPerCall (calls: number, fn: () => unknown): number {
  const start = process.cpuUsage()
  for (let i = 0; i < calls; i++) fn()
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / calls
}

interface CheckCost { shippedNs: number[], cachedLookupNs: number[], signatureNs: number[] }

function measureChecks (calls: number): CheckCost {
  const dm = createDmSigningKey()
  const peerId = '12D3KooWExamplePeerIdOfTheExporterAgent0000000000000'
  const ownership = signOwnership(dm, { peerId, application: 'bench', scopedInstancePath: '/VM 1', generation: 1 })
  const expected = { senderPeerId: peerId, application: 'bench', instancePath: '/VM 1/MySQL', trustedDmKeys: [dm.publicKey] }
  const verifier = new OwnershipVerifier({ application: 'bench', trustedDmKeys: [dm.publicKey] })
  if (!verifier.check(peerId, ownership, expected.instancePath).ok) throw new Error('the benchmark\'s ownership does not verify')
  const verdicts = new BoundedMap<string, ReturnType<typeof verifyOwnership>>(MAX_OWNERSHIP_VERDICTS)
  const cacheKey = (): string => compositeKey(peerId, expected.instancePath, ownership.signature, ownership.dmPublicKey, ownership.scopedInstancePath,
    ownership.peerId, ownership.application) as unknown as string
  verdicts.set(cacheKey(), verifyOwnership(ownership, expected))
  const cost: CheckCost = { shippedNs: [], cachedLookupNs: [], signatureNs: [] }
  for (let round = 0; round < CHECK_ROUNDS; round++) {
    cost.shippedNs.push(cpuNsPerCall(calls, () => verifier.check(peerId, ownership, expected.instancePath)))
    cost.cachedLookupNs.push(cpuNsPerCall(calls, () => verdicts.get(cacheKey())))
    // a cache miss verifies the Ed25519 signature: far slower, so fewer calls
    cost.signatureNs.push(cpuNsPerCall(Math.max(1, Math.floor(calls / 100)), () => verifyOwnership(ownership, expected)))
  }
  return cost
}

interface MeshRun { build: 'before' | 'after', loadAverage: number[], p50Ms?: number, p99Ms?: number, allImportersP50Ms?: number, bytesPerChange?: number, error?: string }

async function meshRun (build: 'before' | 'after', folder: string): Promise<MeshRun> {
  const loadAverage = loadavg().map(round2)
  try {
    const { stdout } = await run(process.execPath, [join(folder, 'dist', 'simulations', 'bench', 'mesh.js'), '--agents', '10', '--changes', '20', '--json'],
      { cwd: folder, timeout: MESH_RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 })
    const [result] = JSON.parse(stdout) as Array<{ updateLatencyMs?: { p50: number, p99: number }, allImportersUpdatedMs?: { p50: number }, perChange?: { networkBytes: number }, errors: string[] }>
    if (result.errors.length > 0) return { build, loadAverage, error: result.errors.join('; ').slice(0, 500) }
    return { build, loadAverage, p50Ms: result.updateLatencyMs?.p50, p99Ms: result.updateLatencyMs?.p99, allImportersP50Ms: result.allImportersUpdatedMs?.p50, bytesPerChange: result.perChange?.networkBytes }
  } catch (err) {
    return { build, loadAverage, error: errorMessage(err).slice(0, 500) }
  }
}

const median = (values: Array<number | undefined>): number | undefined => {
  const present = values.filter((v): v is number => v !== undefined)
  return present.length === 0 ? undefined : round2(percentile(present, 50))
}

async function main (): Promise<void> {
  const calls = positive('--calls', 200_000)
  const runs = positive('--runs', 3)
  const before = argument('--before')
  const checks = measureChecks(calls)
  const checkSummary = {
    calls,
    shippedNsPerCall: median(checks.shippedNs),
    cachedLookupNsPerCall: median(checks.cachedLookupNs),
    signatureNsPerCall: median(checks.signatureNs),
    rounds: checks
  }
  const meshRuns: MeshRun[] = []
  if (before !== undefined) {
    const here = resolve(fileURLToPath(new URL('../../..', import.meta.url)))
    for (let i = 0; i < runs; i++) {
      meshRuns.push(await meshRun('before', resolve(before)))
      meshRuns.push(await meshRun('after', here))
    }
  }
  const side = (build: 'before' | 'after'): Record<string, number | undefined> => {
    const mine = meshRuns.filter(r => r.build === build && r.error === undefined)
    return { p50Ms: median(mine.map(r => r.p50Ms)), p99Ms: median(mine.map(r => r.p99Ms)), allImportersP50Ms: median(mine.map(r => r.allImportersP50Ms)), bytesPerChange: median(mine.map(r => r.bytesPerChange)) }
  }
  const report = { ownershipCheck: checkSummary, ...(before !== undefined ? { mesh: { before: side('before'), after: side('after'), runs: meshRuns } } : {}) }
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    return
  }
  process.stdout.write(`ownership check per mesh message, CPU per call (median of ${CHECK_ROUNDS} rounds of ${calls}): shipped ${checkSummary.shippedNsPerCall} ns, ` +
    `cached verdict alone (before issue 16) ${checkSummary.cachedLookupNsPerCall} ns, a cache miss (Ed25519 verify) ${checkSummary.signatureNsPerCall} ns\n`)
  if (report.mesh !== undefined) {
    for (const r of report.mesh.runs) {
      process.stdout.write(`  ${r.build}: ${r.error ?? `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, all importers p50 ${r.allImportersP50Ms} ms, ${r.bytesPerChange} B/change`} (load ${r.loadAverage.join(' ')})\n`)
    }
    process.stdout.write(`export change -> update, medians: before ${JSON.stringify(report.mesh.before)}, after ${JSON.stringify(report.mesh.after)}\n`)
  }
}

main().catch(err => {
  process.stderr.write(`compare-trust: ${errorMessage(err)}\n`)
  process.exitCode = 1
})
