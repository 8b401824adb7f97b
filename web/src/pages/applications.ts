// Applications: each with its template, its instances counted by state, its machines, and whether any instance has
// a problem. Kept current by the live events (an application's row is read again after its events).
import { useEffect, useState } from 'preact/hooks'
import { api, enc, subscribe, type ApplicationSummary, type Status, type Topology } from '../api.js'
import { eventApplication, REFRESH_MS } from '../live.js'
import { ErrorLine, STATES, StateBadge, html } from '../ui.js'

interface Row { summary: ApplicationSummary, topology?: Topology, error?: unknown }

export function hasProblem (topology: Topology): boolean {
  return topology.instances.some(i => i.status === 'PROBLEM' || i.lastProblem !== undefined)
}

export function ApplicationsPage () {
  const [rows, setRows] = useState<Row[] | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  useEffect(() => {
    let stopped = false
    const readOne = async (summary: ApplicationSummary): Promise<Row> => {
      try { return { summary, topology: await api<Topology>('GET', `/api/applications/${enc(summary.name)}/topology`) } } catch (err) { return { summary, error: err } }
    }
    const readAll = async (): Promise<void> => {
      try {
        const list = await api<ApplicationSummary[]>('GET', '/api/applications')
        const read = await Promise.all(list.map(readOne))
        if (!stopped) { setRows(read); setError(undefined) }
      } catch (err) { if (!stopped) setError(err) }
    }
    const dirty = new Set<string>()
    let all = false
    let timer: number | undefined
    const flush = async (): Promise<void> => {
      timer = undefined
      if (all) { all = false; dirty.clear(); await readAll(); return }
      const names = [...dirty]
      dirty.clear()
      for (const name of names) {
        const row = await readOne({ name } as ApplicationSummary)
        if (!stopped) setRows(rs => rs?.map(r => r.summary.name === name ? { ...r, topology: row.topology, error: row.error } : r))
      }
    }
    const unsubscribe = subscribe(event => {
      const app = eventApplication(event)
      if (event.type === 'application' || app === undefined) all = all || event.type === 'application'
      else dirty.add(app)
      if (all || dirty.size > 0) timer ??= window.setTimeout(() => { void flush() }, REFRESH_MS)
    })
    void readAll()
    return () => { stopped = true; unsubscribe(); if (timer !== undefined) clearTimeout(timer) }
  }, [])

  return html`<section class="page">
    <div class="page-head"><h1>Applications</h1><a class="button" href="#/templates">New application…</a></div>
    <${ErrorLine} error=${error} />
    ${rows === undefined ? html`<p class="muted">Loading…</p>` : rows.length === 0
      ? html`<p>No application yet: <a href="#/templates">upload a template and create one</a>.</p>`
      : html`<div class="table-wrap"><table class="apps">
        <thead><tr><th scope="col">Application</th><th scope="col">Template</th><th scope="col">Instances by state</th><th scope="col">Machines</th><th scope="col">Problem</th></tr></thead>
        <tbody>${rows.map(r => html`<tr>
          <td data-label="Application"><a href=${'#/app/' + enc(r.summary.name)}>${r.summary.name}</a></td>
          <td data-label="Template">${r.summary.template.name} ${r.summary.template.version}</td>
          <td data-label="Instances">${r.topology === undefined ? html`<${ErrorLine} error=${r.error} />` : html`<ul class="counts">${STATES.map(s => {
            const n = r.topology!.instances.filter(i => i.status === s).length
            return n === 0 ? null : html`<li><${StateBadge} status=${s as Status} /> ${n}</li>`
          })}</ul>`}</td>
          <td data-label="Machines">${r.topology?.machines.length ?? ''}</td>
          <td data-label="Problem">${r.topology !== undefined && hasProblem(r.topology) ? html`<span class="flag-problem">⚠ problem</span>` : html`<span class="muted">none</span>`}</td>
        </tr>`)}</tbody>
      </table></div>`}
  </section>`
}
