// The topology graph (Cytoscape.js): machines (root instances) as groups, their instances as nodes coloured by state
// and labelled with it, import edges from importer to exporter as the agents report them held (mesh-resolved), and
// every missing mandatory import as a dashed edge to a hollow "missing" node. Positions are computed here (columns
// by import depth: exporters left, importers right), so that a change moves nothing but what changed.
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape'
import { useEffect, useRef } from 'preact/hooks'
import type { Topology, TopologyInstance } from './api.js'
import { STATE_COLOURS, html } from './ui.js'

const NODE_W = 160
const NODE_H = 46
const GAP_Y = 16
const COLUMN_W = 280
const MAX_MACHINES_PER_COLUMN = 12

export interface GraphEdge { from: string, to: string, prefix: string, missing: boolean }

/** The edges the graph draws (also listed as text next to it). */
export function edgesOf (topology: Topology): GraphEdge[] {
  const edges: GraphEdge[] = []
  for (const i of topology.instances) {
    for (const held of i.held) edges.push({ from: i.path, to: held.from, prefix: held.prefix, missing: false })
    for (const prefix of i.missing) edges.push({ from: i.path, to: `?${i.path}>${prefix}`, prefix, missing: true })
  }
  return edges
}

/** Import depth of each component: 0 for one that imports nothing, else 1 + the deepest component it imports. */
function depths (topology: Topology): Map<string, number> {
  const result = new Map<string, number>()
  const visiting = new Set<string>()
  const depth = (name: string): number => {
    const known = result.get(name)
    if (known !== undefined) return known
    if (visiting.has(name)) return 0 // a cycle (allowed when optional): cut it
    visiting.add(name)
    const imports = topology.components[name]?.imports ?? []
    const d = imports.length === 0 ? 0 : 1 + Math.max(...imports.map(i => topology.components[i.prefix] !== undefined ? depth(i.prefix) : 0))
    visiting.delete(name)
    result.set(name, d)
    return d
  }
  Object.keys(topology.components).forEach(depth)
  return result
}

/** Node positions; `vertical` (a box taller than wide: a phone) puts the columns one under the other. */
function positions (topology: Topology, vertical: boolean): Map<string, { x: number, y: number }> {
  const componentDepth = depths(topology)
  const byMachine = new Map<string, TopologyInstance[]>()
  for (const i of topology.instances) {
    const list = byMachine.get(i.machine) ?? []
    list.push(i)
    byMachine.set(i.machine, list)
  }
  const columns = new Map<number, string[]>()
  for (const [machine, list] of byMachine) {
    const d = Math.max(...list.map(i => componentDepth.get(i.component) ?? 0))
    columns.set(d, [...(columns.get(d) ?? []), machine])
  }
  const result = new Map<string, { x: number, y: number }>()
  let x = 0
  for (const d of [...columns.keys()].sort((a, b) => a - b)) {
    const machines = columns.get(d) ?? []
    for (let start = 0; start < machines.length; start += MAX_MACHINES_PER_COLUMN) {
      let y = 0
      for (const machine of machines.slice(start, start + MAX_MACHINES_PER_COLUMN)) {
        const inside = (byMachine.get(machine) ?? []).filter(i => i.path !== machine)
        if (inside.length === 0) result.set(machine, { x, y })
        inside.forEach((i, k) => result.set(i.path, { x, y: y + k * (NODE_H + GAP_Y) }))
        for (const i of inside) for (const prefix of i.missing) result.set(`?${i.path}>${prefix}`, { x: x + COLUMN_W * 0.55, y: (result.get(i.path)?.y ?? y) + NODE_H })
        y += Math.max(1, inside.length) * (NODE_H + GAP_Y) + 60
      }
      x += COLUMN_W
    }
  }
  if (vertical) for (const [id, p] of result) result.set(id, { x: p.y * 1.6, y: p.x * 0.6 })
  return result
}

function elementsOf (topology: Topology, filter: string): ElementDefinition[] {
  const roots = new Set(topology.machines.map(m => m.path))
  const shown = (i: TopologyInstance): boolean => filter === '' || i.component === filter
  const machinesShown = new Set(topology.instances.filter(shown).map(i => i.machine))
  const elements: ElementDefinition[] = []
  const visible = new Set<string>()
  for (const i of topology.instances) {
    const isRoot = roots.has(i.path)
    if (isRoot ? !machinesShown.has(i.path) : !shown(i)) continue
    visible.add(i.path)
    elements.push({
      group: 'nodes',
      data: {
        id: i.path, label: isRoot ? `${i.name} · ${i.status}` : `${i.name}\n${i.status}`, status: i.status,
        colour: STATE_COLOURS[i.status], ...(isRoot ? {} : { parent: i.machine })
      },
      classes: isRoot ? 'machine' : 'instance'
    })
  }
  for (const e of edgesOf(topology)) {
    if (!visible.has(e.from)) continue
    if (e.missing) {
      elements.push({ group: 'nodes', data: { id: e.to, label: `${e.prefix}: missing` }, classes: 'missing' })
    } else if (!visible.has(e.to)) continue
    elements.push({ group: 'edges', data: { id: `${e.from}>${e.to}>${e.prefix}`, source: e.from, target: e.to, label: e.prefix }, classes: e.missing ? 'missing' : 'import' })
  }
  return elements
}

const STYLE: cytoscape.StylesheetJson = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'font-family': 'system-ui, sans-serif', 'text-wrap': 'wrap', color: '#1b1f24' } },
  {
    selector: 'node.instance',
    style: {
      shape: 'round-rectangle', width: NODE_W, height: NODE_H, 'background-color': 'data(colour)', 'border-width': 1,
      'border-color': '#44505c', 'text-valign': 'center', 'text-halign': 'center', 'text-max-width': `${NODE_W - 8}px`
    }
  },
  {
    selector: 'node.machine',
    style: {
      shape: 'round-rectangle', 'background-color': 'data(colour)', 'background-opacity': 0.22, 'border-width': 2,
      'border-color': 'data(colour)', 'text-valign': 'top', 'text-halign': 'center', 'font-weight': 'bold', padding: '14px',
      width: NODE_W, height: NODE_H
    }
  },
  { selector: 'node.machine:parent', style: { 'background-opacity': 0.12 } },
  {
    selector: 'node.missing',
    style: { shape: 'ellipse', width: 18, height: 18, 'background-color': '#fff', 'border-width': 2, 'border-style': 'dashed', 'border-color': '#b03a2e', 'text-valign': 'bottom', color: '#b03a2e' }
  },
  { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', label: 'data(label)', 'font-size': 9, 'text-background-color': '#fff', 'text-background-opacity': 0.8 } },
  { selector: 'edge.import', style: { 'line-color': '#3b5b7a', 'target-arrow-color': '#3b5b7a' } },
  { selector: 'edge.missing', style: { 'line-style': 'dashed', 'line-color': '#b03a2e', 'target-arrow-color': '#b03a2e' } },
  { selector: 'node.selected-instance', style: { 'border-width': 4, 'border-color': '#0b5394' } }
]

export function TopologyGraph ({ topology, filter, selected, onSelect }: { topology: Topology, filter: string, selected?: string, onSelect: (path: string) => void }) {
  const container = useRef<HTMLDivElement>(null)
  const cyRef = useRef<Core | undefined>(undefined)
  const select = useRef(onSelect)
  select.current = onSelect
  const latest = useRef({ topology, vertical: false })
  latest.current.topology = topology

  /** Moves every node where it belongs: always when forced, else only when the box changed orientation. */
  const place = (cy: Core, force: boolean): void => {
    const box = container.current
    if (box === null || cy.destroyed()) return
    const vertical = box.clientHeight > box.clientWidth * 1.1
    if (!force && vertical === latest.current.vertical) return
    latest.current.vertical = vertical
    const where = positions(latest.current.topology, vertical)
    cy.batch(() => {
      cy.nodes().forEach(n => {
        const p = where.get(n.id())
        if (p !== undefined && !n.isParent()) n.position(p)
      })
    })
  }

  useEffect(() => {
    const cy = cytoscape({
      container: container.current, style: STYLE, elements: [], layout: { name: 'preset' },
      minZoom: 0.1, maxZoom: 3, wheelSensitivity: 0.3, boxSelectionEnabled: false, autoungrabify: true
    })
    cy.on('tap', 'node.instance, node.machine', e => { select.current(e.target.id()) })
    cyRef.current = cy
    // the canvas follows its box (a rotated phone, a drawer, a resized window)
    const resized = new ResizeObserver(() => {
      if (cy.destroyed()) return
      cy.resize()
      place(cy, false)
      cy.fit(undefined, 24)
    })
    resized.observe(container.current!)
    // for tools and tests: the graph's model, as drawn
    Object.defineProperty(container.current, 'cy', { value: cy, configurable: true })
    return () => { resized.disconnect(); cy.destroy(); cyRef.current = undefined }
  }, [])

  useEffect(() => {
    const cy = cyRef.current
    if (cy === undefined) return
    const wanted = elementsOf(topology, filter)
    const ids = new Set(wanted.map(e => e.data.id as string))
    const where = positions(topology, latest.current.vertical)
    let changed = false
    cy.batch(() => {
      cy.elements().filter(e => !ids.has(e.id())).forEach(e => { changed = true; cy.remove(e) })
      for (const definition of wanted) {
        const existing = cy.getElementById(definition.data.id as string)
        if (existing.nonempty() && existing.data('parent') === definition.data.parent) {
          // id, parent and edge ends are fixed for an element's life (a change of them is a new element)
          const { id: _id, parent: _parent, source: _source, target: _target, ...rest } = definition.data
          existing.data(rest)
          existing.classes(definition.classes as string)
        } else {
          if (existing.nonempty()) cy.remove(existing)
          cy.add({ ...definition, ...(definition.group === 'nodes' ? { position: where.get(definition.data.id as string) ?? { x: 0, y: 0 } } : {}) })
          changed = true
        }
      }
    })
    place(cy, true)
    if (changed) cy.fit(undefined, 24)
  }, [topology, filter])

  useEffect(() => {
    const cy = cyRef.current
    if (cy === undefined) return
    cy.nodes('.selected-instance').removeClass('selected-instance')
    if (selected !== undefined) cy.getElementById(selected).addClass('selected-instance')
  }, [selected, topology, filter])

  return html`<div class="graph" ref=${container} role="img" aria-label="Topology graph: machines as groups, instances with their states, import edges from importer to exporter"></div>`
}
