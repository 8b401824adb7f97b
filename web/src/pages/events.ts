// Events: the live feed since login, newest first, filtered by application, instance and kind.
import { useState } from 'preact/hooks'
import type { DmEvent } from '../api.js'
import { useRecentEvents } from '../live.js'
import { html, time } from '../ui.js'

/** Rows drawn at once (the feed keeps more). */
const SHOWN_EVENTS = 300

function kindOf (e: DmEvent): string { return typeof e.kind === 'string' ? e.kind : e.type }

export function EventsPage () {
  const events = useRecentEvents()
  const [app, setApp] = useState('')
  const [path, setPath] = useState('')
  const [kind, setKind] = useState('')
  const apps = [...new Set(events.map(e => e.application).filter((a): a is string => typeof a === 'string'))].sort()
  const kinds = [...new Set(events.map(kindOf))].sort()
  const shown: DmEvent[] = []
  for (let i = events.length - 1; i >= 0 && shown.length < SHOWN_EVENTS; i--) {
    const e = events[i]
    if (app !== '' && e.application !== app) continue
    if (kind !== '' && kindOf(e) !== kind) continue
    if (path !== '' && !(typeof e.path === 'string' && e.path.includes(path))) continue
    shown.push(e)
  }
  return html`<section class="page">
    <h1>Events</h1>
    <form class="inline filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Application <select value=${app} onChange=${(e: Event) => setApp((e.target as HTMLSelectElement).value)}><option value="">all</option>${apps.map(a => html`<option value=${a}>${a}</option>`)}</select></label>
      <label>Instance <input value=${path} placeholder="/Apache VM" onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} /></label>
      <label>Kind <select value=${kind} onChange=${(e: Event) => setKind((e.target as HTMLSelectElement).value)}><option value="">all</option>${kinds.map(k => html`<option value=${k}>${k}</option>`)}</select></label>
    </form>
    <p class="muted">${events.length} event(s) since login; showing ${shown.length}.</p>
    <div class="table-wrap"><table class="events-table" aria-live="off">
      <thead><tr><th scope="col">Time</th><th scope="col">Application</th><th scope="col">Kind</th><th scope="col">Instance</th><th scope="col">What</th></tr></thead>
      <tbody>${shown.map(e => html`<tr>
        <td><time>${time(e.at as string)}</time></td><td>${e.application ?? ''}</td><td>${kindOf(e)}</td><td>${e.path ?? ''}</td>
        <td>${String(e.status ?? e.action ?? '')}${typeof e.reason === 'string' ? ` — ${e.reason}` : ''}${e.type === 'template' ? ` ${String(e.name)} ${String(e.version)}` : ''}</td>
      </tr>`)}</tbody>
    </table></div>
  </section>`
}
