// One agent in its own process for the mesh tests and benchmark: the real engine (createAgent) over the libp2p
// mesh, driven over IPC by a parent that plays the DM (no DM process, no RabbitMQ). Reports instance states,
// plug-in steps (with `update` start times), and the mesh's publications, each stamped with the epoch-ms clock
// shared by every process of the host. Run with `node dist/simulations/bench/mesh-node.js` and an IPC channel
// (child_process.fork or spawn with 'ipc'); mesh-node-client.ts is the parent's side.
import '../../agent/polyfill.js'
import { createAgent, type Agent } from '../../agent/agent.js'
import { loadOrCreatePeerIdentity } from '../../agent/mesh/identity.js'
import { libp2pMeshFactory } from '../../agent/mesh/libp2p.js'
import type { MeshServiceHandle } from '../../agent/mesh/service.js'
import type { MeshFactory } from '../../agent/ports.js'
import type { Plugin } from '../../agent/plugins/types.js'
import type { DmToAgentMessage } from '../../protocol/messages.js'

/** What the parent sends; every command gets a reply `{ event: 'reply', id, ... }`. */
export type MeshNodeCommand =
  | { id: number, cmd: 'init', stateDir: string, listen: string[], allow?: string[], debounceMs?: number, mdns?: boolean }
  | { id: number, cmd: 'dm', message: DmToAgentMessage }
  | { id: number, cmd: 'view' }
  | { id: number, cmd: 'stop' }

/** What the child reports. `at` is epoch ms with a fraction (performance.timeOrigin + now). */
export type MeshNodeEvent =
  | { event: 'reply', id: number, ok: boolean, error?: string, peerId?: string, restored?: boolean, addresses?: string[], view?: unknown }
  | { event: 'instance', path: string, status: string, at: number }
  | { event: 'step', step: string, path: string, change?: { instancePath: string, status: string }, at: number }
  | { event: 'published', kind: 'announce' | 'withdraw', instancePath: string, at: number }
  | { event: 'mesh', addresses: string[], at: number }

const now = (): number => performance.timeOrigin + performance.now()
const report = (event: MeshNodeEvent): void => { process.send?.(event) }

/** The `logger` installer, replaced by one that reports each step (the components of the bench use it). */
function reportingPlugin (): Plugin {
  const step = (name: string) => async (context: { instance: { path: string } }, change?: { importChanged: { instancePath: string }, statusChanged: string }): Promise<void> => {
    report({ event: 'step', step: name, path: context.instance.path, at: now(),
      ...(change !== undefined ? { change: { instancePath: change.importChanged.instancePath, status: change.statusChanged } } : {}) })
  }
  return { name: 'logger', initialize: step('initialize'), deploy: step('deploy'), start: step('start'), update: step('update'), stop: step('stop'), undeploy: step('undeploy') }
}

let agent: Agent | undefined
let mesh: MeshServiceHandle | undefined

async function run (command: MeshNodeCommand): Promise<Omit<Extract<MeshNodeEvent, { event: 'reply' }>, 'event' | 'id' | 'ok'>> {
  switch (command.cmd) {
    case 'init': {
      const identity = await loadOrCreatePeerIdentity(command.stateDir)
      const factory = libp2pMeshFactory({
        stateDir: command.stateDir, privateKey: identity.privateKey, listen: command.listen, allow: command.allow,
        debounceMs: command.debounceMs, mdns: command.mdns, log: (level, message) => { if (level !== 'debug') process.stderr.write(`[mesh] ${level} ${message}\n`) }
      })
      // The handle is wrapped to stamp each publication, the start of an export change.
      const meshFactory: MeshFactory = async (model, parameters, listener) => {
        const handle = await factory(model, parameters, listener) as MeshServiceHandle
        mesh = handle
        report({ event: 'mesh', addresses: handle.listenAddresses(), at: now() })
        const announce = handle.announce.bind(handle)
        const withdraw = handle.withdraw.bind(handle)
        handle.announce = (path, component, variables) => {
          report({ event: 'published', kind: 'announce', instancePath: path, at: now() })
          announce(path, component, variables)
        }
        handle.withdraw = path => {
          report({ event: 'published', kind: 'withdraw', instancePath: path, at: now() })
          withdraw(path)
        }
        return handle
      }
      const log = { info: () => {}, warn: (m: string) => { process.stderr.write(`WARN ${m}\n`) }, error: (m: string) => { process.stderr.write(`ERROR ${m}\n`) } }
      agent = createAgent({
        stateDir: command.stateDir,
        meshFactory,
        plugins: [reportingPlugin()],
        log,
        notifier: {
          instanceChanged: (path, status) => report({ event: 'instance', path, status, at: now() }),
          instanceRemoved: () => {}
        }
      })
      await agent.start()
      return { peerId: identity.peerId, restored: !agent.modelRequired(), addresses: agent.meshAddresses() }
    }
    case 'dm':
      await requireAgent().handle(command.message)
      return {}
    case 'view':
      return { view: mesh?.view() }
    case 'stop':
      await requireAgent().stop()
      setImmediate(() => process.exit(0))
      return {}
  }
}

function requireAgent (): Agent {
  if (agent === undefined) throw new Error('send init first')
  return agent
}

process.on('message', (command: MeshNodeCommand) => {
  run(command).then(
    result => report({ event: 'reply', id: command.id, ok: true, ...result }),
    (err: Error) => report({ event: 'reply', id: command.id, ok: false, error: err.stack ?? err.message })
  )
})
// The parent gone, the agent goes too (a test that failed must not leave processes behind).
process.on('disconnect', () => process.exit(0))
