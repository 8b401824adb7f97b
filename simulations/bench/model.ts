// Model benchmark: parse and validate a generated template of 1 000 components and 10 000 instances.
// Run compiled: `npx tsc -p . && node dist/simulations/bench/model.js`. Prints the time and the peak RSS.
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { allInstances, hasSevere, loadApplicationTemplateFromFiles } from '../../protocol/model/index.js'

const COMPONENTS = 1000
const MACHINES = 100
/** Children per machine: 100 machines x (1 + 99) = 10 000 instances. */
const CHILDREN_PER_MACHINE = 99

function generate (): Record<string, Uint8Array> {
  const graph: string[] = ['facet Service {\n\texports: version = 1;\n}\n']
  const software = Array.from({ length: COMPONENTS - 1 }, (_, i) => `Soft${i}`)
  graph.push(`VM {\n\tinstaller: target;\n\tchildren: ${software.join(', ')};\n}\n`)
  software.forEach((name, i) => {
    const imports = i === 0 ? '' : `\timports: Soft${i - 1}.port, Soft${i - 1}.ip (optional);\n`
    graph.push(`# component ${i}\n${name} {\n\tinstaller: script;\n\tfacets: Service;\n\texports: ip, port = ${10000 + i}, name = "soft, ${i}";\n${imports}}\n`)
  })
  const instances: string[] = []
  for (let m = 0; m < MACHINES; m++) {
    instances.push(`instance of VM {\n\tname: vm ${m};\n`)
    for (let c = 0; c < CHILDREN_PER_MACHINE; c++) {
      const component = software[(m * CHILDREN_PER_MACHINE + c) % software.length]
      instances.push(`\tinstance of ${component} {\n\t\tname: ${component.toLowerCase()}-${c};\n\t\tport: ${20000 + c};\n\t}\n`)
    }
    instances.push('}\n')
  }
  const encoder = new TextEncoder()
  return {
    'descriptor/application.properties': encoder.encode('name = Bench\nversion = 1.0.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n'),
    'graph/main.graph': encoder.encode(graph.join('\n')),
    'instances/main.instances': encoder.encode(instances.join('\n'))
  }
}

const files = generate()
const bytes = Object.values(files).reduce((n, b) => n + b.byteLength, 0)
const rssBefore = process.memoryUsage().rss
const started = performance.now()
const cpuBefore = process.cpuUsage()
const result = loadApplicationTemplateFromFiles(files)
const elapsedMs = performance.now() - started
// CPU time is what the load costs; wall time also counts waiting for a busy machine
const cpu = process.cpuUsage(cpuBefore)
const peakRssMiB = process.resourceUsage().maxRSS / 1024
// Later loads run on JIT-compiled code: what a long-lived DM pays per template
let warmMs = Infinity
for (let i = 0; i < 3; i++) {
  const again = performance.now()
  loadApplicationTemplateFromFiles(files)
  warmMs = Math.min(warmMs, performance.now() - again)
}
const template = result.template
console.log(JSON.stringify({
  components: Object.keys(template?.components ?? {}).length,
  instances: allInstances(template?.rootInstances ?? []).length,
  inputBytes: bytes,
  severe: hasSevere(result.errors),
  errors: result.errors.length,
  parseAndValidateMs: Math.round(elapsedMs),
  cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  warmParseAndValidateMs: Math.round(warmMs),
  loadAverage1m: os.loadavg()[0],
  peakRssMiB: Math.round(peakRssMiB),
  rssBeforeLoadMiB: Math.round(rssBefore / 1024 / 1024)
}, null, 2))
