// The application the mesh tests and benchmark run: MySQL -> Tomcat -> Apache (Roboconf's LAMP chain), with a DM
// signing key, a pnet key, and one scoped model and mesh parameters per agent. Pure data, no sockets.
import type { Component, Instance } from '../../protocol/model/types.js'
import { toAgent, type DmToAgentMessage, type MeshParameters, type ScopedModel } from '../../protocol/messages.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import { createDmSigningKey, generatePnetKey, signOwnership, type DmSigningKey } from '../../protocol/mesh.js'

const component = (name: string, exports: Record<string, string | null>, imports: string[] = [], children: string[] = [],
  optional = false): Component => ({
  name, installer: 'logger', exports, randomExports: [], facets: [], extendsChain: [], children,
  imports: imports.map(i => ({ name: i, optional, external: false }))
})

export type MeshAppChild = 'MySQL' | 'Tomcat' | 'Apache' | 'Probe'

/**
 * The components of the chain: a VM hosts one of MySQL, Tomcat, Apache, or Probe (the benchmark's importer: it
 * imports MySQL optionally, so each MySQL change runs its `update` rather than stopping it).
 */
export const MESH_APP_COMPONENTS: Record<string, Component> = {
  VM: component('VM', {}, [], ['MySQL', 'Tomcat', 'Apache', 'Probe']),
  MySQL: component('MySQL', { 'MySQL.ip': null, 'MySQL.port': '3306' }),
  Tomcat: component('Tomcat', { 'Tomcat.ip': null, 'Tomcat.portAJP': '8009' }, ['MySQL.ip', 'MySQL.port']),
  Apache: component('Apache', { 'Apache.ip': null, 'Apache.port': '80' }, ['Tomcat.ip', 'Tomcat.portAJP']),
  Probe: component('Probe', {}, ['MySQL.*'], [], true)
}

/** The scoped instance `/<vmName>` holding one instance `/<vmName>/<component>`. */
export function scopedVm (vmName: string, child: MeshAppChild): Instance {
  const leaf: Instance = { name: child, component: child, path: `/${vmName}/${child}`, overriddenExports: {}, data: {}, channels: [], status: 'NOT_DEPLOYED', children: [] }
  return { name: vmName, component: 'VM', path: `/${vmName}`, overriddenExports: {}, data: { 'ip.address': '127.0.0.1' }, channels: [], status: 'NOT_DEPLOYED', children: [leaf] }
}

/** What the DM holds for one application: its keys, and what it hands to each agent. */
export interface MeshApp {
  application: string
  dmKey: DmSigningKey
  pnetKey: string
  /** The scoped model and mesh parameters of the agent with `peerId` owning `/<vmName>`. */
  agent (vmName: string, child: MeshAppChild, peerId: string, bootstrapPeers?: string[]): { model: ScopedModel, parameters: MeshParameters }
  /** The DM's setScopedInstance for that agent (no recipes: the `logger` installer needs none). */
  setScopedInstance (vmName: string, child: MeshAppChild, peerId: string, bootstrapPeers?: string[]): DmToAgentMessage
}

/** The DM's order to move `/<vmName>/<child>` to `state`. */
export function changeState (vmName: string, child: MeshAppChild, newState: InstanceStatus): DmToAgentMessage {
  return toAgent({ kind: 'changeState', instancePath: `/${vmName}/${child}`, newState })
}

export function createMeshApp (application = `chain-${process.pid}-${Math.random().toString(36).slice(2, 8)}`): MeshApp {
  const dmKey = createDmSigningKey()
  const pnetKey = generatePnetKey()
  return {
    application,
    dmKey,
    pnetKey,
    agent (vmName, child, peerId, bootstrapPeers = []) {
      const instance = scopedVm(vmName, child)
      return {
        model: { application, scopedInstancePath: instance.path, components: MESH_APP_COMPONENTS, instance, externalExports: {} },
        parameters: {
          bootstrapPeers,
          pnetKey,
          ownership: signOwnership(dmKey, { peerId, application, scopedInstancePath: instance.path }),
          trustedDmKeys: [dmKey.publicKey]
        }
      }
    },
    setScopedInstance (vmName, child, peerId, bootstrapPeers = []) {
      const { model, parameters } = this.agent(vmName, child, peerId, bootstrapPeers)
      return toAgent({ kind: 'setScopedInstance', model, mesh: parameters, recipes: {} })
    }
  }
}
