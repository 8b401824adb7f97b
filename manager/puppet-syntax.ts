// REC_PUPPET_SYNTAX_ERROR: what Roboconf's RecipesValidator asks `puppet parser validate` about each manifest of a
// puppet recipe when it loads an application. The model (protocol/) runs no process: it lists the manifests
// (LoadResult.puppetManifests) and the DM and `meshconf validate` run Puppet here. Without Puppet on the host the
// check is skipped, as Roboconf skips it.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { modelError, type LoadResult, type ModelError } from '../protocol/model/index.js'

/** How long one `puppet parser validate` may run, in milliseconds (Ruby's start alone takes about a second). */
export const PUPPET_VALIDATE_TIMEOUT_MS = 60_000
/** What of Puppet's report an error keeps, in characters. */
const MAX_REPORT_CHARS = 300

interface Run { exitCode: number | 'missing', output: string }

async function puppetValidate (files: string[], puppet: string): Promise<Run> {
  return await new Promise(resolve => {
    execFile(puppet, ['parser', 'validate', '--color=false', ...files], { timeout: PUPPET_VALIDATE_TIMEOUT_MS, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const code = (err as NodeJS.ErrnoException | null)?.code
        if (code === 'ENOENT') resolve({ exitCode: 'missing', output: '' })
        else resolve({ exitCode: err === null ? 0 : typeof code === 'number' ? code : 1, output: `${stderr}\n${stdout}` })
      })
  })
}

/**
 * Runs `puppet parser validate` on the manifests (one run for all; each failing file gets its error, with Puppet's
 * line when it gives one). `puppet` is the command (default `puppet` on the PATH).
 */
export async function puppetSyntaxErrors (manifests: Array<{ path: string, text: string }>, puppet = 'puppet'): Promise<ModelError[]> {
  if (manifests.length === 0) return []
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-puppet-'))
  try {
    // numbered names: the template's own paths may hold anything
    const files = manifests.map((_, i) => join(dir, `${i}.pp`))
    await Promise.all(manifests.map(async (m, i) => { await writeFile(files[i], m.text) }))
    const all = await puppetValidate(files, puppet)
    if (all.exitCode === 'missing' || all.exitCode === 0) return []
    const errors: ModelError[] = []
    for (const [i, m] of manifests.entries()) {
      // Puppet names the file and line of what it cannot parse: `(file: /tmp/…/0.pp, line: 3, column: 1)`
      const lines = all.output.split('\n').filter(l => new RegExp(`${files[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(l))
      let report = lines.join(' ')
      if (lines.length === 0) {
        // not named: ask about this file alone
        const alone = await puppetValidate([files[i]], puppet)
        if (alone.exitCode === 0 || alone.exitCode === 'missing') continue
        report = alone.output
      }
      const line = /line: (\d+)/.exec(report)?.[1]
      const text = report.replaceAll(files[i], m.path).replace(/\u001b\[[\d;]*m/g, '').replace(/^Error: /, '').replace(/\s+/g, ' ').trim().slice(0, MAX_REPORT_CHARS)
      errors.push(modelError('REC_PUPPET_SYNTAX_ERROR', m.path, line !== undefined ? Number(line) : undefined, text))
    }
    return errors
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The load result with Puppet's syntax findings added (nothing changes without puppet manifests). */
export async function withPuppetSyntax (result: LoadResult, puppet?: string): Promise<LoadResult> {
  if (result.puppetManifests === undefined) return result
  return { ...result, errors: [...result.errors, ...await puppetSyntaxErrors(result.puppetManifests, puppet)] }
}
