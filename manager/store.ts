// The DM's database: templates, applications (instances with their states, machine ids, IP addresses, imports),
// bindings, targets and their associations, agents' last heartbeats and the messages waiting for an agent.
// One SQLite file (better-sqlite3, synchronous): every change is committed before the DM acts on it, so a DM
// killed at any point restarts from what it last did (Roboconf lost instances and states there: reference §8.3).
import Database from 'better-sqlite3'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { DmToAgentMessage, Import } from '../protocol/messages.js'
import type { ApplicationTemplate, Instance, ModelError, TargetDefinition } from '../protocol/model/types.js'
import type { TemplateSummary } from './dto.js'

export type { TemplateSummary } from './dto.js'

export interface StoredTemplate extends TemplateSummary {
  template: ApplicationTemplate
  /** Warnings found when it was loaded. */
  errors: ModelError[]
}

export interface ApplicationRecord {
  name: string
  template: { name: string, version: string }
  description?: string
  createdAt: string
  /** The application's libp2p private-network key, made once at creation. */
  pnetKey: string
}

/** An instance with what only the DM keeps: the imports its agent last reported. */
export interface StoredInstance extends Instance {
  imports: Record<string, Import[]>
  children: StoredInstance[]
}

export interface AgentRecord {
  application: string
  scopedInstancePath: string
  peerId?: string
  listenAddresses: string[]
  /** ISO date of the last heartbeat. */
  lastHeartbeatAt: string
}

export interface PendingMessage {
  id: number
  message: DmToAgentMessage
}

/** Which target a scoped instance uses: the application default, one instance path, or one component. */
export type TargetScope = { kind: 'default' } | { kind: 'path', path: string } | { kind: 'component', component: string }

export interface TargetAssociation {
  scope: TargetScope
  targetId: string
}

export interface StoreOptions {
  /** The SQLite file; created with its tables when missing. `:memory:` for a throw-away store. */
  file: string
}

/** One instance without its subtree (its `children` are not read): for a state, data or component. */
export type StoredInstanceNode = Omit<StoredInstance, 'children'>

/** The DM's persistent state. Every call is synchronous and committed when it returns (or with its transaction). */
export interface Store {
  putTemplate (template: ApplicationTemplate, errors: ModelError[]): TemplateSummary
  hasTemplate (name: string, version: string): boolean
  getTemplate (name: string, version: string): StoredTemplate | undefined
  listTemplates (): TemplateSummary[]
  deleteTemplate (name: string, version: string): boolean
  applicationsUsingTemplate (name: string, version: string): string[]

  createApplication (record: ApplicationRecord, rootInstances: Instance[]): void
  getApplication (name: string): ApplicationRecord | undefined
  listApplications (): ApplicationRecord[]
  deleteApplication (name: string): boolean

  /** The application's instance trees, roots in creation order. */
  instanceTrees (application: string): StoredInstance[]
  /** One instance with its whole subtree. */
  getInstance (application: string, path: string): StoredInstance | undefined
  /** One instance without its subtree: one row, where the subtree is not needed. */
  instanceAt (application: string, path: string): StoredInstanceNode | undefined
  /** The components of an instance and of its whole subtree, in creation order, each once. */
  subtreeComponents (application: string, path: string): string[]
  /** Adds an instance subtree under `parentPath` (null: a root instance). */
  addInstance (application: string, parentPath: string | null, instance: Instance): void
  deleteInstance (application: string, path: string): boolean
  statusOf (application: string, path: string): InstanceStatus | undefined
  setStatus (application: string, path: string, status: InstanceStatus): boolean
  /** Merges `patch` into the instance's data; a null value removes the key. */
  updateData (application: string, path: string, patch: Record<string, string | null>): void
  setImports (application: string, path: string, imports: Record<string, Import[]>): void
  setOverriddenExports (application: string, path: string, overrides: Record<string, string>): void

  /** Inter-application exports: prefix -> applications whose exports this one imports. */
  bind (application: string, prefix: string, boundApplication: string): void
  unbind (application: string, prefix: string, boundApplication: string): void
  bindings (application: string): Record<string, string[]>

  putTarget (target: TargetDefinition): void
  getTarget (id: string): TargetDefinition | undefined
  listTargets (): TargetDefinition[]
  associateTarget (application: string, scope: TargetScope, targetId: string): void
  targetAssociations (application: string): TargetAssociation[]

  recordHeartbeat (record: AgentRecord): void
  agents (application: string): AgentRecord[]
  /** Forgets an agent's heartbeat record and the messages waiting for it. */
  forgetAgent (application: string, scopedInstancePath: string): void

  /** Messages waiting until an agent is up (Roboconf's store-and-forward, kept across DM restarts). */
  enqueue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void
  pending (application: string, scopedInstancePath: string): PendingMessage[]
  acknowledge (id: number): void

  /** Runs `fn` in one transaction (all or nothing). */
  transaction<T> (fn: () => T): T
  close (): void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS templates (
  name TEXT NOT NULL, version TEXT NOT NULL, description TEXT, created_at TEXT NOT NULL,
  model TEXT NOT NULL, errors TEXT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS applications (
  name TEXT PRIMARY KEY, template_name TEXT NOT NULL, template_version TEXT NOT NULL, description TEXT,
  created_at TEXT NOT NULL, pnet_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  path TEXT NOT NULL, parent_path TEXT, name TEXT NOT NULL, component TEXT NOT NULL,
  status TEXT NOT NULL, data TEXT NOT NULL, overridden_exports TEXT NOT NULL, channels TEXT NOT NULL,
  imports TEXT NOT NULL,
  UNIQUE (application, path));
CREATE TABLE IF NOT EXISTS bindings (
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  prefix TEXT NOT NULL, bound_application TEXT NOT NULL,
  PRIMARY KEY (application, prefix, bound_application));
CREATE TABLE IF NOT EXISTS targets (
  id TEXT PRIMARY KEY, handler TEXT NOT NULL, name TEXT, description TEXT, properties TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS target_associations (
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  scope TEXT NOT NULL, target_id TEXT NOT NULL REFERENCES targets(id),
  PRIMARY KEY (application, scope));
CREATE TABLE IF NOT EXISTS agents (
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  scoped_path TEXT NOT NULL, peer_id TEXT, listen_addresses TEXT NOT NULL, last_heartbeat_at TEXT NOT NULL,
  PRIMARY KEY (application, scoped_path));
CREATE TABLE IF NOT EXISTS pending_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  scoped_path TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_by_agent ON pending_messages (application, scoped_path, id);
`

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
}

function scopeKey (scope: TargetScope): string {
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

/** The template as JSON: file contents in base64. */
function encodeTemplate (template: ApplicationTemplate): string {
  const files: Record<string, string> = {}
  for (const [path, content] of Object.entries(template.files)) files[path] = Buffer.from(content).toString('base64')
  return JSON.stringify({ ...template, files })
}

function decodeTemplate (text: string): ApplicationTemplate {
  const raw = JSON.parse(text) as Omit<ApplicationTemplate, 'files'> & { files: Record<string, string> }
  const files: Record<string, Uint8Array> = {}
  for (const [path, content] of Object.entries(raw.files)) files[path] = new Uint8Array(Buffer.from(content, 'base64'))
  return { ...raw, files }
}

/** `/a/b` and every path below it. */
function subtreeCondition (): string {
  return '(path = ? OR substr(path, 1, length(?) + 1) = ? || \'/\')'
}

export function createStore (options: StoreOptions): Store {
  const db = new Database(options.file)
  // WAL keeps readers off the writer's way; synchronous=NORMAL stays durable across a process kill (not a power cut)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.exec(SCHEMA)
  // statements are compiled once: the DM runs the same few queries for every message
  const statements = new Map<string, Database.Statement>()
  const sql = (text: string): Database.Statement => {
    let statement = statements.get(text)
    if (statement === undefined) statements.set(text, statement = db.prepare(text))
    return statement
  }

  const insertInstance = sql(`INSERT INTO instances
    (application, path, parent_path, name, component, status, data, overridden_exports, channels, imports)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')`)

  function insertTree (application: string, parentPath: string | null, instance: Instance): void {
    insertInstance.run(application, instance.path, parentPath, instance.name, instance.component,
      instance.status, JSON.stringify(instance.data), JSON.stringify(instance.overriddenExports),
      JSON.stringify(instance.channels))
    for (const child of instance.children) insertTree(application, instance.path, child)
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
      children: []
    }
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

  const store: Store = {
    // ---- templates
    putTemplate (template: ApplicationTemplate, errors: ModelError[]): TemplateSummary {
      const { name, version, description } = template.descriptor
      const createdAt = new Date().toISOString()
      sql('INSERT INTO templates (name, version, description, created_at, model, errors) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, version, description ?? null, createdAt, encodeTemplate(template), JSON.stringify(errors))
      return { name, version, description, createdAt }
    },
    hasTemplate (name: string, version: string): boolean {
      return sql('SELECT 1 FROM templates WHERE name = ? AND version = ?').get(name, version) !== undefined
    },
    getTemplate (name: string, version: string): StoredTemplate | undefined {
      const row = sql('SELECT * FROM templates WHERE name = ? AND version = ?').get(name, version) as
        { name: string, version: string, description: string | null, created_at: string, model: string, errors: string } | undefined
      if (row === undefined) return undefined
      return {
        name: row.name, version: row.version, description: row.description ?? undefined, createdAt: row.created_at,
        template: decodeTemplate(row.model), errors: JSON.parse(row.errors)
      }
    },
    listTemplates (): TemplateSummary[] {
      const rows = sql('SELECT name, version, description, created_at FROM templates ORDER BY name, version').all() as
        Array<{ name: string, version: string, description: string | null, created_at: string }>
      return rows.map(r => ({ name: r.name, version: r.version, description: r.description ?? undefined, createdAt: r.created_at }))
    },
    deleteTemplate (name: string, version: string): boolean {
      return sql('DELETE FROM templates WHERE name = ? AND version = ?').run(name, version).changes > 0
    },
    applicationsUsingTemplate (name: string, version: string): string[] {
      return (sql('SELECT name FROM applications WHERE template_name = ? AND template_version = ? ORDER BY name')
        .all(name, version) as Array<{ name: string }>).map(r => r.name)
    },

    // ---- applications
    createApplication (record: ApplicationRecord, rootInstances: Instance[]): void {
      db.transaction(() => {
        sql(`INSERT INTO applications (name, template_name, template_version, description, created_at, pnet_key)
          VALUES (?, ?, ?, ?, ?, ?)`).run(record.name, record.template.name, record.template.version,
          record.description ?? null, record.createdAt, record.pnetKey)
        for (const root of rootInstances) insertTree(record.name, null, root)
      })()
    },
    getApplication (name: string): ApplicationRecord | undefined {
      const row = sql('SELECT * FROM applications WHERE name = ?').get(name) as
        { name: string, template_name: string, template_version: string, description: string | null, created_at: string, pnet_key: string } | undefined
      if (row === undefined) return undefined
      return {
        name: row.name, template: { name: row.template_name, version: row.template_version },
        description: row.description ?? undefined, createdAt: row.created_at, pnetKey: row.pnet_key
      }
    },
    listApplications (): ApplicationRecord[] {
      const names = sql('SELECT name FROM applications ORDER BY name').all() as Array<{ name: string }>
      return names.map(r => store.getApplication(r.name) as ApplicationRecord)
    },
    deleteApplication (name: string): boolean {
      return sql('DELETE FROM applications WHERE name = ?').run(name).changes > 0
    },

    // ---- instances
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
      const { children: _, ...node } = rowToInstance(row)
      return node
    },
    subtreeComponents (application: string, path: string): string[] {
      const rows = sql(`SELECT component FROM instances WHERE application = ? AND ${subtreeCondition()} ORDER BY id`)
        .all(application, path, path, path) as Array<{ component: string }>
      return [...new Set(rows.map(r => r.component))]
    },
    /** Adds an instance subtree under `parentPath` (null: a root instance). */
    addInstance (application: string, parentPath: string | null, instance: Instance): void {
      db.transaction(() => insertTree(application, parentPath, instance))()
    },
    deleteInstance (application: string, path: string): boolean {
      return sql(`DELETE FROM instances WHERE application = ? AND ${subtreeCondition()}`)
        .run(application, path, path, path).changes > 0
    },
    statusOf (application: string, path: string): InstanceStatus | undefined {
      const row = sql('SELECT status FROM instances WHERE application = ? AND path = ?').get(application, path) as { status: string } | undefined
      return row?.status as InstanceStatus | undefined
    },
    setStatus (application: string, path: string, status: InstanceStatus): boolean {
      return sql('UPDATE instances SET status = ? WHERE application = ? AND path = ?')
        .run(status, application, path).changes > 0
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
    },

    // ---- bindings (inter-application exports: prefix -> applications whose exports this one imports)
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

    // ---- targets
    putTarget (target: TargetDefinition): void {
      sql('INSERT INTO targets (id, handler, name, description, properties) VALUES (?, ?, ?, ?, ?)')
        .run(target.id, target.handler, target.name ?? null, target.description ?? null, JSON.stringify(target.properties))
    },
    getTarget (id: string): TargetDefinition | undefined {
      const row = sql('SELECT * FROM targets WHERE id = ?').get(id) as
        { id: string, handler: string, name: string | null, description: string | null, properties: string } | undefined
      if (row === undefined) return undefined
      return { id: row.id, handler: row.handler, name: row.name ?? undefined, description: row.description ?? undefined, properties: JSON.parse(row.properties) }
    },
    listTargets (): TargetDefinition[] {
      const ids = sql('SELECT id FROM targets ORDER BY id').all() as Array<{ id: string }>
      return ids.map(r => store.getTarget(r.id) as TargetDefinition)
    },
    associateTarget (application: string, scope: TargetScope, targetId: string): void {
      sql('INSERT OR REPLACE INTO target_associations (application, scope, target_id) VALUES (?, ?, ?)')
        .run(application, scopeKey(scope), targetId)
    },
    targetAssociations (application: string): TargetAssociation[] {
      const rows = sql('SELECT scope, target_id FROM target_associations WHERE application = ? ORDER BY scope')
        .all(application) as Array<{ scope: string, target_id: string }>
      return rows.map(r => ({ scope: scopeOf(r.scope), targetId: r.target_id }))
    },

    // ---- agents
    recordHeartbeat (record: AgentRecord): void {
      sql(`INSERT INTO agents (application, scoped_path, peer_id, listen_addresses, last_heartbeat_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (application, scoped_path) DO UPDATE SET peer_id = excluded.peer_id,
          listen_addresses = excluded.listen_addresses, last_heartbeat_at = excluded.last_heartbeat_at`)
        .run(record.application, record.scopedInstancePath, record.peerId ?? null, JSON.stringify(record.listenAddresses), record.lastHeartbeatAt)
    },
    agents (application: string): AgentRecord[] {
      const rows = sql('SELECT * FROM agents WHERE application = ? ORDER BY scoped_path').all(application) as
        Array<{ application: string, scoped_path: string, peer_id: string | null, listen_addresses: string, last_heartbeat_at: string }>
      return rows.map(r => ({
        application: r.application, scopedInstancePath: r.scoped_path, peerId: r.peer_id ?? undefined,
        listenAddresses: JSON.parse(r.listen_addresses), lastHeartbeatAt: r.last_heartbeat_at
      }))
    },
    forgetAgent (application: string, scopedInstancePath: string): void {
      db.transaction(() => {
        sql('DELETE FROM agents WHERE application = ? AND scoped_path = ?').run(application, scopedInstancePath)
        sql('DELETE FROM pending_messages WHERE application = ? AND scoped_path = ?').run(application, scopedInstancePath)
      })()
    },

    // ---- messages waiting until an agent is up (Roboconf's store-and-forward, kept across DM restarts)
    enqueue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void {
      sql('INSERT INTO pending_messages (application, scoped_path, message) VALUES (?, ?, ?)')
        .run(application, scopedInstancePath, JSON.stringify(message))
    },
    pending (application: string, scopedInstancePath: string): PendingMessage[] {
      const rows = sql('SELECT id, message FROM pending_messages WHERE application = ? AND scoped_path = ? ORDER BY id')
        .all(application, scopedInstancePath) as Array<{ id: number, message: string }>
      return rows.map(r => ({ id: r.id, message: JSON.parse(r.message) }))
    },
    acknowledge (id: number): void {
      sql('DELETE FROM pending_messages WHERE id = ?').run(id)
    },

    /** Runs `fn` in one transaction (all or nothing). */
    transaction<T> (fn: () => T): T {
      return db.transaction(fn)()
    },
    close (): void {
      db.close()
    }
  }
  return store
}
