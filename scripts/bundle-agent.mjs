// Bundles each compiled agent entry into one file: the agent (dist/agent/main.js -> dist/agent/main.bundle.js), which the
// local and netns targets start, and the benchmarks' agent processes, so that they start as the real one does.
// Loading libp2p's few hundred ES modules one by one costs an agent several times the CPU of loading one bundle
// (docs/tuning.md): machines booting together on one host spend that much less waiting for each other.
// V8 keeps a script's whole source in memory for as long as it runs (functions compile lazily from it). Whitespace and
// comments go (identifiers stay, so stack traces still name functions), and the output is pure ASCII: a single
// non-Latin-1 character (an arrow or a dash in a comment) makes V8 store all of the source two bytes a character.
// What that saves in every agent: docs/tuning.md.
import { build } from 'esbuild'
import { writeFile } from 'node:fs/promises'

// each x.js -> x.bundle.js, where preferBundle (manager/targets/process.ts) finds it
const entries = ['dist/agent/main.js', 'dist/fixtures/mesh-node.js', 'dist/simulations/bench/agent-process.js']

/** `text` with every non-ASCII character as a \u escape (esbuild escapes those of strings, not of kept comments). */
function asciiOnly (text) {
  return text.replace(/[^\x00-\x7f]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

await Promise.all(entries.map(async entry => {
  const result = await build({
    entryPoints: [entry],
    outfile: entry.replace(/\.js$/, '.bundle.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    minifyWhitespace: true,
    charset: 'ascii',
    write: false,
    // Bundled CommonJS dependencies (ws, amqplib) call require() for Node's own modules.
    banner: { js: "import { createRequire as meshconfCreateRequire } from 'node:module'; const require = meshconfCreateRequire(import.meta.url);" }
  })
  await Promise.all(result.outputFiles.map(async file => { await writeFile(file.path, asciiOnly(file.text)) }))
}))
