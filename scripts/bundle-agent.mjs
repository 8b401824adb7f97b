// Bundles the compiled agent (dist/agent/main.js) into one file, dist/agent/bundle.js, which the local and netns
// targets start. Loading libp2p's few hundred ES modules one by one costs an agent ~650 ms of CPU at start; the
// bundle ~130 ms: 100 machines booting on one host spend that many times less waiting for each other.
import { build } from 'esbuild'

await build({
  entryPoints: ['dist/agent/main.js'],
  outfile: 'dist/agent/bundle.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Bundled CommonJS dependencies (ws, amqplib) call require() for Node's own modules.
  banner: { js: "import { createRequire as meshconfCreateRequire } from 'node:module'; const require = meshconfCreateRequire(import.meta.url);" }
})
