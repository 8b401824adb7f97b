// Helpers of the web console's browser tests: Debian's chromium driven by playwright-core (fresh profile, no
// network beyond loopback), the console's errors collected, a DM process (local target: agent processes) on a
// temporary folder, logging in and dropping a file on the page the way a person would.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { killAgents, startDm, stopDm, type RunningDm } from './dm-process-helpers.js'
import { tempDir } from './dm-helpers.js'
import { freePort } from '../common/net.js'

/** Debian's chromium (the test setup installs the package). */
export const CHROMIUM = '/usr/bin/chromium'

export interface ConsoleBrowser { context: BrowserContext, page: Page, errors: string[] }

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

/** A headless chromium with a fresh profile and one page of `width` x `height` pixels; its console errors and
 * uncaught exceptions are collected in `errors`. */
export async function openBrowser (t: Teardown, width = 1280, height = 900): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'meshconf-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    viewport: { width, height },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
    timeout: 60_000
  })
  t.teardown(async () => { await context.close().catch(() => {}); rmSync(profile, { recursive: true, force: true }) })
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(60_000)
  const errors: string[] = []
  page.on('console', message => { if (message.type() === 'error') errors.push(`console: ${message.text()}`) })
  page.on('pageerror', error => { errors.push(`page: ${error.message}`) })
  return { context, page, errors }
}

/** A DM process on a temporary data folder, its agents (local target) killed and the folder removed with the test. */
export async function startConsoleDm (t: Teardown): Promise<RunningDm & { dataDirectory: string }> {
  const dir = tempDir('console')
  const dataDirectory = join(dir.path, 'data')
  const dm = await startDm({ dataDirectory, port: 0, agentsPort: await freePort(), target: 'local' })
  t.teardown(async () => { await stopDm(dm); killAgents(dataDirectory); dir.remove() })
  return { ...dm, dataDirectory }
}

/** Opens the console and logs in through its form. */
export async function logIn (page: Page, url: string, token: string): Promise<void> {
  await page.goto(url)
  await page.getByLabel('DM token').fill(token)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('navigation', { name: 'Pages' }).waitFor()
}

/** Drops a file on the element matched by `selector`, as a drag and drop from the desktop does. */
export async function dropFile (page: Page, selector: string, name: string, content: Buffer, type = 'application/zip'): Promise<void> {
  const transfer = await page.evaluateHandle(({ name, base64, type }) => {
    const { DataTransfer } = globalThis as any
    const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0))
    const data = new DataTransfer()
    data.items.add(new File([bytes], name, { type }))
    return data
  }, { name, base64: content.toString('base64'), type })
  await page.dispatchEvent(selector, 'dragover', { dataTransfer: transfer })
  await page.dispatchEvent(selector, 'drop', { dataTransfer: transfer })
}

/** The graph's model as drawn: instance nodes with their state, and edges (classes `import` or `missing`). */
export async function graphModel (page: Page): Promise<{ nodes: Array<{ id: string, status: string, label: string }>, edges: Array<{ source: string, target: string, kind: string }> }> {
  return await page.evaluate(() => {
    const cy = ((globalThis as any).document.querySelector('.graph') as any)?.cy
    if (cy === undefined) return { nodes: [], edges: [] }
    return {
      nodes: cy.nodes('.instance, .machine').map((n: any) => ({ id: n.id(), status: n.data('status'), label: n.data('label') })),
      edges: cy.edges().map((e: any) => ({ source: e.source().id(), target: e.target().id(), kind: e.hasClass('missing') ? 'missing' : 'import' }))
    }
  })
}

/** Instance path -> state, as the tree shows them. */
export async function treeStates (page: Page): Promise<Record<string, string>> {
  return await page.evaluate(() => Object.fromEntries([...(globalThis as any).document.querySelectorAll('.tree li')].map((li: any) => [li.getAttribute('data-path'), li.getAttribute('data-status')])))
}
