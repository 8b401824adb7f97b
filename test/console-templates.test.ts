// Templates through the console, and the keyboard: a template with a SEVERE error is refused and nothing stored, its
// findings listed as a compiler lists them (file:line, level, code); a folder on the DM host is loaded by path; an
// application is created and its instances opened with the keyboard alone, with a visible focus; a machine and a
// child are added (the components the graph allows), the machine replicated and the copy deleted; the filter by
// component.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { zipFolder } from '../manager/zip.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { graphModel, logIn, openBrowser, startConsoleDm, treeStates } from './console-helpers.js'
import { waitFor } from './helpers/wait.js'

test('a SEVERE template is refused with file:line findings; a folder loads; the keyboard reaches everything; add, replicate, delete', async t => {
  const dm = await startConsoleDm(t)
  const dir = tempDir('console-templates')
  t.teardown(() => { dir.remove() })
  const bad = writeShopTemplate(join(dir.path, 'bad'), { version: '2.0' })
  writeFileSync(join(bad, 'graph', 'main.graph'), 'VM {\n  installer: target;\n  children: DB, App;\n}\nDB {\n  installer script;\n}\n')
  const zip = join(dir.path, 'bad.zip')
  writeFileSync(zip, await zipFolder(bad))
  const good = writeShopTemplate(join(dir.path, 'good'))

  const { page, errors } = await openBrowser(t)
  await logIn(page, dm.url, dm.token)
  await page.getByRole('link', { name: 'Templates' }).click()
  await page.locator('input[type=file]').setInputFiles(zip)
  const result = page.getByRole('status').filter({ hasText: 'Not stored' })
  await result.waitFor()
  const findings = await result.locator('.findings li').allInnerTexts()
  t.true(findings.some(f => /^graph\/main\.graph:6: severe [A-Z_]+ /.test(f)), findings.join('\n'))
  t.is(await page.locator('ul.templates li').count(), 0, 'nothing stored')

  // a folder on the DM host, then an application, with the keyboard
  await page.getByLabel('Or a folder or zip on the DM host').fill(good)
  await page.keyboard.press('Enter')
  await page.getByText('Loaded Shop 1.0.').waitFor()
  await page.getByLabel('Name').focus()
  await page.keyboard.type('shop')
  await page.keyboard.press('Enter')
  const link = page.getByRole('link', { name: 'shop', exact: true })
  await link.focus()
  await page.keyboard.press('Enter')
  await page.locator('.tree li').first().waitFor()
  t.deepEqual(Object.keys(await treeStates(page)).sort(), ['/vm1', '/vm1/db', '/vm2', '/vm2/app'])

  // Tab from the component filter reaches the tree's first row, with a visible focus ring; Enter opens the drawer,
  // Escape closes it
  await page.getByLabel('Component').focus()
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab') // the "Instances" heading is not focusable: the first row is
  const focused = await page.evaluate(() => {
    const element = (globalThis as any).document.activeElement
    const style = (globalThis as any).getComputedStyle(element)
    return { path: element.closest('li')?.getAttribute('data-path'), outline: style.outlineStyle, width: style.outlineWidth }
  })
  t.is(focused.outline, 'solid')
  t.is(focused.width, '3px')
  t.truthy(focused.path)
  await page.keyboard.press('Enter')
  const drawer = page.getByRole('complementary', { name: `Instance ${focused.path}` })
  await drawer.waitFor()
  t.true(await drawer.getByRole('button', { name: 'Close the drawer' }).evaluate(b => b === (globalThis as any).document.activeElement), 'the drawer has the focus')
  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'detached' })

  // add a machine, a child (among the components the graph allows under a VM), replicate the machine, delete the copy
  await page.getByRole('button', { name: 'Add machine' }).click()
  let dialog = page.getByRole('dialog')
  await dialog.getByLabel('Name').waitFor()
  t.deepEqual(await dialog.getByLabel('Component').locator('option').allInnerTexts(), ['VM'])
  await dialog.getByLabel('Name').fill('vm3')
  await dialog.getByRole('button', { name: 'Add VM' }).click()
  await page.locator('.tree li[data-path="/vm3"]').waitFor()
  await page.locator('.tree li[data-path="/vm3"] button').click()
  const vm3 = page.getByRole('complementary', { name: 'Instance /vm3' })
  await vm3.getByRole('button', { name: 'Add child' }).click()
  dialog = page.getByRole('dialog')
  await dialog.getByLabel('Name').waitFor()
  t.deepEqual((await dialog.getByLabel('Component').locator('option').allInnerTexts()).sort(), ['App', 'DB'])
  await dialog.getByLabel('Component').selectOption('App')
  await dialog.getByLabel('Name').fill('app')
  await dialog.getByRole('button', { name: 'Add App' }).click()
  await page.locator('.tree li[data-path="/vm3/app"]').waitFor()
  await vm3.getByRole('button', { name: 'Replicate' }).click()
  dialog = page.getByRole('dialog')
  await dialog.getByLabel('New name').fill('vm4')
  await dialog.getByRole('button', { name: 'Replicate' }).click()
  await page.locator('.tree li[data-path="/vm4/app"]').waitFor()
  await page.locator('.tree li[data-path="/vm4"] button').click()
  await page.getByRole('complementary', { name: 'Instance /vm4' }).getByRole('button', { name: 'Delete' }).click()
  dialog = page.getByRole('dialog')
  await dialog.waitFor()
  t.regex(await dialog.innerText(), /removes \/vm4 and the 1 instance\(s\) under it/)
  await dialog.getByRole('button', { name: 'Delete 2 instance(s)' }).click()
  await page.locator('.tree li[data-path="/vm4"]').waitFor({ state: 'detached' })
  t.deepEqual(Object.keys(await treeStates(page)).sort(), ['/vm1', '/vm1/db', '/vm2', '/vm2/app', '/vm3', '/vm3/app'])

  // the filter by component: the Apps and the machines that carry them, in the tree and in the graph
  await page.getByLabel('Component').selectOption('App')
  // the graph follows the tree just after it (an effect after the render)
  await waitFor('the filtered tree and graph', async () =>
    Object.keys(await treeStates(page)).length === 4 && (await graphModel(page)).nodes.length === 4)
  t.deepEqual(Object.keys(await treeStates(page)).sort(), ['/vm2', '/vm2/app', '/vm3', '/vm3/app'])
  t.deepEqual((await graphModel(page)).nodes.map(n => n.id).sort(), ['/vm2', '/vm2/app', '/vm3', '/vm3/app'])
  // the one console error is the browser's own line for the refused template's 400
  t.deepEqual(errors, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)'])
})
