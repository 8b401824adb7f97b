// Tests, simulations and their shared fixtures, read from the import statements (test/layers.test.ts holds the
// rules of the product's folders): fixtures/ serves both tests and simulations, so it imports neither; tests never
// import simulations/ and simulations/ never import test/ (the simulations' own tests are in simulations/test/).
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

function sources (folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map(e => relative(root, join(e.parentPath, e.name)))
}

/** `file imports target` for each project file under one of `forbidden` that a source of `folder` imports. */
function importsInto (folder: string, forbidden: string[]): string[] {
  return sources(folder).flatMap(file => {
    const text = readFileSync(join(root, file), 'utf8')
    return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)]
      .map(m => normalize(join(dirname(file), m[1])))
      .filter(target => forbidden.some(f => target.startsWith(`${f}/`)))
      .map(target => `${file} imports ${target}`)
  })
}

test('fixtures/ imports nothing from test/ nor simulations/', t => {
  t.true(sources('fixtures').length > 0)
  t.deepEqual(importsInto('fixtures', ['test', 'simulations']), [])
})

test('simulations/ imports nothing from test/ (what both need is in fixtures/)', t => {
  t.deepEqual(importsInto('simulations', ['test']), [])
})

test('test/ imports nothing from simulations/ (what both need is in fixtures/)', t => {
  t.deepEqual(importsInto('test', ['simulations']), [])
})

test('the scan sees imports: a benchmark importing the shared fixtures, a simulation test importing a simulation', t => {
  t.true(importsInto('simulations', ['fixtures']).some(line => line.startsWith('simulations/bench/mesh.ts imports fixtures/netns.js')))
  t.true(importsInto('simulations/test', ['simulations']).some(line => line.startsWith('simulations/test/bench-args.test.ts imports simulations/bench/bench.js')))
})
