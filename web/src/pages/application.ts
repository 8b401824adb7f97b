// One application: its instance tree and topology graph with live states, a filter by component, the actions on the
// whole application, and the drawer of the instance picked in the tree or the graph.
import { useEffect, useState } from 'preact/hooks'
import { dmHas, type Topology, type TopologyInstance } from '../api.js'
import { AddInstanceDialog, ScaleDialog, askAction } from '../actions.js'
import { Drawer } from '../drawer.js'
import { TopologyGraph, edgesOf } from '../graph.js'
import { useTopology } from '../live.js'
import { ErrorLine, StateBadge, html } from '../ui.js'
import { hasProblem } from './applications.js'

function depthOf (path: string): number { return path.split('/').length - 2 }

function Tree ({ topology, filter, selected, onSelect }: { topology: Topology, filter: string, selected?: string, onSelect: (path: string) => void }) {
  const shownMachines = new Set(topology.instances.filter(i => filter === '' || i.component === filter).map(i => i.machine))
  const rows = topology.instances.filter(i => shownMachines.has(i.machine) && (filter === '' || i.component === filter || i.path === i.machine))
  return html`<ul class="tree" aria-label="Instances">
    ${rows.map(i => html`<li key=${i.path} style=${`--depth:${depthOf(i.path)}`} data-path=${i.path} data-status=${i.status}>
      <button type="button" class=${'row' + (i.path === selected ? ' selected' : '')} aria-pressed=${i.path === selected} onClick=${() => onSelect(i.path)}>
        <span class="name">${i.name}</span> <span class="component">${i.component}</span>
        <${StateBadge} status=${i.status} />
        ${i.lastProblem !== undefined || i.status === 'PROBLEM' ? html`<span class="flag-problem">⚠ problem</span>` : null}
        ${i.missing.length > 0 ? html`<span class="flag-missing">missing ${i.missing.join(', ')}</span>` : null}
      </button>
    </li>`)}
  </ul>`
}

export function ApplicationPage ({ name }: { name: string }) {
  const { topology, error } = useTopology(name)
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const [filter, setFilter] = useState('')
  const [dialog, setDialog] = useState<'root' | 'scale' | undefined>(undefined)
  const [canScale, setCanScale] = useState(false)
  useEffect(() => { void dmHas('POST', '/api/applications/{app}/scale').then(setCanScale) }, [])
  if (topology === undefined) return html`<section class="page"><h1>${name}</h1>${error !== undefined ? html`<${ErrorLine} error=${error} />` : html`<p class="muted">Loading…</p>`}</section>`
  const components = [...new Set(topology.instances.map(i => i.component))].sort()
  const instance: TopologyInstance | undefined = selected === undefined ? undefined : topology.instances.find(i => i.path === selected)
  const edges = edgesOf(topology)
  const started = topology.instances.filter(i => i.status === 'DEPLOYED_STARTED').length
  return html`<section class=${'page app-page' + (instance !== undefined ? ' with-drawer' : '')}>
    <div class="page-head">
      <h1>${topology.application}</h1>
      <span class="muted">${topology.template.name} ${topology.template.version} · ${topology.instances.length} instances, ${started} started, ${topology.machines.length} machines</span>
      ${hasProblem(topology) ? html`<span class="flag-problem">⚠ problem</span>` : null}
    </div>
    <${ErrorLine} error=${error} />
    <div class="toolbar" role="toolbar" aria-label="Application actions">
      <button type="button" class="primary" onClick=${() => askAction(topology, 'deploy-and-start-all')}>Deploy & start all</button>
      <button type="button" onClick=${() => askAction(topology, 'stop-all')}>Stop all</button>
      <button type="button" onClick=${() => askAction(topology, 'undeploy-all')}>Undeploy all</button>
      <button type="button" onClick=${() => setDialog('root')}>Add machine</button>
      <button type="button" disabled=${!canScale} title=${canScale ? '' : 'this DM has no scale API'} onClick=${() => setDialog('scale')}>Scale…</button>
      <label class="filter">Component
        <select value=${filter} onChange=${(e: Event) => setFilter((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          ${components.map(c => html`<option value=${c}>${c}</option>`)}
        </select>
      </label>
    </div>
    <div class="panes">
      <div class="pane tree-pane"><h2>Instances</h2><${Tree} topology=${topology} filter=${filter} selected=${selected} onSelect=${setSelected} /></div>
      <div class="pane graph-pane">
        <h2>Topology</h2>
        <${TopologyGraph} topology=${topology} filter=${filter} selected=${selected} onSelect=${setSelected} />
        <p class="legend"><span class="legend-import">→ import held (importer → exporter)</span> <span class="legend-missing">⇢ import missing</span></p>
        <details class="edges">
          <summary>Imports as a list (${edges.filter(e => !e.missing).length} held, ${edges.filter(e => e.missing).length} missing)</summary>
          <ul>${edges.map(e => html`<li>${e.from} → ${e.missing ? html`<em>${e.prefix}: missing</em>` : `${e.to} (${e.prefix})`}</li>`)}</ul>
        </details>
      </div>
    </div>
    ${instance !== undefined ? html`<${Drawer} topology=${topology} instance=${instance} onSelect=${setSelected} onClose=${() => setSelected(undefined)} />` : null}
    ${dialog === 'root' ? html`<${AddInstanceDialog} topology=${topology} onClose=${() => setDialog(undefined)} />` : null}
    ${dialog === 'scale' ? html`<${ScaleDialog} topology=${topology} onClose=${() => setDialog(undefined)} />` : null}
  </section>`
}
