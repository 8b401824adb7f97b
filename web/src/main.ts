// The console's shell: asks the DM whether this browser has a session, shows the login form or the pages (hash
// routes: #/, #/app/<name>, #/templates, #/events), and logs out.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, closeEvents, onConnection, whenUnauthorized } from './api.js'
import { startRecording, stopRecording } from './live.js'
import { ApplicationPage } from './pages/application.js'
import { ApplicationsPage } from './pages/applications.js'
import { EventsPage } from './pages/events.js'
import { TemplatesPage } from './pages/templates.js'
import { ConfirmHost, ErrorLine, html } from './ui.js'

function useHash (): string {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const update = (): void => setHash(location.hash)
    window.addEventListener('hashchange', update)
    return () => window.removeEventListener('hashchange', update)
  }, [])
  return hash
}

function Login ({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState<unknown>(undefined)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      await api('POST', '/api/session', { token: token.trim() })
      setToken('')
      onLoggedIn()
    } catch (err) { setError(err) }
  }
  return html`<main class="login">
    <form onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">meshconf</h1>
      <p>Log in with the DM token (in <code>&lt;data-dir&gt;/token</code> of the DM).</p>
      <label>DM token <input type="password" name="token" autocomplete="current-password" required value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} autofocus /></label>
      <${ErrorLine} error=${error} />
      <button class="primary" type="submit">Log in</button>
    </form>
  </main>`
}

function Page ({ hash }: { hash: string }) {
  const route = hash.replace(/^#\/?/, '')
  if (route.startsWith('app/')) return html`<${ApplicationPage} key=${route} name=${decodeURIComponent(route.slice(4))} />`
  if (route === 'templates') return html`<${TemplatesPage} />`
  if (route === 'events') return html`<${EventsPage} />`
  return html`<${ApplicationsPage} />`
}

function App () {
  const [session, setSession] = useState<'unknown' | 'in' | 'out'>('unknown')
  const [live, setLive] = useState(false)
  const hash = useHash()
  useEffect(() => {
    whenUnauthorized(() => { stopRecording(); closeEvents(); setSession('out') })
    void api<{ authenticated: boolean }>('GET', '/api/session').then(s => setSession(s.authenticated ? 'in' : 'out'), () => setSession('out'))
    return onConnection(setLive)
  }, [])
  useEffect(() => { if (session === 'in') startRecording() }, [session])
  if (session === 'unknown') return null
  if (session === 'out') return html`<${Login} onLoggedIn=${() => setSession('in')} />`
  const logout = async (): Promise<void> => {
    try { await api('DELETE', '/api/session') } finally { stopRecording(); closeEvents(); setSession('out') }
  }
  const current = (name: string): string | undefined => (hash.replace(/^#\/?/, '').split('/')[0] || 'apps') === name ? 'page' : undefined
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">meshconf</span>
      <nav aria-label="Pages">
        <a href="#/" aria-current=${current('apps') ?? current('app')}>Applications</a>
        <a href="#/templates" aria-current=${current('templates')}>Templates</a>
        <a href="#/events" aria-current=${current('events')}>Events</a>
      </nav>
      <span class=${live ? 'live on' : 'live off'} role="status">${live ? 'live' : 'reconnecting…'}</span>
      <button type="button" onClick=${logout}>Log out</button>
    </header>
    <main id="main" tabindex="-1"><${Page} hash=${hash} /></main>
    <${ConfirmHost} />
  </div>`
}

render(html`<${App} />`, document.getElementById('root')!)
