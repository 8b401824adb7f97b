// The chaos invariant, checked once the detection bound has passed after a fault:
// - every started importer imports exactly the started exporters of each prefix it imports (none missing, none stale);
// - Apache's balancer config lists exactly the started Tomcats;
// - no instance stays UNRESOLVED while every mandatory prefix it imports has a started exporter.
// Only instances on agents that are alive and reachable count: a killed or cut-off agent's instances are neither
// importers nor exporters for the rest of the application.
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { Component } from '../../protocol/model/types.js'
import { exportsByPrefix, importedPrefixes } from '../../protocol/model/exports.js'

/** One instance as its agent reports it. */
export interface InstanceView {
  path: string
  component: string
  status: InstanceStatus
  /** Prefix -> paths of the exporting instances it holds. */
  imports: Record<string, string[]>
}

/** What Apache's rendered balancer config lists, and what each started Tomcat should appear as in it. */
export interface BalancerView {
  apachePath: string
  /** Members as parsed from the config file (e.g. `127.0.0.1:8009`); null when the file does not exist. */
  listed: string[] | null
  /** Tomcat instance path -> the member it should appear as. */
  memberOf: Record<string, string>
}

export interface ApplicationSnapshot {
  components: Record<string, Component>
  /** Instances of live agents only. */
  instances: InstanceView[]
  balancer?: BalancerView
}

export type InvariantRule = 'imports' | 'balancer' | 'stuck'

export interface Violation {
  rule: InvariantRule
  instancePath: string
  prefix?: string
  expected: string[]
  actual: string[]
  message: string
}

/** The prefixes a component publishes (its own, its facets', the components it extends). */
function exportedPrefixes (component: Component): Set<string> {
  return new Set(exportsByPrefix(component.exports).keys())
}

/** Every rule broken by the snapshot; empty when the invariant holds. */
export function checkInvariant (snapshot: ApplicationSnapshot): Violation[] {
  const violations: Violation[] = []
  const started = snapshot.instances.filter(i => i.status === 'DEPLOYED_STARTED')
  const startedExportersOf = (prefix: string, except: string): string[] => started
    .filter(e => e.path !== except && hasPrefix(snapshot.components, e.component, prefix))
    .map(e => e.path).sort()

  for (const instance of snapshot.instances) {
    const component = snapshot.components[instance.component]
    if (component === undefined) {
      violations.push({ rule: 'imports', instancePath: instance.path, expected: [], actual: [],
        message: `${instance.path}: component ${instance.component} is not in the model` })
      continue
    }
    const prefixes = importedPrefixes({ imports: component.imports.filter(i => !i.external) })
    if (instance.status === 'DEPLOYED_STARTED') {
      for (const prefix of prefixes.keys()) {
        const expected = startedExportersOf(prefix, instance.path)
        const actual = [...new Set(instance.imports[prefix] ?? [])].sort()
        if (!sameList(expected, actual)) {
          violations.push({ rule: 'imports', instancePath: instance.path, prefix, expected, actual,
            message: `${instance.path} imports ${describe(actual)} for ${prefix}, but the started exporters are ${describe(expected)}` })
        }
      }
    } else if (instance.status === 'UNRESOLVED') {
      const mandatory = [...prefixes].filter(([, { optional }]) => !optional).map(([p]) => p)
      if (mandatory.length > 0 && mandatory.every(p => startedExportersOf(p, instance.path).length > 0)) {
        violations.push({ rule: 'stuck', instancePath: instance.path, expected: mandatory, actual: [],
          message: `${instance.path} is UNRESOLVED although every mandatory prefix (${mandatory.join(', ')}) has a started exporter` })
      }
    }
  }

  const balancer = snapshot.balancer
  const apache = balancer === undefined ? undefined : snapshot.instances.find(i => i.path === balancer.apachePath)
  if (balancer !== undefined && apache?.status === 'DEPLOYED_STARTED') {
    const expected = started.filter(i => i.path in balancer.memberOf).map(i => balancer.memberOf[i.path]).sort()
    const actual = [...(balancer.listed ?? [])].sort()
    if (balancer.listed === null || !sameList(expected, actual)) {
      violations.push({ rule: 'balancer', instancePath: apache.path, expected, actual,
        message: balancer.listed === null
          ? `${apache.path} is started but its balancer config does not exist`
          : `${apache.path}'s balancer config lists ${describe(actual)}, but the started Tomcats are ${describe(expected)}` })
    }
  }
  return violations
}

function hasPrefix (components: Record<string, Component>, name: string, prefix: string): boolean {
  const component = components[name]
  return component !== undefined && exportedPrefixes(component).has(prefix)
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function describe (values: readonly string[]): string {
  return values.length === 0 ? 'nothing' : `[${values.join(', ')}]`
}
