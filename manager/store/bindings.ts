// The store's bindings: inter-application exports (prefix -> applications whose exports this one imports), with the
// version each change is signed with.
import type { Store } from '../store.js'
import type { StoreDb } from './statements.js'

export function bindingStore ({ db, sql }: StoreDb): Pick<Store,
  'bind' | 'unbind' | 'bindings' | 'replaceBindings' | 'unbindEverywhere' | 'nextBindingVersion' | 'bindingVersion'> {
  return {
    bind (application: string, prefix: string, boundApplication: string): void {
      sql('INSERT OR IGNORE INTO bindings (application, prefix, bound_application) VALUES (?, ?, ?)').run(application, prefix, boundApplication)
    },
    unbind (application: string, prefix: string, boundApplication: string): void {
      sql('DELETE FROM bindings WHERE application = ? AND prefix = ? AND bound_application = ?').run(application, prefix, boundApplication)
    },
    bindings (application: string): Record<string, string[]> {
      const rows = sql('SELECT prefix, bound_application FROM bindings WHERE application = ? ORDER BY prefix, bound_application')
        .all(application) as Array<{ prefix: string, bound_application: string }>
      const out: Record<string, string[]> = {}
      for (const r of rows) (out[r.prefix] ??= []).push(r.bound_application)
      return out
    },
    replaceBindings (application: string, prefix: string, boundApplications: readonly string[]): void {
      db.transaction(() => {
        sql('DELETE FROM bindings WHERE application = ? AND prefix = ?').run(application, prefix)
        for (const bound of boundApplications) {
          sql('INSERT OR IGNORE INTO bindings (application, prefix, bound_application) VALUES (?, ?, ?)').run(application, prefix, bound)
        }
      })()
    },
    unbindEverywhere (boundApplication: string): Array<{ application: string, prefix: string }> {
      const rows = sql('SELECT application, prefix FROM bindings WHERE bound_application = ?').all(boundApplication) as Array<{ application: string, prefix: string }>
      sql('DELETE FROM bindings WHERE bound_application = ?').run(boundApplication)
      return rows
    },
    nextBindingVersion (application: string, prefix: string): number {
      sql(`INSERT INTO binding_versions (application, prefix, version) VALUES (?, ?, 1)
        ON CONFLICT (application, prefix) DO UPDATE SET version = version + 1`).run(application, prefix)
      return (sql('SELECT version FROM binding_versions WHERE application = ? AND prefix = ?').get(application, prefix) as { version: number }).version
    },
    bindingVersion (application: string, prefix: string): number {
      const row = sql('SELECT version FROM binding_versions WHERE application = ? AND prefix = ?').get(application, prefix) as { version: number } | undefined
      return row?.version ?? 0
    }
  }
}
