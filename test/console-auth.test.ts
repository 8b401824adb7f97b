// The web console's sessions against a DM process: the files at / with no credentials, login with the DM token
// (an httpOnly, SameSite=Strict cookie; the token in neither the URL nor local storage), 401 for no cookie and a
// wrong one (the page shows the login form), cookie writes refused without the CSRF header, the live events refused
// from another origin, and logout.
import test from 'ava'
import WebSocket from 'ws'
import { logIn, openBrowser, startConsoleDm } from './console-helpers.js'

async function request (url: string, init: RequestInit = {}): Promise<{ status: number, body: any, headers: Headers }> {
  const response = await fetch(url, init)
  const text = await response.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON */ }
  return { status: response.status, body, headers: response.headers }
}

async function wsOpens (url: string, headers: Record<string, string>): Promise<number | 'open'> {
  return await new Promise(resolve => {
    const socket = new WebSocket(url, { headers })
    socket.on('open', () => { socket.close(); resolve('open') })
    socket.on('unexpected-response', (_request, response) => { resolve(response.statusCode ?? 0); socket.terminate() })
    socket.on('error', () => resolve(0))
  })
}

test('sessions over HTTP: login, cookie, CSRF, origin, logout', async t => {
  const dm = await startConsoleDm(t)
  const page = await request(dm.url + '/')
  t.is(page.status, 200)
  t.regex(page.headers.get('content-type') ?? '', /text\/html/)
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
  t.is((await request(dm.url + '/console.js')).status, 200)

  t.is((await request(dm.url + '/api/applications')).status, 401, 'no cookie, no token')
  t.is((await request(dm.url + '/api/applications', { headers: { cookie: 'meshconf_session=' + 'a'.repeat(64) } })).status, 401, 'a wrong cookie')
  t.is((await request(dm.url + '/api/applications', { headers: { authorization: `Bearer ${dm.token}` } })).status, 200, 'the bearer token still works')
  t.deepEqual((await request(dm.url + '/api/session')).body, { authenticated: false })

  const json = { 'content-type': 'application/json' }
  const wrong = await request(dm.url + '/api/session', { method: 'POST', headers: json, body: JSON.stringify({ token: 'not-the-token' }) })
  t.is(wrong.status, 401)
  t.is(wrong.headers.get('set-cookie'), null)
  const login = await request(dm.url + '/api/session', { method: 'POST', headers: json, body: JSON.stringify({ token: dm.token }) })
  t.is(login.status, 204)
  const cookies = login.headers.getSetCookie()
  const session = cookies.find(c => c.startsWith('meshconf_session='))!
  const csrf = cookies.find(c => c.startsWith('meshconf_csrf='))!
  t.regex(session, /HttpOnly/)
  t.regex(session, /SameSite=Strict/)
  t.notRegex(csrf, /HttpOnly/)
  t.false(session.includes(dm.token) || csrf.includes(dm.token), 'the cookies do not carry the token')
  const cookie = [session, csrf].map(c => c.split(';')[0]).join('; ')
  const csrfValue = csrf.split(';')[0].split('=')[1]

  t.is((await request(dm.url + '/api/applications', { headers: { cookie } })).status, 200, 'the cookie authenticates a read')
  t.deepEqual((await request(dm.url + '/api/session', { headers: { cookie } })).body, { authenticated: true })
  const target = { id: 'console-auth', handler: 'local' }
  const noHeader = await request(dm.url + '/api/targets', { method: 'POST', headers: { ...json, cookie }, body: JSON.stringify(target) })
  t.is(noHeader.status, 403, 'a cookie write without the CSRF header')
  t.is(noHeader.body.error.code, 'REST_CSRF')
  t.is((await request(dm.url + '/api/targets', { method: 'POST', headers: { ...json, cookie, 'x-meshconf-csrf': 'b'.repeat(64) }, body: JSON.stringify(target) })).status, 403, 'a wrong CSRF header')
  t.is((await request(dm.url + '/api/targets', { method: 'POST', headers: { ...json, cookie, 'x-meshconf-csrf': csrfValue }, body: JSON.stringify(target) })).status, 201, 'with the header')

  const events = dm.url.replace(/^http/, 'ws') + '/api/events'
  t.is(await wsOpens(events, { cookie, origin: dm.url }), 'open', 'the live events from the console\'s origin')
  t.is(await wsOpens(events, { cookie, origin: 'http://evil.example' }), 403, 'refused from another origin')
  t.is(await wsOpens(events, {}), 401, 'refused with no cookie')

  t.is((await request(dm.url + '/api/session', { method: 'DELETE', headers: { cookie } })).status, 403, 'logout needs the CSRF header')
  t.is((await request(dm.url + '/api/session', { method: 'DELETE', headers: { cookie, 'x-meshconf-csrf': csrfValue } })).status, 204)
  t.is((await request(dm.url + '/api/applications', { headers: { cookie } })).status, 401, 'the session is gone after logout')
})

test('in the browser: a wrong token, a wrong cookie and logout show the login page', async t => {
  const dm = await startConsoleDm(t)
  const { context, page, errors } = await openBrowser(t)
  await page.goto(dm.url)
  await page.getByLabel('DM token').fill('not-the-token')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('alert').getByText(/wrong DM token/).waitFor()

  await logIn(page, dm.url, dm.token)
  await page.getByRole('heading', { name: 'Applications' }).waitFor()
  t.false(page.url().includes(dm.token), 'the token is not in the URL')
  t.is(await page.evaluate(() => (globalThis as any).localStorage.length + (globalThis as any).sessionStorage.length), 0, 'nothing in local or session storage')
  const session = (await context.cookies()).find(c => c.name === 'meshconf_session')
  t.true(session?.httpOnly)
  t.is(session?.sameSite, 'Strict')
  t.is(await page.evaluate(() => (globalThis as any).document.cookie.includes('meshconf_session')), false, 'scripts cannot read the session cookie')

  // a wrong session cookie: the page shows the login form again
  await context.clearCookies()
  await context.addCookies([{ name: 'meshconf_session', value: 'c'.repeat(64), url: dm.url, httpOnly: true, sameSite: 'Strict' }])
  await page.reload()
  await page.getByLabel('DM token').waitFor()

  // log in, then out
  await logIn(page, dm.url, dm.token)
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByLabel('DM token').waitFor()
  await page.reload()
  await page.getByLabel('DM token').waitFor()
  t.false((await context.cookies()).some(c => c.name === 'meshconf_session' && c.value !== ''), 'the session cookie is cleared')
  // the one console error is the browser's own line for the wrong login's 401
  t.deepEqual(errors, ['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)'])
})
