// Where the model tests find Roboconf's model files: the project's own copies of a few (test/fixtures/roboconf/),
// and the whole conformance corpus, which lives outside the repository (../shared/roboconf-corpus next to it, or
// $MESHCONF_CORPUS). The corpus tests are registered through `corpusTest`: skipped where the corpus is absent, so
// that ava reports them as skipped, never as passed.
import test, { type Implementation } from 'ava'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The project's copies of a few Roboconf files, with the corpus's relative paths (`valid/applications/lamp`, ...). */
export const ROBOCONF_FIXTURES = join(repoRoot, 'test', 'fixtures', 'roboconf')

function findCorpus (): string | undefined {
  const fromEnv = process.env.MESHCONF_CORPUS
  if (fromEnv !== undefined && fromEnv !== '') {
    // Set by hand: a wrong folder is a mistake to report, not a reason to skip
    if (!existsSync(join(fromEnv, 'MANIFEST.tsv'))) throw new Error(`MESHCONF_CORPUS=${fromEnv} has no MANIFEST.tsv: point it at the roboconf-corpus folder, or unset it`)
    return resolve(fromEnv)
  }
  const nextToRepo = resolve(repoRoot, '..', 'shared', 'roboconf-corpus')
  return existsSync(join(nextToRepo, 'MANIFEST.tsv')) ? nextToRepo : undefined
}

/** The Roboconf conformance corpus folder, or undefined where it is absent. */
export const corpus: string | undefined = findCorpus()

const register = corpus !== undefined ? test : test.skip
let toldWhy = false

/**
 * Registers a test that reads the corpus: ava's `test` where the corpus is found, its skip (with one line saying
 * why) where it is not. Use `corpus!` inside: the implementation runs only when the corpus is there.
 */
export function corpusTest (title: string, implementation: Implementation<[]>): void {
  if (corpus === undefined && !toldWhy) {
    console.log('Roboconf corpus not found (../shared/roboconf-corpus next to the repository, or $MESHCONF_CORPUS): its conformance tests are skipped')
    toldWhy = true
  }
  register(title, implementation)
}
