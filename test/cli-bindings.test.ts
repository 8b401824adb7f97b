// `meshconf bind|unbind|bindings` against a real DM (issue 21): the table, -o json documents, the one exporter chosen
// when none is named, --replace (bind-x), and the DM's refusals as exit code 1 with Roboconf's message.
import test from 'ava'
import { join } from 'node:path'
import { startDm } from './cli-dm-helpers.js'
import { ROBOCONF_FIXTURES } from './helpers/corpus.js'

const EXPORTING = join(ROBOCONF_FIXTURES, 'valid', 'applications', 'it-app-with-external-exports')
const IMPORTING = join(ROBOCONF_FIXTURES, 'valid', 'applications', 'it-app-with-external-imports')

test('bind, bindings and unbind print what the application imports from where; refusals exit 1', async t => {
  const { cli } = await startDm(t)
  t.is((await cli('app', 'load', EXPORTING, '--name', 'Lamp 1')).exitCode, 0)
  t.is((await cli('app', 'load', IMPORTING, '--name', 'Esb')).exitCode, 0)

  const none = await cli('bindings', 'Esb')
  t.is(none.exitCode, 0, none.stderr)
  t.regex(none.stdout, /PREFIX\s+EXPORTING APPLICATION\s+BOUND\n\s*Lamp\s+Lamp 1\s+no/)

  // one application exports Lamp: it is the one bound
  const bound = await cli('bind', 'Esb', 'Lamp', '-o', 'json')
  t.is(bound.exitCode, 0, bound.stderr)
  t.deepEqual(JSON.parse(bound.stdout), { ok: true, bindings: { application: 'Esb', prefixes: { Lamp: [{ application: 'Lamp 1', bound: true }] } } })

  t.is((await cli('app', 'create', 'Lamp 2', '--template', 'LAMP')).exitCode, 0)
  const ambiguous = await cli('bind', 'Esb', 'Lamp')
  t.is(ambiguous.exitCode, 2)
  t.regex(ambiguous.stderr, /several applications export Lamp: name one of Lamp 1, Lamp 2/)

  const replaced = await cli('bind', 'Esb', 'Lamp', 'Lamp 2', '--replace')
  t.is(replaced.exitCode, 0, replaced.stderr)
  t.regex(replaced.stdout, /Esb imports Lamp from Lamp 2 only/)
  t.regex(replaced.stdout, /Lamp\s+Lamp 1\s+no\n\s*Lamp\s+Lamp 2\s+yes/)

  const refused = await cli('bind', 'Esb', 'Lamp', 'Ghost', '-o', 'json')
  t.is(refused.exitCode, 1)
  const error = JSON.parse(refused.stdout) as { ok: boolean, code: string, message: string }
  t.false(error.ok)
  t.regex(error.message, /Application Ghost does not exist\./)

  const unbound = await cli('unbind', 'Esb', 'Lamp')
  t.is(unbound.exitCode, 0, unbound.stderr)
  t.regex(unbound.stdout, /Esb no longer imports Lamp from any application/)
  t.regex((await cli('bindings', 'Esb', 'Lamp')).stdout, /Lamp\s+Lamp 1\s+no\n\s*Lamp\s+Lamp 2\s+no/)
})
