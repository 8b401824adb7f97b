// The store's targets and their associations with an application's instances (by path, by component, or default).
import type { TargetDefinition } from '../../protocol/model/types.js'
import type { Store, TargetAssociation, TargetScope } from '../store.js'
import type { StoreDb } from './statements.js'

export function scopeKey (scope: TargetScope): string {
  switch (scope.kind) {
    case 'default': return 'default'
    case 'path': return `path:${scope.path}`
    case 'component': return `component:${scope.component}`
  }
}

function scopeOf (key: string): TargetScope {
  if (key.startsWith('path:')) return { kind: 'path', path: key.slice(5) }
  if (key.startsWith('component:')) return { kind: 'component', component: key.slice(10) }
  return { kind: 'default' }
}

export function targetStore ({ sql }: StoreDb): Pick<Store,
  'putTarget' | 'getTarget' | 'listTargets' | 'associateTarget' | 'deleteTarget' | 'targetAssociationsOf' |
  'targetAssociations'> {
  function getTarget (id: string): TargetDefinition | undefined {
    const row = sql('SELECT * FROM targets WHERE id = ?').get(id) as
      { id: string, handler: string, name: string | null, description: string | null, properties: string } | undefined
    if (row === undefined) return undefined
    return { id: row.id, handler: row.handler, name: row.name ?? undefined, description: row.description ?? undefined, properties: JSON.parse(row.properties) }
  }

  return {
    putTarget (target: TargetDefinition): void {
      sql('INSERT INTO targets (id, handler, name, description, properties) VALUES (?, ?, ?, ?, ?)')
        .run(target.id, target.handler, target.name ?? null, target.description ?? null, JSON.stringify(target.properties))
    },
    getTarget,
    listTargets (): TargetDefinition[] {
      const ids = sql('SELECT id FROM targets ORDER BY id').all() as Array<{ id: string }>
      return ids.map(r => getTarget(r.id) as TargetDefinition)
    },
    associateTarget (application: string, scope: TargetScope, targetId: string): void {
      sql('INSERT OR REPLACE INTO target_associations (application, scope, target_id) VALUES (?, ?, ?)')
        .run(application, scopeKey(scope), targetId)
    },
    /** Deletes a target (its associations must be gone: the foreign key refuses otherwise). */
    deleteTarget (id: string): boolean {
      return sql('DELETE FROM targets WHERE id = ?').run(id).changes > 0
    },
    /** Every association naming the target, in every application. */
    targetAssociationsOf (targetId: string): Array<{ application: string } & TargetAssociation> {
      const rows = sql('SELECT application, scope, target_id FROM target_associations WHERE target_id = ? ORDER BY application, scope')
        .all(targetId) as Array<{ application: string, scope: string, target_id: string }>
      return rows.map(r => ({ application: r.application, scope: scopeOf(r.scope), targetId: r.target_id }))
    },
    targetAssociations (application: string): TargetAssociation[] {
      const rows = sql('SELECT scope, target_id FROM target_associations WHERE application = ? ORDER BY scope')
        .all(application) as Array<{ scope: string, target_id: string }>
      return rows.map(r => ({ scope: scopeOf(r.scope), targetId: r.target_id }))
    }
  }
}
