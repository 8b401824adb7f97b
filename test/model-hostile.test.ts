// Hostile templates: each gives a clear error, never a crash, and nothing is written anywhere.
import test from 'ava'
import { existsSync } from 'node:fs'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadApplicationTemplate, loadApplicationTemplateFromZip, type LoadResult } from '../protocol/model/index.js'
import { ROBOCONF_FIXTURES } from './helpers/corpus.js'
import { craftZip as zip } from './helpers/zip.js'

const DESCRIPTOR = 'name = Hostile\nversion = 1.0\ndsl-id = roboconf-1.0\ngraph-entry-point = main.graph\ninstance-entry-point = main.instances\n'
const GRAPH = 'VM {\n\tinstaller: target;\n\tchildren: App;\n}\nApp {\n\tinstaller: script;\n}\n'

async function template (t: { teardown: (f: () => Promise<void>) => void }, files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-hostile-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true })
    await writeFile(join(dir, path), content)
  }
  return dir
}

function codes (result: LoadResult): string[] {
  return result.errors.filter(e => e.level === 'SEVERE').map(e => e.code)
}

test('a sound template loads, from a folder and from a zip wrapped in a top folder', async t => {
  const dir = await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': GRAPH, 'instances/main.instances': 'instance of VM {\n\tname: vm;\n}\n' })
  t.deepEqual(codes(await loadApplicationTemplate(dir)), [])
  const zipped = zip([
    { name: 'app/descriptor/application.properties', data: Buffer.from(DESCRIPTOR), deflate: true },
    { name: 'app/graph/main.graph', data: Buffer.from(GRAPH) },
    { name: 'app/instances/main.instances', data: Buffer.from('instance of VM {\n\tname: vm;\n}\n') }
  ])
  const result = await loadApplicationTemplateFromZip(zipped)
  t.deepEqual(codes(result), [])
  t.is(result.template?.rootInstances[0].path, '/vm')
})

test('a 10 MB graph file is refused with a clear error', async t => {
  const dir = await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': 'x'.repeat(10 * 1024 * 1024) })
  const result = await loadApplicationTemplate(dir)
  t.deepEqual(codes(result), ['P_IO_ERROR'])
  t.regex(result.errors[0].message, /more than the \d+ allowed/)
  t.is(result.errors[0].file, 'graph/main.graph')
})

test('binary garbage and non-UTF-8 text are refused, naming the file', async t => {
  const garbage = Buffer.alloc(4096)
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256
  const binary = await loadApplicationTemplate(await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': garbage }))
  t.deepEqual(codes(binary), ['P_IO_ERROR'])
  t.regex(binary.errors[0].message, /binary|UTF-8/)
  const latin1 = await loadApplicationTemplate(await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': Buffer.from('VM {\n\tinstaller: target; # caf\xe9\n}\n', 'latin1') }))
  t.deepEqual(codes(latin1), ['P_IO_ERROR'])
  t.regex(latin1.errors[0].message, /not valid UTF-8/)
})

test('10 000 nested instances stop at the nesting limit without a stack overflow', async t => {
  const nested = 'instance of VM {\n\tname: vm;\n' + 'instance of App {\nname: a;\n'.repeat(10_000) + '}\n'.repeat(10_001)
  const result = await loadApplicationTemplate(await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': GRAPH, 'instances/main.instances': nested }))
  t.true(codes(result).includes('MC_NESTING_TOO_DEEP'))
  t.regex(result.errors.find(e => e.code === 'MC_NESTING_TOO_DEEP')!.message, /nested more than \d+ levels/)
})

test('count cannot blow the model up', async t => {
  const result = await loadApplicationTemplate(await template(t, {
    'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': GRAPH,
    'instances/main.instances': 'instance of VM {\n\tname: vm;\n\tcount: 2000000000;\n\tinstance of App {\n\t\tname: a;\n\t\tcount: 2000000000;\n\t}\n}\n'
  }))
  t.deepEqual(codes(result), ['MC_TOO_MANY_INSTANCES'])
})

test('a cycle of graph imports is harmless', async t => {
  const result = await loadApplicationTemplate(await template(t, {
    'descriptor/application.properties': DESCRIPTOR,
    'graph/main.graph': 'import a.graph;\n' + GRAPH,
    'graph/a.graph': 'import b.graph;\n',
    'graph/b.graph': 'import a.graph;\nimport main.graph;\n'
  }))
  t.deepEqual(codes(result), [])
  t.deepEqual(Object.keys(result.template?.components ?? {}).sort(), ['App', 'VM'])
})

test('imports cannot leave graph/', async t => {
  const result = await loadApplicationTemplate(await template(t, {
    'descriptor/application.properties': DESCRIPTOR, 'graph/main.graph': 'import ../descriptor/application.properties;\n' + GRAPH
  }))
  t.deepEqual(codes(result), ['CO_UNREACHABLE_FILE'])
  t.is(result.errors[0].line, 1)
})

test('zip slip: an entry with ../ is refused and nothing is written', async t => {
  const dir = await template(t, {})
  for (const name of ['../evil.txt', 'graph/../../evil.txt', '/etc/evil.txt', 'C:\\evil.txt']) {
    const result = await loadApplicationTemplateFromZip(zip([
      { name: 'descriptor/application.properties', data: Buffer.from(DESCRIPTOR) }, { name, data: Buffer.from('evil') }
    ]))
    t.deepEqual(codes(result), ['PROJ_EXTRACT_ZIP'], name)
    t.regex(result.errors[0].message, /escape|absolute/)
  }
  for (const place of [dir, join(dir, '..'), process.cwd(), '/etc']) t.false(existsSync(join(place, 'evil.txt')), place)
})

test('zip bomb: declared and real expansion beyond the limit are refused', async t => {
  const bomb = zip([{ name: 'graph/main.graph', data: Buffer.alloc(129 * 1024 * 1024), deflate: true }])
  t.true(bomb.length < 1024 * 1024)
  const declared = await loadApplicationTemplateFromZip(bomb)
  t.deepEqual(codes(declared), ['PROJ_EXTRACT_ZIP'])
  t.regex(declared.errors[0].message, /zip bomb/)
  // The header lies: 10 bytes declared, 8 MB inside
  const liar = await loadApplicationTemplateFromZip(zip([{ name: 'graph/main.graph', data: Buffer.alloc(8 * 1024 * 1024), deflate: true, declaredSize: 10 }]))
  t.deepEqual(codes(liar), ['PROJ_EXTRACT_ZIP'])
  const notZip = await loadApplicationTemplateFromZip(Buffer.from('this is not a zip'))
  t.deepEqual(codes(notZip), ['PROJ_EXTRACT_ZIP'])
})

test('missing descriptor, missing template, missing graph entry point', async t => {
  t.deepEqual(codes(await loadApplicationTemplate(await template(t, { 'graph/main.graph': GRAPH }))), ['PROJ_NO_DESC_DIR'])
  t.deepEqual(codes(await loadApplicationTemplate(await template(t, { 'descriptor/other.txt': 'x', 'graph/main.graph': GRAPH }))), ['PROJ_NO_DESC_FILE'])
  t.deepEqual(codes(await loadApplicationTemplate('/nonexistent/meshconf/template')), ['PROJ_APPLICATION_TEMPLATE_NOT_FOUND'])
  t.deepEqual(codes(await loadApplicationTemplate(await template(t, { 'descriptor/application.properties': DESCRIPTOR, 'graph/other.graph': GRAPH }))), ['PROJ_MISSING_GRAPH_EP'])
})

test('mutated Roboconf files never crash the parsers', async t => {
  const { readdirSync, readFileSync } = await import('node:fs')
  const { parseGraph, parseInstances } = await import('../protocol/model/index.js')
  const folder = join(ROBOCONF_FIXTURES, 'valid', 'configurations')
  let seed = 42
  const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const pieces = ['{', '}', ';', '#', '"', '\n', ':', ',', '=', 'instance of ', 'facet ', 'import ', '(optional)', 'random[port] ', '']
  let runs = 0
  for (const file of readdirSync(folder).filter(f => /\.(graph|instances)$/.test(f))) {
    const text = readFileSync(join(folder, file), 'utf8')
    for (let i = 0; i < 20; i++) {
      let mutated = text
      for (let k = 0; k < 3; k++) {
        const at = random(mutated.length + 1)
        mutated = mutated.slice(0, at) + pieces[random(pieces.length)] + mutated.slice(at + random(3))
      }
      const graph = parseGraph(mutated)
      const instances = parseInstances(mutated, graph.components)
      t.true(Array.isArray(graph.errors) && Array.isArray(instances.errors))
      for (const e of [...graph.errors, ...instances.errors]) t.true(e.message.length > 0 && (e.level === 'SEVERE' || e.level === 'WARNING'))
      runs++
    }
  }
  t.true(runs > 500)
})

test('a file full of errors reports the first ones and how many were left out', async t => {
  const { parseGraph } = await import('../protocol/model/index.js')
  const syntax = parseGraph('garbage line\n'.repeat(5000))
  t.true(syntax.errors.length <= 202)
  t.true(syntax.errors.some(e => e.code === 'MC_TOO_MANY_ERRORS'))
  const semantic = parseGraph('VM {\n' + '\tinstaller: "quoted";\n'.repeat(5000) + '}\n')
  t.true(semantic.errors.length <= 201)
  t.is(semantic.errors.at(-1)?.code, 'MC_TOO_MANY_ERRORS')
  t.regex(semantic.errors.at(-1)!.message, /\d+ more/)
})
