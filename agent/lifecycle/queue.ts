// Per-instance action queues. An action claims instances: `write` for those it changes (the instance acted on and,
// for stop/undeploy, its subtree), `read` for those whose state it checks (the parent). An action waits only for the
// earlier actions whose claims conflict with its own (write/anything, read/write), so actions on one instance run
// one at a time in the order they were queued, while a slow script on one instance does not hold its siblings.
// Claims are taken at enqueue time, all at once, so waits only point at earlier actions: no deadlock.

export type ClaimMode = 'read' | 'write'
export type Claim = readonly [instancePath: string, mode: ClaimMode]

interface Pending { mode: ClaimMode, done: Promise<void> }

export class ActionQueue {
  private readonly pending = new Map<string, Pending[]>()
  private readonly running = new Set<Promise<void>>()

  /** Queues `task` behind the earlier conflicting actions; resolves when it has run. `task` must not throw. */
  run (claims: readonly Claim[], task: () => Promise<void>): Promise<void> {
    const waits: Promise<void>[] = []
    let release!: () => void
    const done = new Promise<void>(resolve => { release = resolve })
    const mine: Array<[string, Pending]> = []
    for (const [path, mode] of claims) {
      const list = this.pending.get(path) ?? []
      for (const earlier of list) if (mode === 'write' || earlier.mode === 'write') waits.push(earlier.done)
      const entry = { mode, done }
      list.push(entry)
      this.pending.set(path, list)
      mine.push([path, entry])
    }
    const whole = (async () => {
      await Promise.all(waits)
      try {
        await task()
      } finally {
        for (const [path, entry] of mine) {
          const list = this.pending.get(path)
          if (list === undefined) continue
          list.splice(list.indexOf(entry), 1)
          if (list.length === 0) this.pending.delete(path)
        }
        release()
      }
    })()
    this.running.add(whole)
    void whole.finally(() => this.running.delete(whole)).catch(() => {})
    return whole
  }

  /** Resolves once no action is queued or running (including actions queued by running ones). */
  async settled (): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }
}
