// Templates: upload a zip (drag and drop, or the file picker) or load a folder on the DM host; validation findings
// shown as a compiler shows them (file:line, level, code); create an application from a loaded template.
import { useEffect, useState } from 'preact/hooks'
import { ApiError, api, type ApplicationSummary } from '../api.js'
import { ErrorLine, html } from '../ui.js'

interface Finding { code: string, level?: string, file?: string, line?: number, message: string }
interface TemplateSummary { name: string, version: string, description: string }

function Findings ({ findings }: { findings: Finding[] }) {
  if (findings.length === 0) return null
  return html`<ul class="findings" aria-label="Validation findings">${findings.map(f => html`<li class=${f.level === 'SEVERE' ? 'severe' : 'warning'}>
    <code>${f.file ?? '?'}${f.line !== undefined ? `:${f.line}` : ''}</code>: ${(f.level ?? 'SEVERE').toLowerCase()} <code>${f.code}</code> ${f.message}
  </li>`)}</ul>`
}

export function TemplatesPage () {
  const [templates, setTemplates] = useState<TemplateSummary[]>([])
  const [result, setResult] = useState<{ ok: boolean, text: string, findings: Finding[] } | undefined>(undefined)
  const [over, setOver] = useState(false)
  const [busy, setBusy] = useState(false)
  const [path, setPath] = useState('')
  const [appName, setAppName] = useState('')
  const [chosen, setChosen] = useState('')
  const [createError, setCreateError] = useState<unknown>(undefined)
  const [created, setCreated] = useState<string | undefined>(undefined)
  const reload = async (): Promise<void> => {
    const list = await api<TemplateSummary[]>('GET', '/api/templates')
    setTemplates(list)
    setChosen(c => c !== '' ? c : list.length > 0 ? `${list[0].name}\u0000${list[0].version}` : '')
  }
  useEffect(() => { void reload() }, [])

  const load = async (body: Blob | { path: string }): Promise<void> => {
    setBusy(true)
    setResult(undefined)
    try {
      const loaded = await api<{ name: string, version: string, errors: Finding[] }>('POST', '/api/templates', body)
      setResult({ ok: true, text: `Loaded ${loaded.name} ${loaded.version}.`, findings: loaded.errors })
      setChosen(`${loaded.name}\u0000${loaded.version}`)
      await reload()
    } catch (err) {
      const findings = err instanceof ApiError && Array.isArray(err.details) ? err.details as Finding[] : []
      setResult({ ok: false, text: `Not stored: ${(err as Error).message}`, findings })
    } finally { setBusy(false) }
  }
  const onDrop = (e: DragEvent): void => {
    e.preventDefault()
    setOver(false)
    const file = e.dataTransfer?.files[0]
    if (file !== undefined) void load(file)
  }
  const onPick = (e: Event): void => {
    const file = (e.target as HTMLInputElement).files?.[0]
    if (file !== undefined) void load(file)
  }
  const create = async (e: Event): Promise<void> => {
    e.preventDefault()
    setCreateError(undefined)
    const [name, version] = chosen.split('\u0000')
    try {
      const app = await api<ApplicationSummary>('POST', '/api/applications', { name: appName, template: { name, version } })
      setCreated(app.name)
    } catch (err) { setCreateError(err) }
  }

  return html`<section class="page">
    <h1>Templates</h1>
    <div class=${'dropzone' + (over ? ' over' : '')} onDragOver=${(e: DragEvent) => { e.preventDefault(); setOver(true) }} onDragLeave=${() => setOver(false)} onDrop=${onDrop}>
      <p>Drop a template zip here, or</p>
      <label class="button">Choose a zip… <input type="file" accept=".zip,application/zip" onChange=${onPick} class="visually-hidden-input" /></label>
      ${busy ? html`<p aria-live="polite">Validating…</p>` : null}
    </div>
    <form class="inline" onSubmit=${(e: Event) => { e.preventDefault(); void load({ path }) }}>
      <label>Or a folder or zip on the DM host <input value=${path} placeholder="/srv/templates/lamp" onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${path === ''}>Load</button>
    </form>
    ${result !== undefined ? html`<div class=${result.ok ? 'result ok' : 'result failed'} role="status">
      <p>${result.text}</p><${Findings} findings=${result.findings} />
    </div>` : null}

    <h2>Loaded templates</h2>
    ${templates.length === 0 ? html`<p class="muted">none</p>` : html`<ul class="templates">${templates.map(t => html`<li>${t.name} ${t.version}${t.description !== '' ? html` <span class="muted">— ${t.description}</span>` : null}</li>`)}</ul>`}

    <h2>Create an application</h2>
    <form class="inline" onSubmit=${create}>
      <label>Template <select value=${chosen} onChange=${(e: Event) => setChosen((e.target as HTMLSelectElement).value)}>
        ${templates.map(t => html`<option value=${`${t.name}\u0000${t.version}`}>${t.name} ${t.version}</option>`)}
      </select></label>
      <label>Name <input required value=${appName} onInput=${(e: Event) => setAppName((e.target as HTMLInputElement).value)} /></label>
      <button class="primary" type="submit" disabled=${chosen === ''}>Create</button>
    </form>
    <${ErrorLine} error=${createError} />
    ${created !== undefined ? html`<p role="status">Created <a href=${'#/app/' + encodeURIComponent(created)}>${created}</a>.</p>` : null}
  </section>`
}
