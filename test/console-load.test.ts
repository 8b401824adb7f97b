// The console with 500 instances and a stream of 10 events a second: the tree and the graph show every instance,
// the burst's changes all arrive with no reload, the page reads the application far fewer times than events came
// (reads are coalesced), an instance can still be opened, and nothing is logged as an error. Nothing is timed here
// (the time to draw is only logged).
import test from 'ava'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { client } from './dm-process-helpers.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'
import { graphModel, logIn, openBrowser, startConsoleDm, treeStates } from './console-helpers.js'
import { waitFor } from './helpers/wait.js'

const MACHINES = 167 // each holds a DB and an App: 501 instances
const BURST_EVENTS = 50
const EVENT_INTERVAL_MS = 100

test('500 instances and 10 events a second', async t => {
  t.timeout(10 * 60_000) // machines made one after another on a loaded host; every wait below has its own bound
  const dm = await startConsoleDm(t)
  const call = client(dm)
  const dir = tempDir('console-load')
  t.teardown(() => { dir.remove() })
  const instances = Array.from({ length: MACHINES }, (_, k) =>
    `instance of VM {\n  name: vm${k + 1};\n  instance of DB {\n    name: db;\n  }\n  instance of App {\n    name: app;\n  }\n}\n`).join('')
  await call('POST', '/api/templates', { path: writeShopTemplate(join(dir.path, 'shop'), { instances }) })
  await call('POST', '/api/applications', { name: 'shop', template: { name: 'Shop', version: '1.0' } })

  const { page, errors } = await openBrowser(t)
  await logIn(page, dm.url, dm.token)
  const started = Date.now()
  await page.goto(`${dm.url}/#/app/shop`)
  await waitFor('the 501 instances in the tree and the graph', async () =>
    Object.keys(await treeStates(page)).length === MACHINES * 3 && (await graphModel(page)).nodes.length === MACHINES * 3, { timeoutMs: 60_000 })
  t.log(`501 instances drawn ${Date.now() - started} ms after the page was asked for`)
  const { edges } = await graphModel(page)
  t.is(edges.filter(e => e.kind === 'missing').length, MACHINES, 'every App misses its DB (nothing deployed)')

  let reads = 0
  page.on('request', request => { if (request.url().endsWith('/api/applications/shop/topology')) reads++ })
  await page.evaluate(() => { (globalThis as any).sameDocument = true })
  for (let k = 1; k <= BURST_EVENTS; k++) {
    await call('POST', '/api/applications/shop/instances', { name: `extra${k}`, component: 'VM' })
    await sleep(EVENT_INTERVAL_MS)
  }
  await waitFor('the burst\'s machines in the tree and the graph', async () => {
    const tree = await treeStates(page)
    const { nodes } = await graphModel(page)
    return Object.keys(tree).length === MACHINES * 3 + BURST_EVENTS && nodes.some(n => n.id === `/extra${BURST_EVENTS}`)
  }, { timeoutMs: 60_000 })
  t.true(await page.evaluate(() => (globalThis as any).sameDocument === true), 'no reload')
  t.log(`${BURST_EVENTS} events, ${reads} reads of the application`)
  t.true(reads > 0 && reads < BURST_EVENTS, `the application was read ${reads} times for ${BURST_EVENTS} events`)

  await page.locator('.tree li[data-path="/vm100/app"] button').click()
  await page.getByRole('complementary', { name: 'Instance /vm100/app' }).getByText('DB (no started exporter held)').waitFor()
  t.deepEqual(errors, [])
})
