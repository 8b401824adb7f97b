// The instance drawer: everything about one instance (state and since when, exports, imports held and missing, the
// last problem with the recipe's stderr, its machine, its last events, the tail of the machine's log) and what can
// be done to it.
import { useEffect, useState } from 'preact/hooks'
import { api, dmHas, enc, type Topology, type TopologyInstance } from './api.js'
import { AddInstanceDialog, ReplicateDialog, askAction, askDelete, subtreeOf } from './actions.js'
import { stateSince, useRecentEvents } from './live.js'
import { StateBadge, ago, html, time } from './ui.js'

/** Events of the instance shown in the drawer. */
const DRAWER_EVENTS = 10

/** Optional details from the DM's describe and logs APIs, when this DM has them (its OpenAPI document says). */
function useOptional (route: string, url: string, key: unknown): { value?: any, missing: boolean, error?: unknown } {
  const [state, setState] = useState<{ value?: any, missing: boolean, error?: unknown }>({ missing: false })
  useEffect(() => {
    let stopped = false
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
  const events = useRecentEvents().filter(e => e.application === topology.application && e.path === instance.path).slice(-DRAWER_EVENTS).reverse()
  const app = enc(topology.application)
  const describe = useOptional('/api/applications/{app}/instances/describe', `/api/applications/${app}/instances/describe?path=${enc(instance.path)}`, instance.status + String(instance.lastProblem))
  const logs = useOptional('/api/applications/{app}/logs', `/api/applications/${app}/logs?path=${enc(instance.machine)}&tail=40`, instance.status)
  const machine = topology.machines.find(m => m.path === instance.machine)
  const isRoot = instance.path === instance.machine
  const subtree = subtreeOf(topology, instance.path)
  const deletable = subtree.every(i => i.status === 'NOT_DEPLOYED')
  const children = topology.components[instance.component]?.children ?? []
  const since = describe.value?.since ?? describe.value?.statusSince ?? stateSince(topology.application, instance.path)
  const problem = describe.value?.lastProblem ?? describe.value?.problem
  const stderr = typeof problem === 'object' && problem !== null ? problem.stderr : undefined
  const problemText = typeof problem === 'object' && problem !== null ? problem.message ?? JSON.stringify(problem) : problem ?? instance.lastProblem
  const logLines: string[] = Array.isArray(logs.value) ? logs.value.map((l: unknown) => typeof l === 'string' ? l : JSON.stringify(l))
    : typeof logs.value?.text === 'string' ? logs.value.text.split('\n') : Array.isArray(logs.value?.lines) ? logs.value.lines : []

  return html`<aside class="drawer" aria-label=${`Instance ${instance.path}`}>
    <header>
      <h2>${instance.name}</h2>
      <button type="button" class="close" onClick=${onClose} aria-label="Close the drawer">×</button>
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

    ${problemText !== undefined ? html`<section class="problem" aria-label="Last problem">
      <h3>Last problem</h3>
      <pre class="problem-text">${problemText}</pre>
      ${stderr !== undefined && stderr !== '' ? html`<h4>stderr</h4><pre class="stderr">${stderr}</pre>` : null}
    </section>` : null}

    <section><h3>Exports</h3><${KeyValues} values=${instance.exports} /></section>

    <section>
      <h3>Imports held</h3>
      ${instance.held.length === 0 ? html`<p class="muted">none</p>` : html`<ul class="held">${instance.held.map(h => html`<li>
        <strong>${h.prefix}</strong> from <button type="button" class="link" onClick=${() => onSelect(h.from)}>${h.from}</button>
        ${describeSince(describe.value, h.prefix, h.from)}
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
        <dt>Heartbeat</dt><dd>${machine?.lastHeartbeatAt !== undefined ? ago(machine.lastHeartbeatAt) : 'none yet'}</dd>
      </dl>
    </section>

    <section>
      <h3>Last events</h3>
      ${events.length === 0 ? html`<p class="muted">none since this page opened</p>` : html`<ol class="events">${events.map(e => html`<li><time>${time(e.at as string)}</time> ${String(e.status ?? e.type)}${typeof e.reason === 'string' ? ` — ${e.reason}` : ''}</li>`)}</ol>`}
    </section>

    <section>
      <h3>Machine log (tail)</h3>
      ${logs.missing ? html`<p class="muted">this DM gives no logs</p>` : html`<pre class="log">${logLines.slice(-40).join('\n')}</pre>`}
    </section>

    ${dialog === 'add' ? html`<${AddInstanceDialog} topology=${topology} parent=${instance} onClose=${() => setDialog(undefined)} />` : null}
    ${dialog === 'replicate' ? html`<${ReplicateDialog} topology=${topology} root=${instance} onClose=${() => setDialog(undefined)} />` : null}
  </aside>`
}

function describeSince (describe: any, prefix: string, from: string): unknown {
  const held = describe?.imports?.held ?? describe?.held
  if (!Array.isArray(held)) return null
  const match = held.find((h: any) => (h.prefix === prefix || h.prefix === undefined) && (h.from === from || h.instancePath === from))
  return match?.since !== undefined ? html`<span class="muted">since ${time(match.since)}</span>` : null
}
