// The parent's side of mesh-node.ts: spawns one agent process (optionally inside a network namespace), sends it
// commands over IPC, and waits for the events it reports. Used by the mesh tests and the mesh benchmark.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { DmToAgentMessage } from '../../protocol/messages.js'
import { AGENT_NODE_FLAGS, preferBundle } from '../../manager/targets/process.js'
import type { MeshNodeCommand, MeshNodeEvent } from './mesh-node.js'

type Reply = Extract<MeshNodeEvent, { event: 'reply' }>
type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never

/** A mesh node process did not do what was asked in time, or failed. */
export class MeshNodeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'MeshNodeError'
  }
}

export interface MeshNodeSpawnOptions {
  /** Run inside this network namespace (`ip netns exec`); default: the caller's. */
  netns?: string
  /** Run the compiled script (dist/) instead of the TypeScript source through tsx; default: the form this file runs as. */
  compiled?: boolean
}

/** This file's own directory tells whether we run compiled (dist/simulations/bench) or from the sources. */
const here = dirname(fileURLToPath(import.meta.url))
const runningCompiled = here.includes(`${join('dist', 'simulations')}`)

export class MeshNodeProcess {
  readonly events: MeshNodeEvent[] = []
  private readonly child: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, (reply: Reply) => void>()
  private readonly waiters = new Set<() => void>()
  private stderrTail = ''
  private exited = false
  peerId = ''

  constructor (options: MeshNodeSpawnOptions = {}) {
    const compiled = options.compiled ?? runningCompiled
    // bundled, as the local target starts agents
    const script = compiled ? preferBundle(join(here, 'mesh-node.js')) : join(here, 'mesh-node.ts')
    const root = compiled ? join(here, '..', '..', '..') : join(here, '..', '..')
    const nodeArgs = [...AGENT_NODE_FLAGS, ...(compiled ? [script] : ['--import', 'tsx', '--import', join(root, 'agent', 'polyfill.ts'), script])]
    const [command, args] = options.netns === undefined
      ? [process.execPath, nodeArgs]
      : ['ip', ['netns', 'exec', options.netns, process.execPath, ...nodeArgs]]
    this.child = spawn(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    this.child.stderr?.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000) })
    this.child.on('message', (event: MeshNodeEvent) => {
      if (event.event === 'reply') this.pending.get(event.id)?.(event)
      else this.events.push(event)
      for (const check of [...this.waiters]) check()
    })
    // A write to a process that just died (EPIPE) is reported here; its exit settles the waiters.
    this.child.on('error', err => { this.stderrTail = (this.stderrTail + `\n${err.message}`).slice(-4000) })
    this.child.on('exit', () => {
      this.exited = true
      for (const check of [...this.waiters]) check()
    })
  }

  /** The process id (`ip netns exec` execs node, so this is node's). */
  get pid (): number {
    return this.child.pid ?? -1
  }

  /** The last 4000 characters the process wrote on stderr (its mesh logs: info and above). */
  get stderr (): string {
    return this.stderrTail
  }

  get alive (): boolean {
    return !this.exited
  }

  async command (command: DistributiveOmit<MeshNodeCommand, 'id'>, timeoutMs = 30_000): Promise<Reply> {
    if (this.exited || !this.child.connected) throw new MeshNodeError(`mesh node ${this.pid} has exited; stderr: ${this.stderrTail}`)
    const id = this.nextId++
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new MeshNodeError(`mesh node ${this.pid}: no reply to ${command.cmd} within ${timeoutMs} ms; stderr: ${this.stderrTail}`))
      }, timeoutMs)
      this.pending.set(id, r => {
        clearTimeout(timer)
        this.pending.delete(id)
        resolve(r)
      })
      this.child.send({ ...command, id })
    })
    if (!reply.ok) throw new MeshNodeError(`mesh node ${this.pid}: ${command.cmd} failed: ${reply.error}`)
    return reply
  }

  /** Starts the agent (restoring its saved state if any); resolves with its peer id. */
  async init (stateDir: string, listen: string[], options: { allow?: string[], debounceMs?: number, mdns?: boolean, timeoutMs?: number } = {}): Promise<Reply> {
    const { timeoutMs, ...rest } = options
    const reply = await this.command({ cmd: 'init', stateDir, listen, ...rest }, timeoutMs)
    this.peerId = reply.peerId ?? ''
    return reply
  }

  async dm (message: DmToAgentMessage): Promise<void> {
    await this.command({ cmd: 'dm', message })
  }

  /** Resolves with the first event (from index `from`) that matches; rejects after `timeoutMs` or if the process exits. */
  async waitFor<E extends MeshNodeEvent> (what: string, match: (event: MeshNodeEvent) => event is E, options?: { from?: number, timeoutMs?: number }): Promise<E>
  async waitFor (what: string, match: (event: MeshNodeEvent) => boolean, options?: { from?: number, timeoutMs?: number }): Promise<MeshNodeEvent>
  async waitFor (what: string, match: (event: MeshNodeEvent) => boolean, { from = 0, timeoutMs = 30_000 } = {}): Promise<MeshNodeEvent> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.slice(from).find(match)
        if (found !== undefined) {
          cleanup()
          resolve(found)
        } else if (this.exited) {
          cleanup()
          reject(new MeshNodeError(`mesh node ${this.pid} exited before ${what}; stderr: ${this.stderrTail}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new MeshNodeError(`mesh node ${this.pid}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderrTail}`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** The last reported status of an instance. */
  status (path: string): string | undefined {
    return this.events.findLast((e): e is Extract<MeshNodeEvent, { event: 'instance' }> => e.event === 'instance' && e.path === path)?.status
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal)
  }

  /** Stops the agent cleanly, or kills it if it does not answer. */
  async stop (): Promise<void> {
    if (this.exited) return
    try {
      await this.command({ cmd: 'stop' }, 5000)
    } catch {
      this.kill()
    }
    await new Promise<void>(resolve => {
      if (this.exited) return resolve()
      this.child.once('exit', () => resolve())
      setTimeout(() => { this.kill(); resolve() }, 5000).unref()
    })
  }
}
