// The layers of the sources, one rule per folder (DEVELOPERS.md): protocol, common <- link <- agent <- manager.
// Read from the import statements of the sources themselves, so a new file that breaks a rule fails here.
import test from 'ava'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** What each folder may import from the project (besides itself and npm packages). */
const RULES: Record<string, { may: string[], why: string }> = {
  protocol: { may: [], why: 'protocol/ is pure code shared by everyone: it imports nothing of the project' },
  common: { may: [], why: 'common/ holds utilities with no domain: it imports nothing of the project' },
  link: { may: ['protocol/', 'common/'], why: 'link/ serves both ends of a link: protocol/ and common/ only' },
  agent: { may: ['protocol/', 'common/', 'link/'], why: 'the agent knows nothing of the DM' },
  manager: {
    may: ['protocol/', 'common/', 'link/', 'agent/index.ts', 'agent/view.ts'],
    why: "manager/ imports nothing from agent/ but the agent's public entry points (agent/index.ts, agent/view.ts)"
  }
}

function sources (folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map(e => relative(root, join(e.parentPath, e.name)))
}

/** The project files a source imports (statically, dynamically or for types), relative to the root, as `.ts`. */
function projectImports (file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map(m => m[1])
  return specifiers.map(s => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'))
}

function violations (folder: string): string[] {
  const { may } = RULES[folder]
  return sources(folder).flatMap(file => projectImports(file)
    .filter(target => !target.startsWith(`${folder}/`) && /^(protocol|common|link|agent|manager)\//.test(target))
    .filter(target => !may.some(allowed => allowed.endsWith('/') ? target.startsWith(allowed) : target === allowed))
    .map(target => `${file} imports ${target}`))
}

for (const folder of Object.keys(RULES)) {
  test(`${folder}/: ${RULES[folder].why}`, t => {
    t.true(sources(folder).length > 0, `no sources found under ${folder}/`)
    t.deepEqual(violations(folder), [])
  })
}

test('the rules see imports: a file of manager/ importing an agent internal would be found', t => {
  // the scan itself, on a known import: manager/targets/in-process.ts uses the agent's entry point
  t.true(projectImports('manager/targets/in-process.ts').includes('agent/index.ts'))
})
