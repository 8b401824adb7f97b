// Events: the DM's history (GET /api/events), then the live feed, newest first, filtered by application, instance
// and kind.
import { useEffect, useState } from 'preact/hooks'
import { api, type StoredEvent } from '../api.js'
import { describeLive, useRecentEvents } from '../live.js'
import { ErrorLine, html, time } from '../ui.js'

/** Events read from the history when the page opens, and rows drawn at once. */
const HISTORY_EVENTS = 500
const SHOWN_EVENTS = 300

interface Row { id?: number, at: string, application?: string, path?: string, kind: string, reason: string, actor?: string }

export function EventsPage () {
  const live = useRecentEvents()
  const [history, setHistory] = useState<StoredEvent[]>([])
  const [error, setError] = useState<unknown>(undefined)
  const [app, setApp] = useState('')
  const [path, setPath] = useState('')
  const [kind, setKind] = useState('')
  useEffect(() => {
    api<StoredEvent[]>('GET', `/api/events?limit=${HISTORY_EVENTS}`).then(setHistory, setError)
  }, [])
  // the history, then the live events it does not hold yet (by id), oldest first
  const known = new Set(history.map(e => e.id))
  const rows: Row[] = [
    ...history.slice().sort((a, b) => a.id - b.id),
    ...live.filter(e => typeof e.id !== 'number' || !known.has(e.id)).map(e => ({
      id: typeof e.id === 'number' ? e.id : undefined, at: String(e.at ?? ''),
      application: typeof e.application === 'string' ? e.application : undefined,
      path: typeof e.path === 'string' ? e.path : undefined, ...describeLive(e)
    }))
  ]
  const apps = [...new Set(rows.map(e => e.application).filter((a): a is string => a !== undefined))].sort()
  const kinds = [...new Set(rows.map(e => e.kind))].sort()
  const shown: Row[] = []
  for (let i = rows.length - 1; i >= 0 && shown.length < SHOWN_EVENTS; i--) {
    const e = rows[i]
    if (app !== '' && e.application !== app) continue
    if (kind !== '' && e.kind !== kind) continue
    if (path !== '' && !(e.path ?? '').includes(path)) continue
    shown.push(e)
  }
  return html`<section class="page">
    <h1>Events</h1>
    <form class="inline filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Application <select value=${app} onChange=${(e: Event) => setApp((e.target as HTMLSelectElement).value)}><option value="">all</option>${apps.map(a => html`<option value=${a}>${a}</option>`)}</select></label>
      <label>Instance <input value=${path} placeholder="/Apache VM" onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} /></label>
      <label>Kind <select value=${kind} onChange=${(e: Event) => setKind((e.target as HTMLSelectElement).value)}><option value="">all</option>${kinds.map(k => html`<option value=${k}>${k}</option>`)}</select></label>
    </form>
    <${ErrorLine} error=${error} />
    <p class="muted">${rows.length} event(s); showing the newest ${shown.length} that match.</p>
    <div class="table-wrap"><table class="events-table">
      <thead><tr><th scope="col">Time</th><th scope="col">Application</th><th scope="col">Kind</th><th scope="col">Instance</th><th scope="col">What</th><th scope="col">By</th></tr></thead>
      <tbody>${shown.map(e => html`<tr key=${e.id ?? e.at + e.reason}>
        <td><time>${time(e.at)}</time></td><td>${e.application ?? ''}</td><td>${e.kind}</td><td>${e.path ?? ''}</td><td>${e.reason}</td><td>${e.actor ?? ''}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`
}
