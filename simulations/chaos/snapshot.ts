// What the invariant checker sees, read from the agents themselves (their saved state, Apache's rendered config),
// never from the DM: the DM may be the thing that was just killed.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { INSTANCES_FOLDER, STATE_FILE_NAME } from '../../protocol/agent-layout.js'
import type { SavedAgentState } from '../../agent/state.js'
import { fillStatuses } from '../../protocol/lifecycle.js'
import { instanceExports } from '../../protocol/model/exports.js'
import { instanceFolderName } from '../../protocol/agent-layout.js'
import type { Component, Instance } from '../../protocol/model/types.js'
import type { ApplicationSnapshot, InstanceView } from './invariant.js'

/** Where Apache's recipe renders its balancer config, under the instance's folder (LAMP's apache.sh). */
const APACHE_CONFIG = join('run', 'apache.conf')

/** One agent's saved state, or undefined while it has none (or it is being replaced: read again later). */
export function readAgentState (stateDir: string): SavedAgentState | undefined {
  try {
    const state = JSON.parse(readFileSync(join(stateDir, STATE_FILE_NAME), 'utf8')) as SavedAgentState
    fillStatuses(state.model.instance)
    return state
  } catch {
    return undefined
  }
}

function walk (instance: Instance, visit: (i: Instance) => void): void {
  visit(instance)
  for (const child of instance.children) walk(child, visit)
}

/** The instances of one agent with their states and the exporter paths they hold. */
export function instanceViews (state: SavedAgentState): InstanceView[] {
  const views: InstanceView[] = []
  walk(state.model.instance, instance => {
    const imports: Record<string, string[]> = {}
    for (const [prefix, list] of Object.entries(state.imports[instance.path] ?? {})) imports[prefix] = list.map(i => i.instancePath)
    views.push({ path: instance.path, component: instance.component, status: instance.status, imports })
  })
  return views
}

/** `member = <url>` lines of a rendered Apache config, or null when there is no config. */
export function parseBalancerMembers (config: string | undefined): string[] | null {
  if (config === undefined) return null
  return config.split('\n').map(l => /^member\s*=\s*(\S+)\s*$/.exec(l)?.[1]).filter((m): m is string => m !== undefined)
}

/** How a Tomcat appears in Apache's config: `http://<Tomcat.ip>:<Tomcat.port>` from its own exports. */
function balancerMember (component: Component, instance: Instance, ipAddress: string | undefined): string | undefined {
  const exports = instanceExports(component, instance, ipAddress)
  const ip = exports['Tomcat.ip']
  const port = exports['Tomcat.port']
  return ip == null || port == null ? undefined : `http://${ip}:${port}`
}

/**
 * The application as the given live agents see it (state folders of agents that run and are reachable).
 * `apachePath` names the instance whose balancer config is checked.
 */
export function snapshotFromAgents (stateDirs: readonly string[], apachePath: string): ApplicationSnapshot {
  const snapshot: ApplicationSnapshot = { components: {}, instances: [] }
  const memberOf: Record<string, string> = {}
  for (const stateDir of stateDirs) {
    const state = readAgentState(stateDir)
    if (state === undefined) continue
    Object.assign(snapshot.components, state.model.components)
    snapshot.instances.push(...instanceViews(state))
    const ipAddress = state.model.instance.data['ip.address']
    walk(state.model.instance, instance => {
      const component = state.model.components[instance.component]
      if (instance.component === 'Tomcat' && component !== undefined) {
        const member = balancerMember(component, instance, ipAddress)
        if (member !== undefined) memberOf[instance.path] = member
      }
      if (instance.path === apachePath) {
        let config: string | undefined
        try {
          config = readFileSync(join(stateDir, INSTANCES_FOLDER, instanceFolderName(instance.path), APACHE_CONFIG), 'utf8')
        } catch {
          config = undefined
        }
        snapshot.balancer = { apachePath, listed: parseBalancerMembers(config), memberOf }
      }
    })
  }
  return snapshot
}
