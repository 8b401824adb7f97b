// --templates-root: template loads from a path on the DM's host stay inside that folder (symbolic links resolved).
import test from 'ava'
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { startDmService } from '../manager/commands/dm.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'

test('with --templates-root, a template path outside it, or a link leading out of it, is refused; one inside loads', async t => {
  const dir = tempDir('templates-root')
  const root = join(dir.path, 'templates')
  mkdirSync(root)
  const service = await startDmService({ dataDirectory: join(dir.path, 'dm'), port: 0, agentsPort: 0, target: 'in-process', templatesRoot: root })
  t.teardown(async () => {
    await service.stop()
    dir.remove()
  })
  const load = async (path: string): Promise<{ status: number, body: { error?: { message: string } } }> => {
    const response = await fetch(`${service.url}/api/templates`, {
      method: 'POST', headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ path })
    })
    return { status: response.status, body: await response.json() as { error?: { message: string } } }
  }
  const outside = writeShopTemplate(join(dir.path, 'elsewhere'))
  const refused = await load(outside)
  t.is(refused.status, 400)
  t.regex(refused.body.error?.message ?? '', /is outside the templates root .*templates \(--templates-root\)/)
  symlinkSync(outside, join(root, 'link'))
  t.is((await load(join(root, 'link'))).status, 400, 'a link inside the root that leads out of it')
  t.is((await load(writeShopTemplate(join(root, 'shop')))).status, 201)
})
