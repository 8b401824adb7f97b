// Agent processes for the mesh tests: the real engine over libp2p, one agent per process
// (fixtures/mesh-node.ts), on loopback. The test plays the DM only to hand each agent its model; no DM
// process and no RabbitMQ run.
import type { ExecutionContext } from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MeshView } from '../../agent/mesh/service.js'
import { MeshNodeProcess } from '../../fixtures/mesh-node-client.js'
import type { MeshNodeEvent } from '../../fixtures/mesh-node.js'
import { createMeshApp, type MeshApp, type MeshAppChild } from '../../fixtures/mesh-app.js'
import type { MeshTarget } from './mesh-wire.js'

export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

export interface Cluster {
  app: MeshApp
  dir: string
  nodes: MeshNodeProcess[]
  /**
   * Starts an agent process for `/<vm>/<child>`, hands it its model; its bootstrap list: these agents' addresses
   * (default: every agent running).
   */
  agent (vm: string, child: MeshAppChild, bootstrapFrom?: MeshNodeProcess[]): Promise<MeshNodeProcess>
  /** Starts an agent process again on the state folder of `/<vm>`'s agent, with no DM: it restores its model. */
  restart (vm: string): Promise<MeshNodeProcess>
}

/** A cluster whose processes and state folders go with the test. */
export async function cluster (t: ExecutionContext): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-process-'))
  const app = createMeshApp()
  const nodes: MeshNodeProcess[] = []
  t.teardown(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await rm(dir, { recursive: true, force: true })
  })
  return {
    app,
    dir,
    nodes,
    async agent (vm, child, bootstrapFrom = nodes.filter(n => n.alive)) {
      const node = new MeshNodeProcess()
      nodes.push(node)
      await node.init(join(dir, vm), LOOPBACK)
      await node.dm(app.setScopedInstance(vm, child, node.peerId, bootstrapFrom.flatMap(n => meshAddresses(n))))
      await node.waitFor('mesh started', e => e.event === 'mesh')
      return node
    },
    async restart (vm) {
      const node = new MeshNodeProcess()
      nodes.push(node)
      const reply = await node.init(join(dir, vm), LOOPBACK)
      if (reply.restored !== true) throw new Error(`the agent of /${vm} did not restore its state`)
      await node.waitFor('mesh started', e => e.event === 'mesh')
      return node
    }
  }
}

export function meshAddresses (node: MeshNodeProcess): string[] {
  const mesh = node.events.findLast((e): e is Extract<MeshNodeEvent, { event: 'mesh' }> => e.event === 'mesh')
  return mesh?.addresses ?? []
}

/** The agent process as a raw node's target (mesh-wire.ts). */
export function targetOf (c: Cluster, node: MeshNodeProcess): MeshTarget {
  return { app: c.app, peerId: node.peerId, addresses: meshAddresses(node), view: async () => await viewOf(node) }
}

/** The mesh's view inside the agent process: what it holds, from whom, its connections and rejection counters. */
export async function viewOf (node: MeshNodeProcess): Promise<MeshView> {
  return (await node.command({ cmd: 'view' })).view as MeshView
}

export const isStatus = (path: string, status: string) => (e: MeshNodeEvent): boolean => e.event === 'instance' && e.path === path && e.status === status
