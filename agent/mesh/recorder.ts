// An ImportListener that records what the mesh reports, with timestamps, and lets callers wait for a state:
// used by the mesh node process (mesh-node.ts), the benchmark and the tests.
import type { ImportListener } from '../ports.js'
import type { Import } from '../../protocol/messages.js'

export type ImportEvent =
  | { kind: 'added', prefix: string, exported: Import, at: number }
  | { kind: 'removed', prefix: string, instancePath: string, at: number }

/** Waiting for an import state took longer than the caller allowed. */
export class ImportWaitTimeoutError extends Error {
  constructor (what: string, timeoutMs: number, current: unknown) {
    super(`no ${what} within ${timeoutMs} ms; current imports: ${JSON.stringify(current)}`)
    this.name = 'ImportWaitTimeoutError'
  }
}

export class ImportRecorder implements ImportListener {
  readonly events: ImportEvent[] = []
  /** prefix -> exporting instance path -> import, as last reported. */
  readonly current = new Map<string, Map<string, Import>>()
  private readonly waiters = new Set<() => void>()

  /** `onEvent` sees every event as it is recorded; `clock` gives its timestamp (default: epoch ms with fraction). */
  constructor (private readonly onEvent?: (event: ImportEvent) => void,
    private readonly clock: () => number = () => performance.timeOrigin + performance.now()) {}

  importAdded (prefix: string, exported: Import): void {
    let byPath = this.current.get(prefix)
    if (byPath === undefined) this.current.set(prefix, byPath = new Map())
    byPath.set(exported.instancePath, exported)
    this.record({ kind: 'added', prefix, exported, at: this.clock() })
  }

  importRemoved (prefix: string, instancePath: string): void {
    this.current.get(prefix)?.delete(instancePath)
    this.record({ kind: 'removed', prefix, instancePath, at: this.clock() })
  }

  /** The imports of a prefix, exporting path -> variables. */
  imports (prefix: string): Record<string, Record<string, string | null>> {
    return Object.fromEntries([...this.current.get(prefix)?.values() ?? []].map(i => [i.instancePath, i.variables]))
  }

  /** Resolves once `predicate` holds (checked now and after every event); rejects after `timeoutMs`. */
  async waitFor (what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    if (predicate()) return
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new ImportWaitTimeoutError(what, timeoutMs, Object.fromEntries([...this.current].map(([p, m]) => [p, [...m.keys()]]))))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
    })
  }

  private record (event: ImportEvent): void {
    this.events.push(event)
    this.onEvent?.(event)
    for (const check of [...this.waiters]) check()
  }
}
