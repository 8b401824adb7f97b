// The store's applications and their instance trees (states, data, imports, what their agents last reported).
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { HeldImport, Import, InstanceProblem } from '../../protocol/messages.js'
import type { Instance } from '../../protocol/model/types.js'
import type { ApplicationRecord, Store, StoredInstance, StoredInstanceNode } from '../store.js'
import { subtreeCondition, type StoreDb } from './statements.js'
import { scopeKey } from './targets.js'

interface InstanceRow {
  path: string
  parent_path: string | null
  name: string
  component: string
  status: string
  data: string
  overridden_exports: string
  channels: string
  imports: string
  problem: string | null
  missing_imports: string | null
  held_imports: string | null
  status_since: string | null
}

/** An application's instances as (path, parent path, component), parents first (Store.instanceOutline). */
export type InstanceOutline = ReadonlyArray<{ readonly path: string, readonly parentPath: string | null, readonly component: string }>

/**
 * Each database's outlines by application, as last read outside a transaction: the DM reads one for every model it
 * sends (bootstrap peers), and only this file's parts add, delete or rename instances and applications (each such
 * change forgets the application's entry first).
 */
const outlines = new WeakMap<StoreDb['db'], Map<string, InstanceOutline>>()

function outlinesOf (db: StoreDb['db']): Map<string, InstanceOutline> {
  let byApplication = outlines.get(db)
  if (byApplication === undefined) outlines.set(db, byApplication = new Map())
  return byApplication
}

function rowToInstance (row: InstanceRow): StoredInstance {
  return {
    name: row.name,
    component: row.component,
    path: row.path,
    status: row.status as InstanceStatus,
    data: JSON.parse(row.data),
    overriddenExports: JSON.parse(row.overridden_exports),
    channels: JSON.parse(row.channels),
    imports: JSON.parse(row.imports),
    ...(row.problem === null ? {} : { problem: JSON.parse(row.problem) }),
    ...(row.missing_imports === null ? {} : { missingImports: JSON.parse(row.missing_imports) }),
    ...(row.held_imports === null ? {} : { heldImports: JSON.parse(row.held_imports) }),
    ...(row.status_since === null ? {} : { statusSince: row.status_since }),
    children: []
  }
}

/**
 * One instance without its children, its JSON columns decoded when first read: the DM looks instances up for every
 * agent message, and most handlers read the status, the component and the data only.
 */
function rowToNode (row: InstanceRow): StoredInstanceNode {
  const node = {
    name: row.name, component: row.component, path: row.path, status: row.status as InstanceStatus,
    ...(row.status_since === null ? {} : { statusSince: row.status_since })
  }
  const decodedLater = (key: string, text: string | null): void => {
    if (text === null) return
    let value: unknown
    let decoded = false
    Object.defineProperty(node, key, {
      enumerable: true,
      configurable: true,
      get: () => {
        if (!decoded) { value = JSON.parse(text); decoded = true }
        return value
      },
      set: (next: unknown) => { value = next; decoded = true }
    })
  }
  decodedLater('data', row.data)
  decodedLater('overriddenExports', row.overridden_exports)
  decodedLater('channels', row.channels)
  decodedLater('imports', row.imports)
  decodedLater('problem', row.problem)
  decodedLater('missingImports', row.missing_imports)
  decodedLater('heldImports', row.held_imports)
  return node as StoredInstanceNode
}

/** Builds trees from rows in insertion order (a parent is always inserted before its children). */
function buildTrees (rows: InstanceRow[], rootParent: string | null): StoredInstance[] {
  const byPath = new Map<string, StoredInstance>()
  const roots: StoredInstance[] = []
  for (const row of rows) {
    const instance = rowToInstance(row)
    byPath.set(instance.path, instance)
    const parent = row.parent_path === null ? undefined : byPath.get(row.parent_path)
    if (parent !== undefined && row.parent_path !== rootParent) parent.children.push(instance)
    else roots.push(instance)
  }
  return roots
}

export function applicationStore (part: StoreDb): Pick<Store,
  'createApplication' | 'getApplication' | 'listApplications' | 'deleteApplication' | 'setProbePeriod'> {
  const { db, sql } = part
  const { insertTree } = instanceRows(part)

  /**
   * Applications by name, as last read outside a transaction: the DM reads its application's record for every
   * message of every agent, and only this store changes the table (each change forgets the entry first).
   */
  const known = new Map<string, ApplicationRecord>()
  const copy = (record: ApplicationRecord): ApplicationRecord => ({ ...record, template: { ...record.template } })

  function getApplication (name: string): ApplicationRecord | undefined {
    const cached = known.get(name)
    if (cached !== undefined) return copy(cached)
    const row = sql('SELECT * FROM applications WHERE name = ?').get(name) as
      { name: string, template_name: string, template_version: string, description: string | null, created_at: string, pnet_key: string, probe_period_ms: number | null } | undefined
    if (row === undefined) return undefined
    const record: ApplicationRecord = {
      name: row.name, template: { name: row.template_name, version: row.template_version },
      description: row.description ?? undefined, createdAt: row.created_at, pnetKey: row.pnet_key,
      ...(row.probe_period_ms === null ? {} : { probePeriodMs: row.probe_period_ms })
    }
    // not what a transaction that may still roll back shows
    if (!db.inTransaction) known.set(name, record)
    return copy(record)
  }

  return {
    createApplication (record: ApplicationRecord, rootInstances: Instance[]): void {
      known.delete(record.name)
      outlinesOf(db).delete(record.name)
      db.transaction(() => {
        sql(`INSERT INTO applications (name, template_name, template_version, description, created_at, pnet_key, probe_period_ms)
          VALUES (?, ?, ?, ?, ?, ?, ?)`).run(record.name, record.template.name, record.template.version,
          record.description ?? null, record.createdAt, record.pnetKey, record.probePeriodMs ?? null)
        for (const root of rootInstances) insertTree(record.name, null, root)
      })()
    },
    getApplication,
    listApplications (): ApplicationRecord[] {
      const names = sql('SELECT name FROM applications ORDER BY name').all() as Array<{ name: string }>
      return names.map(r => getApplication(r.name) as ApplicationRecord)
    },
    deleteApplication (name: string): boolean {
      known.delete(name)
      outlinesOf(db).delete(name)
      return sql('DELETE FROM applications WHERE name = ?').run(name).changes > 0
    },
    setProbePeriod (name: string, probePeriodMs: number | undefined): boolean {
      known.delete(name)
      return sql('UPDATE applications SET probe_period_ms = ? WHERE name = ?').run(probePeriodMs ?? null, name).changes > 0
    }
  }
}

/** Inserts an instance subtree under `parentPath` (null: a root), parents first. */
function instanceRows ({ sql }: StoreDb): { insertTree: (application: string, parentPath: string | null, instance: Instance) => void } {
  const insertInstance = sql(`INSERT INTO instances
    (application, path, parent_path, name, component, status, data, overridden_exports, channels, imports)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')`)

  function insertTree (application: string, parentPath: string | null, instance: Instance): void {
    insertInstance.run(application, instance.path, parentPath, instance.name, instance.component,
      instance.status, JSON.stringify(instance.data), JSON.stringify(instance.overriddenExports),
      JSON.stringify(instance.channels))
    for (const child of instance.children) insertTree(application, instance.path, child)
  }
  return { insertTree }
}

export function instanceStore (part: StoreDb): Pick<Store,
  'instanceTrees' | 'getInstance' | 'instanceAt' | 'subtreeComponents' | 'instanceOutline' | 'addInstance' | 'deleteInstance' |
  'renameInstance' | 'statusOf' | 'setStatus' | 'setProblem' | 'setAgentReport' | 'updateData' | 'setImports' |
  'setOverriddenExports'> {
  const { db, sql } = part
  const { insertTree } = instanceRows(part)
  return {
    /** The application's instance trees, roots in creation order. */
    instanceTrees (application: string): StoredInstance[] {
      const rows = sql('SELECT * FROM instances WHERE application = ? ORDER BY id').all(application) as InstanceRow[]
      return buildTrees(rows, null)
    },
    /** One instance with its subtree. */
    getInstance (application: string, path: string): StoredInstance | undefined {
      const rows = sql(`SELECT * FROM instances WHERE application = ? AND ${subtreeCondition()} ORDER BY id`)
        .all(application, path, path, path) as InstanceRow[]
      const top = rows.find(r => r.path === path)
      if (top === undefined) return undefined
      return buildTrees(rows, top.parent_path)[0]
    },
    instanceAt (application: string, path: string): StoredInstanceNode | undefined {
      const row = sql('SELECT * FROM instances WHERE application = ? AND path = ?').get(application, path) as InstanceRow | undefined
      if (row === undefined) return undefined
      return rowToNode(row)
    },
    subtreeComponents (application: string, path: string): string[] {
      const rows = sql(`SELECT component FROM instances WHERE application = ? AND ${subtreeCondition()} ORDER BY id`)
        .all(application, path, path, path) as Array<{ component: string }>
      return [...new Set(rows.map(r => r.component))]
    },
    instanceOutline (application: string): InstanceOutline {
      const cached = outlinesOf(db).get(application)
      if (cached !== undefined) return cached
      const rows = sql('SELECT path, parent_path, component FROM instances WHERE application = ? ORDER BY id').all(application) as
        Array<{ path: string, parent_path: string | null, component: string }>
      const outline: InstanceOutline = Object.freeze(rows.map(r => Object.freeze({ path: r.path, parentPath: r.parent_path, component: r.component })))
      // not what a transaction that may still roll back shows
      if (!db.inTransaction) outlinesOf(db).set(application, outline)
      return outline
    },
    /** Adds an instance subtree under `parentPath` (null: a root instance). */
    addInstance (application: string, parentPath: string | null, instance: Instance): void {
      outlinesOf(db).delete(application)
      db.transaction(() => insertTree(application, parentPath, instance))()
    },
    deleteInstance (application: string, path: string): boolean {
      outlinesOf(db).delete(application)
      return sql(`DELETE FROM instances WHERE application = ? AND ${subtreeCondition()}`)
        .run(application, path, path, path).changes > 0
    },
    /**
     * Renames an instance: its path and its subtree's paths change, and a target associated with its path follows
     * it. The caller checks that the new name is free and the subtree NOT_DEPLOYED.
     */
    renameInstance (application: string, path: string, newName: string): string {
      const newPath = `${path.slice(0, path.lastIndexOf('/'))}/${newName}`
      outlinesOf(db).delete(application)
      db.transaction(() => {
        const moved = (column: string): string => `${column} = ? || substr(${column}, length(?) + 1)`
        sql(`UPDATE instances SET ${moved('path')} WHERE application = ? AND ${subtreeCondition()}`)
          .run(newPath, path, application, path, path, path)
        sql(`UPDATE instances SET ${moved('parent_path')} WHERE application = ? AND parent_path IS NOT NULL AND
          (parent_path = ? OR substr(parent_path, 1, length(?) + 1) = ? || '/')`)
          .run(newPath, path, application, path, path, path)
        sql('UPDATE instances SET name = ? WHERE application = ? AND path = ?').run(newName, application, newPath)
        sql('UPDATE target_associations SET scope = ? WHERE application = ? AND scope = ?')
          .run(scopeKey({ kind: 'path', path: newPath }), application, scopeKey({ kind: 'path', path }))
        sql('UPDATE agents SET scoped_path = ? WHERE application = ? AND scoped_path = ?').run(newPath, application, path)
      })()
      return newPath
    },
    statusOf (application: string, path: string): InstanceStatus | undefined {
      const row = sql('SELECT status FROM instances WHERE application = ? AND path = ?').get(application, path) as { status: string } | undefined
      return row?.status as InstanceStatus | undefined
    },
    setStatus (application: string, path: string, status: InstanceStatus): boolean {
      return sql(`UPDATE instances SET status_since = CASE WHEN status = ? THEN status_since ELSE ? END, status = ?
        WHERE application = ? AND path = ?`).run(status, new Date().toISOString(), status, application, path).changes > 0
    },
    /** The last failure reported for an instance (null forgets it). */
    setProblem (application: string, path: string, problem: InstanceProblem | null): void {
      sql('UPDATE instances SET problem = ? WHERE application = ? AND path = ?')
        .run(problem === null ? null : JSON.stringify(problem), application, path)
    },
    setAgentReport (application: string, path: string, report: { imports: Record<string, Import[]>, missingImports?: string[], heldImports?: HeldImport[] }): void {
      sql('UPDATE instances SET imports = ?, missing_imports = ?, held_imports = ? WHERE application = ? AND path = ?')
        .run(JSON.stringify(report.imports), report.missingImports === undefined ? null : JSON.stringify(report.missingImports),
          report.heldImports === undefined ? null : JSON.stringify(report.heldImports), application, path)
    },
    /** Merges `patch` into the instance's data; a null value removes the key. */
    updateData (application: string, path: string, patch: Record<string, string | null>): void {
      db.transaction(() => {
        const row = sql('SELECT data FROM instances WHERE application = ? AND path = ?').get(application, path) as { data: string } | undefined
        if (row === undefined) return
        const data = JSON.parse(row.data) as Record<string, string>
        for (const [key, value] of Object.entries(patch)) {
          if (value === null) delete data[key]
          else data[key] = value
        }
        sql('UPDATE instances SET data = ? WHERE application = ? AND path = ?').run(JSON.stringify(data), application, path)
      })()
    },
    setImports (application: string, path: string, imports: Record<string, Import[]>): void {
      sql('UPDATE instances SET imports = ? WHERE application = ? AND path = ?').run(JSON.stringify(imports), application, path)
    },
    setOverriddenExports (application: string, path: string, overrides: Record<string, string>): void {
      sql('UPDATE instances SET overridden_exports = ? WHERE application = ? AND path = ?').run(JSON.stringify(overrides), application, path)
    }
  }
}
