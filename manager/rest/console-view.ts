// GET /api/applications/:app/topology: one read that gives the web console an application's whole picture, every
// instance with what its agent last reported it holds (the mesh-resolved imports: from which instance) and what it
// still misses, the machines with their heartbeats, and the graph's components (which children a parent allows).
// Read-only, from the store; the instance tree with states stays GET /api/applications/:app/instances.
import { importedPrefixes, instanceDependencies, instanceExports } from '../../protocol/model/exports.js'
import type { Component } from '../../protocol/model/types.js'
import { DATA_IP_ADDRESS, DATA_LAST_PROBLEM, DATA_MACHINE_ID, DATA_TARGET_ID } from '../constants.js'
import type { Topology, TopologyInstance, TopologyMachine } from '../dto.js'
import { ApplicationNotFoundError } from '../errors.js'
import type { Store, StoredInstance } from '../store.js'
import { applicationParams } from './schemas.js'
import type { RouteSpec } from './server.js'

export function topologyOf (store: Store, application: string): Topology {
  const record = store.getApplication(application)
  if (record === undefined) throw new ApplicationNotFoundError(application)
  const template = store.getTemplate(record.template.name, record.template.version)?.template
  const components: Record<string, Component> = template?.components ?? {}
  const heartbeats = new Map(store.agents(application).map(a => [a.scopedInstancePath, a]))
  const instances: TopologyInstance[] = []
  const machines: TopologyMachine[] = []
  const walk = (instance: StoredInstance, root: StoredInstance): void => {
    const component = components[instance.component]
    const ip = root.data[DATA_IP_ADDRESS]
    const sinceOf = new Map((instance.heldImports ?? []).map(h => [`${h.prefix}\u0000${h.instancePath}`, h.since]))
    const held = Object.entries(instance.imports).flatMap(([prefix, list]) => list.map(i => {
      const since = sinceOf.get(`${prefix}\u0000${i.instancePath}`)
      return { prefix, from: i.instancePath, component: i.component, variables: i.variables, ...(since === undefined ? {} : { since }) }
    }))
    const needs = component === undefined ? [] : instanceDependencies(component, instance).needs
    const missing = instance.missingImports ?? needs.filter(n => !n.optional && (instance.imports[n.prefix] ?? []).length === 0).map(n => n.prefix)
    instances.push({
      path: instance.path, name: instance.name, component: instance.component, status: instance.status,
      machine: root.path,
      exports: component === undefined ? {} : instanceExports(component, instance, ip),
      held, missing,
      ...(instance.statusSince !== undefined ? { since: instance.statusSince } : {}),
      ...(instance.data[DATA_LAST_PROBLEM] !== undefined ? { lastProblem: instance.data[DATA_LAST_PROBLEM] } : {}),
      ...(instance.problem !== undefined ? { problem: instance.problem } : {})
    })
    for (const child of instance.children) walk(child, root)
  }
  for (const root of store.instanceTrees(application)) {
    const agent = heartbeats.get(root.path)
    machines.push({
      path: root.path, ip: root.data[DATA_IP_ADDRESS], machineId: root.data[DATA_MACHINE_ID], targetId: root.data[DATA_TARGET_ID],
      peerId: agent?.peerId, lastHeartbeatAt: agent?.lastHeartbeatAt
    })
    walk(root, root)
  }
  const summary: Topology['components'] = {}
  for (const [name, c] of Object.entries(components)) {
    const imports = [...importedPrefixes(c)].map(([prefix, { optional }]) => ({ prefix, optional }))
    summary[name] = { children: c.children, installer: c.installer, imports }
  }
  return {
    application, template: record.template, components: summary,
    rootComponents: Object.values(components).filter(c => c.installer === 'target').map(c => c.name),
    instances, machines
  }
}

/** The console's read route, GET /api/applications/:app/topology (none without the store). */
export function consoleRoutes (store: Store | undefined): RouteSpec[] {
  if (store === undefined) return []
  return [{
    method: 'GET', url: '/api/applications/:app/topology',
    summary: 'the application as the web console draws it: instances with states, imports held and missing, problems; machines; components',
    params: applicationParams, responses: { 200: { type: 'object', additionalProperties: true } },
    handler: async request => topologyOf(store, (request.params as { app: string }).app)
  }]
}
