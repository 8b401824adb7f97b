// The agent's part in the domain exchange (issue 21, protocol/domain.ts; the exchange itself in domain-exchange.ts):
// started on a libp2p node of its own in the domain's private network, beside the application's mesh (service.ts),
// and put behind the application's mesh handle, so that the engine sees one publisher and one listener: external
// prefixes go to the exchange, the others to the mesh.
import { join } from 'node:path'
import type { ImportListener } from '../ports.js'
import type { MeshParameters, ScopedModel } from '../../protocol/messages.js'
import { domainControlTopic, type DomainParameters, type SignedBinding } from '../../protocol/domain.js'
import { pnetKeyBytes } from '../../protocol/mesh.js'
import { prefixOf } from '../../protocol/model/exports.js'
import { ensurePrivateFolder } from '../../common/private-files.js'
import { DomainExchange, type DomainView } from './domain-exchange.js'
import { nextMeshEpoch } from './epoch.js'
import { createLibp2pTransport, type Libp2pMeshOptions } from './libp2p.js'
import type { MeshServiceHandle, MeshView } from './service.js'

/** The sub-folder of the agent's state folder holding the domain node's ports, remembered peers and epoch. */
export const DOMAIN_STATE_FOLDER = 'domain'

/** The mesh view of an agent taking part in the domain exchange. */
export type AgentMeshView = MeshView & { domain?: DomainView }

/** The external prefixes a model's components import (`imports: external P.x`). */
export function externalPrefixesOf (model: Pick<ScopedModel, 'components'>): Set<string> {
  const prefixes = new Set<string>()
  for (const component of Object.values(model.components)) {
    for (const imported of component.imports) {
      const prefix = prefixOf(imported.name)
      if (imported.external && prefix !== undefined) prefixes.add(prefix)
    }
  }
  return prefixes
}

/** A mesh handle that also takes part in the domain exchange. */
export interface DomainMeshHandle extends MeshServiceHandle {
  changeBinding (binding: SignedBinding, bootstrapPeers: readonly string[]): boolean
  addDomainPeers (addresses: readonly string[]): void
  domainAddresses (): string[]
  view (): AgentMeshView
}

/**
 * The application's mesh and the domain exchange behind one handle: external prefixes go to the exchange, the
 * others to the mesh; exports go to both (the exchange keeps the descriptor's external ones).
 */
export function combineWithDomain (mesh: MeshServiceHandle, domain: DomainExchange, model: ScopedModel): DomainMeshHandle {
  const external = externalPrefixesOf(model)
  const split = (prefixes: Iterable<string>): [string[], string[]] => {
    const inside: string[] = []
    const outside: string[] = []
    for (const prefix of prefixes) (external.has(prefix) ? outside : inside).push(prefix)
    return [inside, outside]
  }
  return {
    get peerId () { return mesh.peerId },
    listenAddresses: () => mesh.listenAddresses(),
    domainAddresses: () => domain.addresses(),
    setInterests (prefixes) {
      const [inside, outside] = split(prefixes)
      mesh.setInterests(new Set(inside))
      domain.setInterests(new Set(outside))
    },
    announce (instancePath, component, variables) {
      mesh.announce(instancePath, component, variables)
      domain.announce(instancePath, component, variables)
    },
    withdraw (instancePath) {
      mesh.withdraw(instancePath)
      domain.withdraw(instancePath)
    },
    request (prefixes) {
      const [inside, outside] = split(prefixes)
      if (inside.length > 0) mesh.request(inside)
      if (outside.length > 0) domain.request(outside)
    },
    expectRestored (restored) {
      mesh.expectRestored?.(restored.filter(r => !external.has(r.prefix)))
      domain.expectRestored(restored.filter(r => external.has(r.prefix)))
    },
    renewOwnership (ownership, external) {
      mesh.renewOwnership?.(ownership)
      domain.renewOwnership(ownership, external)
    },
    changeBinding: (binding, peers) => domain.changeBinding(binding, peers),
    addPeers: addresses => { mesh.addPeers?.(addresses) },
    addDomainPeers: addresses => { domain.addPeers(addresses) },
    view: () => ({ ...mesh.view(), domain: domain.view() }),
    rejections: () => mesh.rejections(),
    async stop () {
      await Promise.allSettled([domain.stop()])
      await mesh.stop()
    }
  }
}

export interface DomainExchangeStartOptions extends Omit<Libp2pMeshOptions, 'epoch'> {
  privateKey: NonNullable<Libp2pMeshOptions['privateKey']>
}

/**
 * Starts the agent's domain exchange on a libp2p node of its own (same peer key, the domain's pnet key, its state in
 * `<stateDir>/domain/`), and returns the application's mesh and the exchange behind one handle.
 */
export async function withDomainExchange (mesh: MeshServiceHandle, model: ScopedModel, parameters: MeshParameters & { domain: DomainParameters },
  listener: ImportListener, options: DomainExchangeStartOptions): Promise<DomainMeshHandle> {
  const stateDir = join(options.stateDir, DOMAIN_STATE_FOLDER)
  await ensurePrivateFolder(stateDir)
  const epoch = await nextMeshEpoch(stateDir, options.log)
  const exchange = new DomainExchange({ model, parameters, domain: parameters.domain, listener, log: options.log }, { epoch })
  const { transport, begin } = await createLibp2pTransport(pnetKeyBytes(parameters.domain.pnetKey), domainControlTopic(), exchange.transportEvents,
    { ...options, stateDir, viewSignal: null })
  exchange.start(transport)
  await begin([...parameters.domain.bootstrapPeers])
  return combineWithDomain(mesh, exchange, model)
}
