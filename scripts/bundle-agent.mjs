// Bundles each compiled agent entry into one file: the agent (dist/agent/main.js -> dist/agent/main.bundle.js), which the
// local and netns targets start, and the benchmarks' agent processes, so that they start as the real one does.
// Loading libp2p's few hundred ES modules one by one costs an agent several times the CPU of loading one bundle
// (docs/tuning.md): machines booting together on one host spend that much less waiting for each other.
// V8 keeps a script's whole source in memory for as long as it runs (functions compile lazily from it). Whitespace and
// comments go (identifiers stay, so stack traces still name functions), and the output is pure ASCII: a single
// non-Latin-1 character (an arrow or a dash in a comment) makes V8 store all of the source two bytes a character.
// What that saves in every agent: docs/tuning.md.
// Each entry also gets a cached start (x.bundle.cached.js, what preferBundle picks first): the same bundle as a classic
// script (x.bundle.script.cjs) with V8's code cache of it (x.bundle.script.cache), made here under the agents' Node
// flags. Compiling the 1.6 MB bundle was a fifth of an agent's start-up instructions; from the cache, V8 deserializes
// it instead (docs/tuning.md). V8 rejects the cache under another Node or other V8 flags, and then compiles the source.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { AGENT_NODE_FLAGS } from '../dist/manager/targets/process.js'

// each x.js -> x.bundle.js, where preferBundle (manager/targets/process.ts) finds it
const entries = ['dist/agent/main.js', 'dist/fixtures/mesh-node.js', 'dist/simulations/bench/agent-process.js']

/** `text` with every non-ASCII character as a \u escape (esbuild escapes those of strings, not of kept comments). */
function asciiOnly (text) {
  return text.replace(/[^\x00-\x7f]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Options of both forms of a bundle. */
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', minifyWhitespace: true, charset: 'ascii', write: false }

/**
 * The script form's wrapper: a function of what the ES module had from Node (require, import.meta.url), strict as a
 * module is. Free __dirname and __filename stay as unbound as in the module.
 */
const SCRIPT_HEAD = '(function (require, __meshconfImportMetaUrl, module, exports) {"use strict";'
const SCRIPT_TAIL = '\n})'

/** The cached start of `name`.bundle.js: compiles its script form with the code cache, then runs it. */
function cachedStart (name) {
  return `// Made by scripts/bundle-agent.mjs: ${name}.bundle.js started from its script form and V8's code cache of it.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'
const script = new URL('./${name}.bundle.script.cjs', import.meta.url)
let cachedData
try { cachedData = readFileSync(new URL('./${name}.bundle.script.cache', import.meta.url)) } catch {}
const run = new Script(readFileSync(script, 'latin1'), { filename: fileURLToPath(script), cachedData }).runInThisContext()
cachedData = undefined
const module = { exports: {} }
run(createRequire(import.meta.url), import.meta.url, module, module.exports)
`
}

/** V8's code cache of a script, made by a Node process with the agents' flags (the cache holds their hash). */
function codeCacheOf (scriptFile, cacheFile) {
  execFileSync(process.execPath, [...AGENT_NODE_FLAGS, '-e', `
const { readFileSync, writeFileSync } = require('node:fs')
const { Script } = require('node:vm')
const [scriptFile, cacheFile] = process.argv.slice(1)
writeFileSync(cacheFile, new Script(readFileSync(scriptFile, 'latin1'), { filename: scriptFile }).createCachedData())
`, scriptFile, cacheFile], { stdio: ['ignore', 'inherit', 'inherit'] })
}

await Promise.all(entries.map(async entry => {
  const bundle = entry.replace(/\.js$/, '.bundle.js')
  const result = await build({
    ...common,
    entryPoints: [entry],
    outfile: bundle,
    format: 'esm',
    // Bundled CommonJS dependencies (ws, amqplib) call require() for Node's own modules.
    banner: { js: "import { createRequire as meshconfCreateRequire } from 'node:module'; const require = meshconfCreateRequire(import.meta.url);" }
  })
  await Promise.all(result.outputFiles.map(async file => { await writeFile(file.path, asciiOnly(file.text)) }))
  const scriptFile = bundle.replace(/\.js$/, '.script.cjs')
  const script = await build({ ...common, entryPoints: [entry], outfile: scriptFile, format: 'cjs', define: { 'import.meta.url': '__meshconfImportMetaUrl' } })
  if (script.warnings.length > 0) throw new Error(`${entry}: the script form must build without warnings (an import.meta other than url?)`)
  await writeFile(scriptFile, SCRIPT_HEAD + asciiOnly(script.outputFiles[0].text) + SCRIPT_TAIL)
  codeCacheOf(scriptFile, bundle.replace(/\.js$/, '.script.cache'))
  await writeFile(bundle.replace(/\.js$/, '.cached.js'), cachedStart(basename(entry, '.js')))
}))
