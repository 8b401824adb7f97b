// The operations on an application, each behind a dialog that says what will happen before it is done.
import { useState } from 'preact/hooks'
import { api, enc, type Topology, type TopologyInstance } from './api.js'
import { ErrorLine, Modal, confirmAction, html } from './ui.js'

type Action = 'deploy-and-start-all' | 'stop-all' | 'undeploy-all'

const ACTION_WORDS: Record<Action, { label: string, verb: string, effect: string }> = {
  'deploy-and-start-all': { label: 'Deploy & start', verb: 'deploys and starts', effect: 'Machines without one are created on their target; each instance starts once its imports are resolved.' },
  'stop-all': { label: 'Stop', verb: 'stops', effect: 'Stop recipes run; the instances stay deployed and their exports leave the mesh.' },
  'undeploy-all': { label: 'Undeploy', verb: 'undeploys', effect: 'Instances are stopped and undeployed; machines are terminated.' }
}

export function subtreeOf (topology: Topology, path: string): TopologyInstance[] {
  return topology.instances.filter(i => i.path === path || i.path.startsWith(path + '/'))
}

/** Deploy & start, stop or undeploy a subtree (path) or the whole application (no path). */
export function askAction (topology: Topology, action: Action, path?: string): void {
  const words = ACTION_WORDS[action]
  const scope = path === undefined ? topology.instances : subtreeOf(topology, path)
  const what = path === undefined ? `every instance of ${topology.application}` : `${path} and the ${scope.length - 1} instance(s) under it`
  confirmAction({
    title: `${words.label} ${path ?? 'all'}?`,
    body: html`<p>This ${words.verb} ${what} (${scope.length} in all).</p><p>${words.effect}</p>`,
    confirmLabel: `${words.label} ${scope.length} instance(s)`,
    danger: action === 'undeploy-all',
    run: async () => api('POST', `/api/applications/${enc(topology.application)}/actions`, { action, ...(path === undefined ? {} : { path }) })
  })
}

export function askDelete (topology: Topology, path: string): void {
  const scope = subtreeOf(topology, path)
  confirmAction({
    title: `Delete ${path}?`,
    body: html`<p>This removes ${path} and the ${scope.length - 1} instance(s) under it from ${topology.application}. It cannot be undone.</p>`,
    confirmLabel: `Delete ${scope.length} instance(s)`,
    danger: true,
    run: async () => api('DELETE', `/api/applications/${enc(topology.application)}/instances?path=${enc(path)}`)
  })
}

/** Adds a child under `parent`, or a root (a machine) when parent is undefined; the components offered are those
 * the graph allows there. */
export function AddInstanceDialog ({ topology, parent, onClose }: { topology: Topology, parent?: TopologyInstance, onClose: () => void }) {
  const allowed = parent === undefined ? topology.rootComponents : topology.components[parent.component]?.children ?? []
  const [component, setComponent] = useState(allowed[0] ?? '')
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>(undefined)
  const where = parent === undefined ? `a new machine (root instance) of ${topology.application}` : `a child of ${parent.path}`
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      await api('POST', `/api/applications/${enc(topology.application)}/instances`, { name, component, ...(parent === undefined ? {} : { parentPath: parent.path }) })
      onClose()
    } catch (err) { setError(err) }
  }
  return html`<${Modal} title=${parent === undefined ? 'Add a machine' : `Add a child to ${parent.name}`} onClose=${onClose}>
    ${allowed.length === 0
      ? html`<p>The graph allows no component here.</p><div class="buttons"><button type="button" onClick=${onClose}>Close</button></div>`
      : html`<form onSubmit=${submit}>
        <p>Adds ${where}, not deployed: deploy it afterwards.</p>
        <label>Component <select value=${component} onChange=${(e: Event) => setComponent((e.target as HTMLSelectElement).value)}>
          ${allowed.map(c => html`<option value=${c}>${c}</option>`)}
        </select></label>
        <label>Name <input required value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} pattern="[A-Za-z0-9_.\\-]([A-Za-z0-9 _.\\-]*[A-Za-z0-9_.\\-])?" /></label>
        <${ErrorLine} error=${error} />
        <div class="buttons"><button type="button" onClick=${onClose}>Cancel</button><button class="primary" type="submit">Add ${component}</button></div>
      </form>`}
  </${Modal}>`
}

export function ReplicateDialog ({ topology, root, onClose }: { topology: Topology, root: TopologyInstance, onClose: () => void }) {
  const [name, setName] = useState(`${root.name} copy`)
  const [error, setError] = useState<unknown>(undefined)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    try {
      await api('POST', `/api/applications/${enc(topology.application)}/instances/replicate`, { path: root.path, newName: name })
      onClose()
    } catch (err) { setError(err) }
  }
  return html`<${Modal} title=${`Replicate ${root.name}`} onClose=${onClose}>
    <form onSubmit=${submit}>
      <p>Copies ${root.path} and its ${subtreeOf(topology, root.path).length - 1} instance(s) under a new root, not deployed.</p>
      <label>New name <input required value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      <${ErrorLine} error=${error} />
      <div class="buttons"><button type="button" onClick=${onClose}>Cancel</button><button class="primary" type="submit">Replicate</button></div>
    </form>
  </${Modal}>`
}

interface ScalePlan { component: string, from: number, to: number, add?: string[], remove?: string[], [more: string]: unknown }

/** Scale a component to N machines: the DM's plan first (a dry run), then the same request for real. */
export function ScaleDialog ({ topology, onClose, initial }: { topology: Topology, onClose: () => void, initial?: string }) {
  const carried = [...new Set(topology.instances.filter(i => i.path !== i.machine).map(i => i.component))].sort()
  const [component, setComponent] = useState(initial ?? carried[0] ?? '')
  const count = (c: string): number => new Set(topology.instances.filter(i => i.component === c).map(i => i.machine)).size
  const [target, setTarget] = useState(count(initial ?? carried[0] ?? ''))
  // the machine to replicate: needed when the component alone is ambiguous (the DM says so)
  const [root, setRoot] = useState('')
  const carriers = (c: string): string[] => [...new Set(topology.instances.filter(i => i.component === c).map(i => i.machine))]
  const [plan, setPlan] = useState<ScalePlan | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const url = `/api/applications/${enc(topology.application)}/scale`
  const preview = async (e: Event): Promise<void> => {
    e.preventDefault()
    setError(undefined)
    try { setPlan(await api<ScalePlan>('POST', url, { component, count: target, dryRun: true, ...(root === '' ? {} : { root }) })) } catch (err) { setError(err); setPlan(undefined) }
  }
  const run = async (): Promise<void> => {
    setBusy(true)
    try { await api('POST', url, { component, count: target, ...(root === '' ? {} : { root }) }); onClose() } catch (err) { setError(err); setBusy(false) }
  }
  const list = (paths: unknown): string => Array.isArray(paths) && paths.length > 0 ? paths.map(p => typeof p === 'string' ? p : (p as { path?: string }).path ?? JSON.stringify(p)).join(', ') : 'none'
  return html`<${Modal} title="Scale a component" onClose=${onClose}>
    <form onSubmit=${preview}>
      <label>Component <select value=${component} onChange=${(e: Event) => { const c = (e.target as HTMLSelectElement).value; setComponent(c); setTarget(count(c)); setRoot(''); setPlan(undefined) }}>
        ${carried.map(c => html`<option value=${c}>${c} (on ${count(c)} machine(s))</option>`)}
      </select></label>
      <label>Machine to replicate <select value=${root} onChange=${(e: Event) => { setRoot((e.target as HTMLSelectElement).value); setPlan(undefined) }}>
        <option value="">any carrying ${component}</option>
        ${carriers(component).map(r => html`<option value=${r}>${r}</option>`)}
      </select></label>
      <label>Machines <input type="number" min="1" max="500" required value=${target} onInput=${(e: Event) => { setTarget(Number((e.target as HTMLInputElement).value)); setPlan(undefined) }} /></label>
      <div class="buttons"><button type="button" onClick=${onClose}>Cancel</button><button type="submit">Preview</button></div>
    </form>
    ${plan !== undefined ? html`<div class="plan" aria-live="polite">
      <h3>Plan</h3>
      <p>${component}: ${String(plan.from ?? count(component))} → ${String(plan.to ?? target)} machine(s)</p>
      <p>Adds: ${list(plan.add ?? plan.added)}</p>
      <p>Removes (undeployed first, then deleted): ${list(plan.remove ?? plan.removed)}</p>
      <div class="buttons">${busy ? html`<span aria-live="polite">Scaling… (a removed machine is undeployed first)</span>` : null}<button type="button" class="primary" disabled=${busy} onClick=${run}>Scale ${component} to ${target}</button></div>
    </div>` : null}
    <${ErrorLine} error=${error} />
  </${Modal}>`
}
