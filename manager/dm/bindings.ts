// Inter-application bindings (reference §2.4, §5 MsgCmdChangeBinding, REST bind, unbind, bind-x): which applications an
// application imports each external prefix from. Stored (bindings, binding_versions), signed with a version that grows
// at every change, and sent at once to the importing application's agents; the agents of the domain exchange get their
// external ownership, their bindings and where to find their peers with their model (protocol/domain.ts).
import {
  domainPnetKey, signBinding, signExternalOwnership, type DomainParameters, type SignedBinding, type SignedExternalOwnership
} from '../../protocol/domain.js'
import { toAgent } from '../../protocol/messages.js'
import { prefixOf } from '../../protocol/model/exports.js'
import type { ApplicationTemplate } from '../../protocol/model/types.js'
import { MAX_BOOTSTRAP_AGENTS } from '../constants.js'
import { BindingRefusedError } from '../errors.js'
import type { StoredInstance } from '../store.js'
import type { ApplicationBindingsView } from '../dto.js'
import type { DmCore } from './core.js'
import { agentSubtree, componentsOf, flatten, hasNoMachine, isScoped } from './model.js'
import type { Outbox } from './outbox.js'


export interface Bindings {
  bindings (application: string): ApplicationBindingsView
  bind (application: string, prefix: string, exporter: string): void
  unbind (application: string, prefix: string, exporter: string): void
  /** bind-x: the application imports `prefix` from exactly these applications. */
  replaceBindings (application: string, prefix: string, exporters: string[]): void
  /** An application was deleted: every application bound to it is unbound from it, its agents told. */
  applicationDeleted (application: string): void
}

/** What a machine's agent does in the domain exchange: the external prefix it exports, those it imports. */
interface ExternalRole { exports?: string, imports: Set<string> }

function externalRole (template: ApplicationTemplate, components: Iterable<string>): ExternalRole {
  const imports = new Set<string>()
  let exports: string | undefined
  const exported = new Set(Object.keys(template.descriptor.externalExports))
  for (const name of components) {
    const component = template.components[name]
    if (component === undefined) continue
    for (const i of component.imports) {
      const prefix = prefixOf(i.name)
      if (i.external && prefix !== undefined) imports.add(prefix)
    }
    if (template.descriptor.externalExportsPrefix !== undefined && Object.keys(component.exports).some(v => exported.has(v))) {
      exports = template.descriptor.externalExportsPrefix
    }
  }
  return { ...(exports === undefined ? {} : { exports }), imports }
}

function roleOfMachine (template: ApplicationTemplate, scoped: StoredInstance): ExternalRole {
  return externalRole(template, componentsOf(agentSubtree(template, scoped)))
}

/** Every running machine of an application with its external role. */
function machinesOf (core: DmCore, application: string): Array<{ scoped: StoredInstance, role: ExternalRole }> {
  const record = core.store.getApplication(application)
  if (record === undefined) return []
  const template = core.templateOf(record)
  return flatten(core.store.instanceTrees(application))
    .filter(i => isScoped(template, i) && !hasNoMachine(i))
    .flatMap(i => {
      const scoped = core.store.getInstance(application, i.path)
      return scoped === undefined ? [] : [{ scoped, role: roleOfMachine(template, scoped) }]
    })
}

/** Domain addresses of the running agents of `application` whose role matches. */
function domainAddressesOf (core: DmCore, application: string, match: (role: ExternalRole) => boolean): string[][] {
  const byPath = new Map(core.store.agents(application).map(a => [a.scopedInstancePath, a.domainAddresses ?? []]))
  return machinesOf(core, application).filter(m => match(m.role)).map(m => byPath.get(m.scoped.path) ?? []).filter(a => a.length > 0)
}

function signedBinding (core: DmCore, application: string, prefix: string): SignedBinding {
  return signBinding(core.signingKey(), {
    application, prefix, exporters: core.store.bindings(application)[prefix] ?? [], version: core.store.bindingVersion(application, prefix)
  })
}

/**
 * The DM's signature that the machine's agent (`peerId`) exports its application's external prefix, for the machine's
 * generation, until `expiresAt` (renewed with its application ownership); undefined when it exports nothing externally.
 */
export function externalOwnershipFor (core: DmCore, application: string, template: ApplicationTemplate, scoped: StoredInstance,
  peerId: string, expiresAt: number): SignedExternalOwnership | undefined {
  const prefix = roleOfMachine(template, scoped).exports
  if (prefix === undefined) return undefined
  return signExternalOwnership(core.signingKey(), {
    peerId, application, prefix, scopedInstancePath: scoped.path, generation: core.store.getCredential(application, scoped.path)?.generation ?? 0, expiresAt
  })
}

/**
 * The domain settings of a machine's agent (undefined: it neither exports nor imports externally); its external
 * ownership expires at `ownershipExpiresAt` (ms since 1970), as its application ownership.
 */
export function domainParametersFor (core: DmCore, application: string, template: ApplicationTemplate, scoped: StoredInstance,
  peerId: string, ownershipExpiresAt: number): DomainParameters | undefined {
  const { store } = core
  const role = roleOfMachine(template, scoped)
  if (role.exports === undefined && role.imports.size === 0) return undefined
  const signing = core.signingKey()
  const bound = store.bindings(application)
  // importers dial the bound exporters' agents; exporters dial the agents of applications bound to them
  const peers: string[][] = []
  for (const prefix of role.imports) for (const exporter of bound[prefix] ?? []) peers.push(...domainAddressesOf(core, exporter, r => r.exports === prefix))
  if (role.exports !== undefined) {
    const prefix = role.exports
    for (const other of store.listApplications()) {
      if (other.name !== application && store.bindings(other.name)[prefix]?.includes(application) === true) {
        peers.push(...domainAddressesOf(core, other.name, r => r.imports.has(prefix)))
      }
    }
  }
  const ownership = externalOwnershipFor(core, application, template, scoped, peerId, ownershipExpiresAt)
  return {
    pnetKey: domainPnetKey(signing),
    bootstrapPeers: peers.filter(a => !a.some(address => address.endsWith(`/p2p/${peerId}`))).slice(0, MAX_BOOTSTRAP_AGENTS * 2).flat(),
    ...(ownership === undefined ? {} : { ownership }),
    bindings: [...role.imports].map(prefix => signedBinding(core, application, prefix))
  }
}

export function createBindings (core: DmCore, outbox: Outbox): Bindings {
  const { store } = core

  /** Who exports `prefix` for the other applications: the applications whose template declares it. */
  function exportersOf (prefix: string): string[] {
    return store.listApplications().filter(a => core.templateOf(a).descriptor.externalExportsPrefix === prefix).map(a => a.name)
  }

  /** Roboconf's checks (ApplicationMngrImpl.bindOrUnbindApplication), with its messages, and how to fix. */
  function checkExporter (prefix: string, exporter: string): void {
    const record = store.getApplication(exporter)
    if (record === undefined) throw new BindingRefusedError(`Application ${exporter} does not exist.`, 'list them with `meshconf app list`')
    if (core.templateOf(record).descriptor.externalExportsPrefix !== prefix) {
      const candidates = exportersOf(prefix)
      throw new BindingRefusedError(`Application ${exporter}'s template does not have ${prefix} as external exports prefix.`,
        candidates.length > 0 ? `applications exporting ${prefix}: ${candidates.join(', ')}` : `no application exports ${prefix} (exports-prefix in descriptor/application.properties)`)
    }
  }

  /** Stores the new set, signs it with a new version and sends it to the application's agents that import the prefix. */
  function change (application: string, prefix: string, exporters: string[], stored = false): void {
    const before = store.bindings(application)[prefix] ?? []
    const after = [...new Set(exporters)].sort()
    if (!stored && before.length === after.length && before.every(a => after.includes(a))) return
    const binding = store.transaction(() => {
      store.replaceBindings(application, prefix, after)
      store.nextBindingVersion(application, prefix)
      return signedBinding(core, application, prefix)
    })
    const bootstrapPeers = after.flatMap(exporter => domainAddressesOf(core, exporter, role => role.exports === prefix)).slice(0, MAX_BOOTSTRAP_AGENTS).flat()
    for (const { scoped, role } of machinesOf(core, application)) {
      if (role.imports.has(prefix)) outbox.queue(application, scoped.path, toAgent({ kind: 'changeBinding', binding, bootstrapPeers }))
    }
    core.log.info(`${application} imports ${prefix} from ${after.length === 0 ? 'no application' : after.join(', ')} (binding version ${binding.version})`, { application })
  }

  return {
    bindings (application) {
      const record = core.requireApplication(application)
      const template = core.templateOf(record)
      const prefixes: ApplicationBindingsView['prefixes'] = {}
      const bound = store.bindings(application)
      for (const prefix of externalRole(template, Object.keys(template.components)).imports) {
        prefixes[prefix] = exportersOf(prefix).map(name => ({ application: name, bound: bound[prefix]?.includes(name) === true }))
      }
      return { application, prefixes }
    },
    bind (application, prefix, exporter) {
      core.requireApplication(application)
      checkExporter(prefix, exporter)
      change(application, prefix, [...store.bindings(application)[prefix] ?? [], exporter])
    },
    unbind (application, prefix, exporter) {
      core.requireApplication(application)
      checkExporter(prefix, exporter)
      change(application, prefix, (store.bindings(application)[prefix] ?? []).filter(a => a !== exporter))
    },
    replaceBindings (application, prefix, exporters) {
      core.requireApplication(application)
      for (const exporter of exporters) checkExporter(prefix, exporter)
      change(application, prefix, exporters)
    },
    applicationDeleted (deleted) {
      for (const { application, prefix } of store.unbindEverywhere(deleted)) {
        if (store.getApplication(application) !== undefined) change(application, prefix, store.bindings(application)[prefix] ?? [], true)
      }
    }
  }
}

/**
 * A machine's agent reported new domain addresses: the agents it exchanges external exports with are told to dial it
 * (their models may have left before it listened, when the machines came up together).
 */
export function domainAddressesChanged (core: DmCore, outbox: Outbox, application: string, scopedInstancePath: string, addresses: string[]): void {
  const record = core.store.getApplication(application)
  const scoped = core.store.getInstance(application, scopedInstancePath)
  if (record === undefined || scoped === undefined || addresses.length === 0) return
  const role = roleOfMachine(core.templateOf(record), scoped)
  const tell = (other: string, match: (r: ExternalRole) => boolean): void => {
    for (const m of machinesOf(core, other)) {
      if (match(m.role)) outbox.queue(other, m.scoped.path, toAgent({ kind: 'domainPeers', bootstrapPeers: addresses }))
    }
  }
  if (role.exports !== undefined) {
    const prefix = role.exports
    for (const other of core.store.listApplications()) {
      if (core.store.bindings(other.name)[prefix]?.includes(application) === true) tell(other.name, r => r.imports.has(prefix))
    }
  }
  const bound = core.store.bindings(application)
  for (const prefix of role.imports) for (const exporter of bound[prefix] ?? []) tell(exporter, r => r.exports === prefix)
}
