// The instance drawer: everything about one instance (state and since when, exports, imports held and missing, the
// last problem with the recipe's stderr, its machine, its last events, the tail of the machine's log) and what can
// be done to it.
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, dmHas, enc, type StoredEvent, type Topology, type TopologyInstance } from './api.js'
import { AddInstanceDialog, ReplicateDialog, askAction, askDelete, subtreeOf } from './actions.js'
import { describeLive, stateSince, useRecentEvents } from './live.js'
import { StateBadge, ago, html, time } from './ui.js'

/** A machine's log as the logs API answers (GET /api/applications/:app/logs). */
interface MachineLogs { lines: Array<{ seq: number, at: string, level: string, message: string }>, lastSeq: number, kept: boolean }

/** Events of the instance shown in the drawer, and lines of its machine's log. */
const DRAWER_EVENTS = 10
const LOG_LINES = 40

/** Optional details from the DM's describe and logs APIs, when this DM has them (its OpenAPI document says). */
function useOptional (route: string, url: string, key: unknown): { value?: any, missing: boolean, error?: unknown } {
  const [state, setState] = useState<{ value?: any, missing: boolean, error?: unknown }>({ missing: false })
  useEffect(() => {
    let stopped = false
    if (url === '') { setState({ missing: false }); return }
    void dmHas('GET', route).then(has => {
      if (!has) { if (!stopped) setState({ missing: true }); return }
      api('GET', url).then(value => { if (!stopped) setState({ value, missing: false }) },
        error => { if (!stopped) setState({ missing: false, error }) })
    })
    return () => { stopped = true }
  }, [url, key])
  return state
}

function KeyValues ({ values }: { values: Record<string, unknown> }) {
  const entries = Object.entries(values)
  if (entries.length === 0) return html`<p class="muted">none</p>`
  return html`<dl class="kv">${entries.map(([k, v]) => html`<dt>${k}</dt><dd>${v === null ? html`<em>no value</em>` : String(v)}</dd>`)}</dl>`
}

export function Drawer ({ topology, instance, onSelect, onClose }: { topology: Topology, instance: TopologyInstance, onSelect: (path: string) => void, onClose: () => void }) {
  const [dialog, setDialog] = useState<'add' | 'replicate' | undefined>(undefined)
  const closeButton = useRef<HTMLButtonElement>(null)
  // keyboard users land in the drawer they opened, and leave it with Escape
  useEffect(() => { closeButton.current?.focus() }, [instance.path])
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => { if (e.key === 'Escape' && dialog === undefined && document.querySelector('dialog[open]') === null) onClose() }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [dialog, onClose])
  const live = useRecentEvents().filter(e => e.application === topology.application && e.path === instance.path)
  const app = enc(topology.application)
  // the instance's last events from the DM's history, read again when a live one of it arrives
  const [history, setHistory] = useState<StoredEvent[] | undefined>(undefined)
  useEffect(() => {
    let stopped = false
    api<StoredEvent[]>('GET', `/api/events?app=${app}&path=${enc(instance.path)}&limit=${DRAWER_EVENTS}`)
      .then(list => { if (!stopped) setHistory(list) }, () => { if (!stopped) setHistory(undefined) })
    return () => { stopped = true }
  }, [instance.path, live.length])
  const events = history !== undefined
    ? history.slice().sort((a, b) => b.id - a.id).slice(0, DRAWER_EVENTS).map(e => ({ at: e.at, kind: e.kind, reason: e.reason }))
    : live.slice(-DRAWER_EVENTS).reverse().map(e => ({ at: e.at as string, ...describeLive(e) }))
  // the observability logs API (what `meshconf logs` reads), asked while the machine's agent runs: before, it
  // answers 409 (no agent to ask), which a browser reports as a console error
  const machineStatus = topology.instances.find(i => i.path === instance.machine)?.status
  const logs = useOptional('/api/applications/{app}/logs', machineStatus === 'DEPLOYED_STARTED' ? `/api/applications/${app}/logs?path=${enc(instance.machine)}&tail=${LOG_LINES}` : '',
    instance.status + String(live.length))
  const machine = topology.machines.find(m => m.path === instance.machine)
  const isRoot = instance.path === instance.machine
  const subtree = subtreeOf(topology, instance.path)
  const deletable = subtree.every(i => i.status === 'NOT_DEPLOYED')
  const children = topology.components[instance.component]?.children ?? []
  const since = instance.since ?? stateSince(topology.application, instance.path)
  const problem = instance.problem
  const logLines = ((logs.value as MachineLogs | undefined)?.lines ?? [])
    .map(l => `${time(l.at)} ${l.level.toUpperCase().padEnd(5)} ${l.message}`)

  return html`<aside class="drawer" aria-label=${`Instance ${instance.path}`}>
    <header>
      <h2>${instance.name}</h2>
      <button type="button" class="close" ref=${closeButton} onClick=${onClose} aria-label="Close the drawer">×</button>
    </header>
    <p class="path">${instance.path}</p>
    <dl class="kv">
      <dt>Component</dt><dd>${instance.component}</dd>
      <dt>State</dt><dd><${StateBadge} status=${instance.status} /> ${since !== undefined ? html`<span class="muted">since ${time(since)} (${ago(since)})</span>` : html`<span class="muted">since before this page opened</span>`}</dd>
    </dl>
    <div class="actions">
      <button type="button" onClick=${() => askAction(topology, 'deploy-and-start-all', instance.path)}>Deploy & start</button>
      <button type="button" onClick=${() => askAction(topology, 'stop-all', instance.path)}>Stop</button>
      <button type="button" onClick=${() => askAction(topology, 'undeploy-all', instance.path)}>Undeploy</button>
      ${children.length > 0 ? html`<button type="button" onClick=${() => setDialog('add')}>Add child</button>` : null}
      ${isRoot ? html`<button type="button" onClick=${() => setDialog('replicate')}>Replicate</button>` : null}
      <button type="button" class="danger" disabled=${!deletable} title=${deletable ? '' : 'only an undeployed subtree can be deleted'} onClick=${() => askDelete(topology, instance.path)}>Delete</button>
    </div>

    ${problem !== undefined || instance.lastProblem !== undefined ? html`<section class="problem" aria-label="Last problem">
      <h3>Last problem${problem !== undefined ? html` <span class="muted">(${time(problem.at)}, ${ago(problem.at)}${instance.lastProblem === undefined ? '; recovered since' : ''})</span>` : null}</h3>
      <pre class="problem-text">${problem?.message ?? instance.lastProblem}</pre>
      ${problem !== undefined ? html`<dl class="kv">
        <dt>Step</dt><dd>${problem.step}${problem.plugin !== undefined ? ` (${problem.plugin})` : ''}</dd>
        ${problem.exitCode !== undefined ? html`<dt>Exit code</dt><dd>${problem.exitCode}</dd>` : null}
        ${problem.signal !== undefined ? html`<dt>Signal</dt><dd>${problem.signal}${problem.timedOut === true ? ' (timed out)' : ''}</dd>` : null}
        ${problem.durationMs !== undefined ? html`<dt>Duration</dt><dd>${(problem.durationMs / 1000).toFixed(1)} s</dd>` : null}
      </dl>` : null}
      ${problem?.stderr !== undefined && problem.stderr !== '' ? html`<h4>stderr</h4><pre class="stderr">${problem.stderr}</pre>` : null}
      ${problem?.stdout !== undefined && problem.stdout !== '' ? html`<h4>stdout</h4><pre class="stderr">${problem.stdout}</pre>` : null}
    </section>` : null}

    <section><h3>Exports</h3><${KeyValues} values=${instance.exports} /></section>

    <section>
      <h3>Imports held</h3>
      ${instance.held.length === 0 ? html`<p class="muted">none</p>` : html`<ul class="held">${instance.held.map(h => html`<li>
        <strong>${h.prefix}</strong> from <button type="button" class="link" onClick=${() => onSelect(h.from)}>${h.from}</button>
        ${h.since !== undefined ? html`<span class="muted">since ${time(h.since)}</span>` : null}
      </li>`)}</ul>`}
      <h3>Imports missing</h3>
      ${instance.missing.length === 0 ? html`<p class="muted">none</p>` : html`<ul class="missing">${instance.missing.map(p => html`<li>${p} <span class="muted">(no started exporter held)</span></li>`)}</ul>`}
    </section>

    <section>
      <h3>Machine</h3>
      <dl class="kv">
        <dt>Path</dt><dd><button type="button" class="link" onClick=${() => onSelect(instance.machine)}>${instance.machine}</button></dd>
        <dt>Target</dt><dd>${machine?.targetId ?? '—'}</dd>
        <dt>IP</dt><dd>${machine?.ip ?? '—'}</dd>
        <dt>Machine id</dt><dd>${machine?.machineId ?? '—'}</dd>
        <dt>Agent peer</dt><dd>${machine?.peerId ?? '—'}</dd>
        <dt>Heartbeat</dt><dd>${machine?.lastHeartbeatAt !== undefined ? ago(machine.lastHeartbeatAt) : 'none yet'}</dd>
      </dl>
    </section>

    <section>
      <h3>Last events</h3>
      ${events.length === 0 ? html`<p class="muted">none</p>` : html`<ol class="events">${events.map(e => html`<li><time>${time(e.at)}</time> <span class="muted">${e.kind}</span> ${e.reason}</li>`)}</ol>`}
    </section>

    <section>
      <h3>Machine log (tail)</h3>
      ${logs.missing ? html`<p class="muted">this DM gives no logs</p>`
        : logs.error !== undefined ? html`<p class="muted">${(logs.error as Error).message}</p>`
          : machineStatus !== 'DEPLOYED_STARTED' ? html`<p class="muted">${instance.machine} is ${machineStatus ?? 'unknown'}: its log shows once its agent runs (a terminated machine's kept log: <code>meshconf logs</code>)</p>`
          : html`<pre class="log" aria-label="Machine log">${logLines.slice(-LOG_LINES).join('\n')}</pre>`}
    </section>

    ${dialog === 'add' ? html`<${AddInstanceDialog} topology=${topology} parent=${instance} onClose=${() => setDialog(undefined)} />` : null}
    ${dialog === 'replicate' ? html`<${ReplicateDialog} topology=${topology} root=${instance} onClose=${() => setDialog(undefined)} />` : null}
  </aside>`
}
