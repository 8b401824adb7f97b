// Bundles each compiled agent entry into one file: the agent (dist/agent/main.js -> dist/agent/main.bundle.js), which the
// local and netns targets start, and the benchmarks' agent processes, so that they start as the real one does.
// Loading libp2p's few hundred ES modules one by one costs an agent several times the CPU of loading one bundle
// (docs/tuning.md): machines booting together on one host spend that much less waiting for each other.
import { build } from 'esbuild'

// each x.js -> x.bundle.js, where preferBundle (manager/targets/process.ts) finds it
const entries = ['dist/agent/main.js', 'dist/fixtures/mesh-node.js', 'dist/simulations/bench/agent-process.js']

await Promise.all(entries.map(entry => build({
  entryPoints: [entry],
  outfile: entry.replace(/\.js$/, '.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Bundled CommonJS dependencies (ws, amqplib) call require() for Node's own modules.
  banner: { js: "import { createRequire as meshconfCreateRequire } from 'node:module'; const require = meshconfCreateRequire(import.meta.url);" }
})))
