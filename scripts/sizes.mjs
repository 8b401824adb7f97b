// Lists the source files over 500 lines and the functions over 80 (issue 15's targets), read with TypeScript's own
// parser: `node scripts/sizes.mjs` in the repository.
import ts from 'typescript'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
const root = process.argv[2] ?? '.'
const folders = ['common', 'protocol', 'link', 'agent', 'manager', 'web/src', 'fixtures', 'simulations']
const files = folders.flatMap(f => { try { return readdirSync(join(root, f), { recursive: true, withFileTypes: true }).filter(e => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts')).map(e => join(e.parentPath, e.name)) } catch { return [] } })
const big = [], fns = []
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  const lines = text.split('\n').length
  const rel = relative(root, file)
  if (lines > 500) big.push([lines, rel])
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const visit = node => {
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node) || ts.isConstructorDeclaration(node)) {
      const a = sf.getLineAndCharacterOfPosition(node.getStart()).line, b = sf.getLineAndCharacterOfPosition(node.getEnd()).line
      const n = b - a + 1
      let name = node.name?.getText?.() ?? ''
      if (!name && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText()
      if (!name && ts.isPropertyAssignment(node.parent)) name = node.parent.name.getText()
      if (n > 80) fns.push([n, `${rel}:${a + 1} ${name || '(anonymous)'}`])
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
}
big.sort((x, y) => y[0] - x[0]); fns.sort((x, y) => y[0] - x[0])
console.log('files > 500 lines:'); for (const [n, f] of big) console.log(`  ${n}  ${f}`)
console.log('functions > 80 lines:'); for (const [n, f] of fns) console.log(`  ${n}  ${f}`)
