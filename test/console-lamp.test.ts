// The LAMP story through the web console alone, in Debian's chromium, against a DM process whose machines are agent
// processes: log in, drop the lamp zip and create the application, deploy and start all and watch every instance
// reach DEPLOYED_STARTED in the tree and in the graph with no reload, scale Tomcat to 2 (a new machine and a new
// import edge from Apache) and back to 1, then a broken recipe's problem and stderr in the drawer. Screenshots of the
// application page at 1280 and 390 px go to docs/ with MESHCONF_SCREENSHOTS=1.
import test, { type ExecutionContext } from 'ava'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { zipFolder } from '../manager/zip.js'
import { tempDir } from './dm-helpers.js'
import { LAMP_DIR } from './lamp-helpers.js'
import { dropFile, graphModel, logIn, openBrowser, startConsoleDm, treeStates } from './console-helpers.js'
import { waitFor } from './helpers/wait.js'

const DOCS = join(process.cwd(), 'docs')
/** MESHCONF_SCREENSHOTS=1 writes the README's screenshots to docs/ (DEVELOPERS.md); otherwise a run leaves the tree clean. */
const WRITE_SCREENSHOTS = process.env.MESHCONF_SCREENSHOTS === '1'
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** Takes a screenshot of the page (a PNG, checked), written to docs/<name> when asked. */
async function screenshot (t: ExecutionContext, page: Page, name: string, fullPage = false): Promise<void> {
  const png = await page.screenshot({ fullPage })
  t.true(png.subarray(0, 8).equals(PNG_SIGNATURE), `${name} is a PNG`)
  if (!WRITE_SCREENSHOTS) return
  mkdirSync(DOCS, { recursive: true })
  writeFileSync(join(DOCS, name), png)
}
const APACHE = '/Apache VM/Apache'

async function allStarted (page: Page, paths: string[]): Promise<boolean> {
  const tree = await treeStates(page)
  const graph = await graphModel(page)
  const inGraph = Object.fromEntries(graph.nodes.map(n => [n.id, n.status]))
  return paths.every(p => tree[p] === 'DEPLOYED_STARTED' && inGraph[p] === 'DEPLOYED_STARTED')
}

async function confirm (page: Page, button: string | RegExp, confirmLabel: RegExp): Promise<void> {
  await page.getByRole('button', { name: button, exact: typeof button === 'string' }).click()
  const dialog = page.getByRole('dialog')
  await dialog.getByRole('button', { name: confirmLabel }).click()
  await dialog.waitFor({ state: 'detached' })
}

test('the LAMP story through the console: upload, create, deploy, scale, a broken recipe', async t => {
  t.timeout(10 * 60_000) // machines made one after another on a loaded host; every wait below has its own bound
  const dm = await startConsoleDm(t)
  const { page, errors } = await openBrowser(t)
  await logIn(page, dm.url, dm.token)

  // upload the lamp zip by drag and drop, then create the application
  await page.getByRole('link', { name: 'Templates' }).click()
  await dropFile(page, '.dropzone', 'lamp.zip', await zipFolder(LAMP_DIR))
  await page.getByText('Loaded LAMP 1.0.0.').waitFor()
  t.regex(await page.locator('.findings').innerText(), /PROJ_NO_RESOURCE_DIRECTORY/, 'the warning is shown with its code')
  await page.getByLabel('Name').fill('LAMP')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('link', { name: 'LAMP' }).click()
  await page.locator('.tree li').first().waitFor()
  const paths = Object.keys(await treeStates(page))
  t.deepEqual(paths.sort(), ['/Apache VM', APACHE, '/MySQL VM', '/MySQL VM/MySQL', '/Tomcat VM 1', '/Tomcat VM 1/Tomcat'])

  // deploy and start all: every instance DEPLOYED_STARTED in the tree and in the graph, with no reload
  await page.evaluate(() => { (globalThis as any).sameDocument = true })
  await confirm(page, 'Deploy & start all', /Deploy & start 6 instance/)
  await waitFor('every instance started in the tree and the graph', async () => await allStarted(page, paths), { timeoutMs: 120_000 })
  t.true(await page.evaluate(() => (globalThis as any).sameDocument === true), 'the page was not reloaded')
  const edges = await waitFor('the import edges', async () => {
    const { edges } = await graphModel(page)
    return edges.some(e => e.source === APACHE && e.target === '/Tomcat VM 1/Tomcat') &&
      edges.some(e => e.source === '/Tomcat VM 1/Tomcat' && e.target === '/MySQL VM/MySQL') ? edges : undefined
  }, { timeoutMs: 30_000 })
  t.false(edges.some(e => e.kind === 'missing'), 'nothing is missing once all started')

  await screenshot(t, page, 'console-application-1280.png')
  await page.setViewportSize({ width: 390, height: 844 })
  // at 390 px nothing sticks out sideways (the graph's canvas follows its box)
  await waitFor('the page fits 390 px', async () => await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= 390), { timeoutMs: 10_000 })
  await screenshot(t, page, 'console-application-390.png', true)
  await page.setViewportSize({ width: 1280, height: 900 })

  // the drawer of Apache: held import from the Tomcat
  await page.locator('.tree li[data-path="/Apache VM/Apache"] button').click()
  const drawer = page.getByRole('complementary', { name: `Instance ${APACHE}` })
  await drawer.getByText('/Tomcat VM 1/Tomcat').waitFor()
  const log = drawer.getByLabel('Machine log')
  await waitFor('the tail of the Apache machine\'s log', async () => (await log.innerText()).includes('Apache'), { timeoutMs: 30_000 })
  await drawer.getByRole('button', { name: 'Close the drawer' }).click()

  // scale Tomcat to 2: a new machine and an import edge from Apache to its Tomcat; then back to 1
  await page.getByRole('button', { name: 'Scale…' }).click()
  let dialog = page.getByRole('dialog')
  await dialog.getByLabel('Component').selectOption('Tomcat')
  await dialog.getByLabel('Machines').fill('2')
  await dialog.getByRole('button', { name: 'Preview' }).click()
  await dialog.getByText(/Tomcat VM 2/).waitFor()
  await dialog.getByRole('button', { name: 'Scale Tomcat to 2' }).click()
  await dialog.waitFor({ state: 'detached' })
  await waitFor('the second Tomcat started', async () => await allStarted(page, ['/Tomcat VM 2', '/Tomcat VM 2/Tomcat']), { timeoutMs: 120_000 })
  await waitFor('an import edge from Apache to the new Tomcat', async () =>
    (await graphModel(page)).edges.some(e => e.source === APACHE && e.target === '/Tomcat VM 2/Tomcat' && e.kind === 'import'), { timeoutMs: 60_000 })

  await page.getByRole('button', { name: 'Scale…' }).click()
  dialog = page.getByRole('dialog')
  await dialog.getByLabel('Component').selectOption('Tomcat')
  await dialog.getByLabel('Machines').fill('1')
  await dialog.getByRole('button', { name: 'Preview' }).click()
  await dialog.getByText(/Removes.*Tomcat VM 2/).waitFor()
  await dialog.getByRole('button', { name: 'Scale Tomcat to 1' }).click()
  await dialog.waitFor({ state: 'detached' })
  await waitFor('the second Tomcat gone from the tree and the graph', async () => {
    const tree = await treeStates(page)
    const { nodes, edges } = await graphModel(page)
    return !('/Tomcat VM 2' in tree) && !nodes.some(n => n.id.startsWith('/Tomcat VM 2')) && !edges.some(e => e.target.startsWith('/Tomcat VM 2'))
  }, { timeoutMs: 120_000 })
  t.true(await allStarted(page, paths), 'the first Tomcat and the rest still started')

  // the events page: Apache's imports as they changed, from the DM's history
  await page.getByRole('link', { name: 'Events' }).click()
  await page.getByLabel('Kind').selectOption('imports')
  await page.getByLabel('Instance').fill(APACHE)
  await page.locator('tr', { hasText: 'holds Tomcat x2' }).first().waitFor()
  await page.goBack()
  await page.locator('.tree li').first().waitFor()

  // a broken recipe: the same template with MySQL's start recipe failing, deployed from the drawer
  const dir = tempDir('console-broken')
  t.teardown(() => { dir.remove() })
  const broken = join(dir.path, 'lamp')
  cpSync(LAMP_DIR, broken, { recursive: true })
  writeFileSync(join(broken, 'descriptor', 'application.properties'),
    'name = LAMP broken\nversion = 1.0.0\ndsl-id = roboconf-1.0\ngraph-entry-point = lamp.graph\ninstance-entry-point = initial.instances\n')
  writeFileSync(join(broken, 'graph', 'MySQL', 'scripts', 'start.sh'), '#!/usr/bin/env bash\necho "the database refused to start: disk quota exceeded" >&2\nexit 3\n')
  await page.getByRole('link', { name: 'Templates' }).click()
  await dropFile(page, '.dropzone', 'broken.zip', await zipFolder(broken))
  await page.getByText('Loaded LAMP broken 1.0.0.').waitFor()
  await page.getByLabel('Template').selectOption({ label: 'LAMP broken 1.0.0' })
  await page.getByLabel('Name').fill('Broken')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('link', { name: 'Broken' }).click()
  await page.locator('.tree li[data-path="/MySQL VM"] button').click()
  const vmDrawer = page.getByRole('complementary', { name: 'Instance /MySQL VM' })
  await vmDrawer.getByRole('button', { name: 'Deploy & start' }).click()
  dialog = page.getByRole('dialog')
  await dialog.getByRole('button', { name: /Deploy & start 2 instance/ }).click()
  await dialog.waitFor({ state: 'detached' })
  await page.locator('.tree li[data-path="/MySQL VM/MySQL"] button').click()
  const mysqlDrawer = page.getByRole('complementary', { name: 'Instance /MySQL VM/MySQL' })
  const problem = mysqlDrawer.getByRole('region', { name: 'Last problem' })
  await problem.waitFor({ timeout: 120_000 })
  t.regex(await problem.innerText(), /Exit code\s+3/)
  t.regex(await problem.locator('pre.stderr').innerText(), /the database refused to start: disk quota exceeded/)
  await screenshot(t, page, 'console-problem-1280.png')
  await page.getByRole('link', { name: 'Applications' }).click()
  await page.locator('tr', { hasText: 'Broken' }).getByText('⚠ problem').waitFor()

  t.deepEqual(errors, [], 'no console errors')
})
