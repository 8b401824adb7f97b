// Conformance with Roboconf: every row of the corpus MANIFEST.tsv against the `computed_by_roboconf_core` column
// (Roboconf's own classes run on the same files), and every valid application against RESOLVED.tsv.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import {
  allInstances, decodeModelFile, GraphResolver, instanceExports, loadApplicationTemplate, loadGraph, parseFile,
  parseRule, validateBlocks, type ModelError, type TextReader
} from '../protocol/model/index.js'
import { corpus, corpusTest } from './helpers/corpus.js'

interface Expected { code: string, level: 'SEVERE' | 'WARNING', line?: number }

function parseExpected (list: string): Expected[] {
  const text = list.trim()
  if (text === '' || text === 'none') return []
  return [...text.matchAll(/([A-Z_]+)\((S|W)(?:,L(-?\d+))?\)/g)].map(m => {
    const e: Expected = { code: m[1], level: m[2] === 'S' ? 'SEVERE' : 'WARNING' }
    const line = m[3] === undefined ? 0 : Number(m[3])
    if (line > 0) e.line = line
    return e
  })
}

/**
 * Compares as multisets. An expected line is checked when Roboconf gives one (> 0); meshconf also gives lines
 * where Roboconf reports none (L0), which is not a difference.
 */
function compare (expected: Expected[], actual: ModelError[], severeOnly: boolean): string[] {
  const keep = (level: string): boolean => !severeOnly || level === 'SEVERE'
  const left = actual.filter(a => keep(a.level)).map(a => `${a.code}(${a.level[0]}${a.line === undefined ? '' : `,L${a.line}`})`)
  const rest = [...actual.filter(a => keep(a.level))]
  const missing: string[] = []
  const wanted = expected.filter(e => keep(e.level)).sort((a, b) => (b.line ?? 0) - (a.line ?? 0))
  for (const e of wanted) {
    const index = rest.findIndex(a => a.code === e.code && a.level === e.level && (e.line === undefined || a.line === e.line))
    if (index < 0) missing.push(`${e.code}(${e.level[0]}${e.line === undefined ? '' : `,L${e.line}`})`)
    else rest.splice(index, 1)
  }
  if (missing.length === 0 && rest.length === 0) return []
  return [`expected ${missing.join(' ') || '-'} / got extra ${rest.map(r => `${r.code}(${r.line ?? ''})`).join(' ') || '-'} (all: ${left.join(' ') || 'none'})`]
}

/** Reads model files of a single-file case: `graph/x` maps to the file's own folder, as Roboconf resolves imports. */
function folderReader (folder: string): TextReader {
  return (path) => {
    const local = join(folder, path.replace(/^(graph|instances)\//, ''))
    try {
      if (!statSync(local).isFile()) return { missing: true }
    } catch {
      return { missing: true }
    }
    return decodeModelFile(readFileSync(local), path)
  }
}

const KINDS: Record<string, string> = { graph: 'graph', aggregator: 'aggregator', instance: 'instances', unknown: 'empty', undetermined: 'undetermined' }

interface Row { file: string, level: string, computed: string }
/** The rows of one of the corpus's tables (tab separated, one header line); none where the corpus is absent. */
function tableRows (name: string): string[][] {
  if (corpus === undefined) return []
  return readFileSync(join(corpus, name), 'utf8').split('\n').slice(1).filter(l => l.trim() !== '').map(l => l.split('\t'))
}

const rows: Row[] = tableRows('MANIFEST.tsv').map(c => ({ file: c[0], level: c[3], computed: c[6] ?? '' }))

/** Checks one row; returns the differences (empty: match) or undefined when the row has nothing computed for meshconf. */
async function checkRow (row: Row, severeOnly: boolean): Promise<string[] | undefined> {
  const { computed } = row
  const path = join(corpus!, row.file)
  const diffs: string[] = []
  const app = /app=(.*) critical=(true|false)/.exec(computed)
  if (app !== null) {
    const result = await loadApplicationTemplate(path)
    diffs.push(...compare(parseExpected(app[1]), result.errors, severeOnly))
    const critical = result.errors.some(e => e.level === 'SEVERE')
    if (String(critical) !== app[2]) diffs.push(`critical: expected ${app[2]}, got ${critical}`)
    return diffs
  }
  const recipe = /filteredForRecipes=(.*)$/.exec(computed)
  if (recipe !== null) {
    const result = await loadApplicationTemplate(join(path, '..', '..'), { recipe: true })
    return compare(parseExpected(recipe[1]), result.errors, severeOnly)
  }
  const rule = /rule=(.*)$/.exec(computed)
  if (rule !== null) {
    return compare(parseExpected(rule[1]), parseRule(readFileSync(path, 'utf8'), row.file).errors, severeOnly)
  }
  const type = /type=(\w+)/.exec(computed)
  if (type === null) return undefined
  const entry = `${row.file.endsWith('.instances') ? 'instances' : 'graph'}/${basename(row.file)}`
  const content = decodeModelFile(readFileSync(path), entry)
  if ('error' in content) return [content.error.message]
  const definition = parseFile(content.text, entry)
  if (KINDS[type[1]] !== definition.kind) diffs.push(`type: expected ${type[1]}, got ${definition.kind}`)
  const parse = /(?:^|\s)parse=(.*?)(?: \||$)/.exec(computed)
  if (parse !== null) diffs.push(...compare(parseExpected(parse[1]), definition.errors, severeOnly).map(d => `parse: ${d}`))
  const pm = /parse\+PM-validation: (.*?)(?: \||$)/.exec(computed)
  if (pm !== null) diffs.push(...compare(parseExpected(pm[1]), [...definition.errors, ...validateBlocks(definition)], severeOnly).map(d => `PM: ${d}`))
  const convert = /convert=(.*?)(?: validate=|$)/.exec(computed)
  if (convert !== null) {
    const loaded = loadGraph(entry, folderReader(dirname(path)))
    diffs.push(...compare(parseExpected(convert[1]), loaded.errors, severeOnly).map(d => `convert: ${d}`))
    const validate = /validate=(.*)$/.exec(computed)
    if (validate !== null && loaded.errors.length === 0) {
      diffs.push(...compare(parseExpected(validate[1]), new GraphResolver(loaded.graph).validate(), severeOnly).map(d => `validate: ${d}`))
    }
  }
  return diffs
}

corpusTest('every MANIFEST row computed by roboconf-core gives the same SEVERE codes (multiset) and lines', async t => {
  let checked = 0
  let exact = 0
  const severeDiffs: string[] = []
  const warningDiffs: string[] = []
  for (const row of rows) {
    const severe = await checkRow(row, true)
    if (severe === undefined) continue
    checked++
    const all = (await checkRow(row, false)) ?? []
    if (all.length === 0) exact++
    if (severe.length > 0) severeDiffs.push(`${row.file}: ${severe.join('; ')}`)
    else if (all.length > 0) warningDiffs.push(`${row.file}: ${all.join('; ')}`)
  }
  t.log(`${checked} rows with computed verdicts: ${checked - severeDiffs.length} match on SEVERE codes and lines, ${exact} match exactly (warnings too)`)
  for (const d of warningDiffs) t.log(`warning-only difference: ${d}`)
  t.true(checked >= 137)
  t.deepEqual(severeDiffs, [])
})

interface ResolvedRow { application: string, kind: string, name: string, installerOrComponent: string, exports: Record<string, string | null>, imports: Record<string, { optional: boolean }> }
const resolved: ResolvedRow[] = tableRows('RESOLVED.tsv').map(c => ({
    application: c[0], kind: c[1], name: c[2], installerOrComponent: c[3], exports: JSON.parse(c[4]), imports: c[5] === '' || c[5] === undefined ? {} : JSON.parse(c[5])
  }))

for (const application of [...new Set(resolved.map(r => r.application))]) {
  corpusTest(`resolved model of ${application} equals Roboconf's (RESOLVED.tsv)`, async t => {
    const { template } = await loadApplicationTemplate(join(corpus!, application))
    if (template === undefined) return t.fail('template not loaded')
    const expected = resolved.filter(r => r.application === application)
    const components = expected.filter(r => r.kind === 'component')
    t.deepEqual(Object.keys(template.components).sort(), components.map(r => r.name).sort())
    for (const row of components) {
      const c = template.components[row.name]
      t.is(c.installer, row.installerOrComponent, `${row.name} installer`)
      t.deepEqual(c.exports, row.exports, `${row.name} exports`)
      t.deepEqual(Object.fromEntries(c.imports.map(i => [i.name, { optional: i.optional }])), row.imports, `${row.name} imports`)
    }
    const instances = new Map(allInstances(template.rootInstances).map(i => [i.path, i]))
    const expectedInstances = expected.filter(r => r.kind === 'instance')
    t.deepEqual([...instances.keys()].sort(), expectedInstances.map(r => r.name).sort())
    for (const row of expectedInstances) {
      const instance = instances.get(row.name)!
      t.is(instance.component, row.installerOrComponent)
      t.deepEqual(instanceExports(template.components[instance.component], instance, null), row.exports, `${row.name} exports`)
    }
  })
}

corpusTest('the corpus holds its tables and every valid application has resolved-model rows', t => {
  t.true(readdirSync(corpus!).includes('MANIFEST.tsv'))
  const applications = readdirSync(join(corpus!, 'valid', 'applications')).map(a => `valid/applications/${a}`)
  const withRows = new Set(resolved.map(r => r.application))
  t.true(applications.length >= 10)
  t.deepEqual(applications.filter(a => !withRows.has(a)), [])
})
