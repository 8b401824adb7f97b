// The DM's database: templates, applications (instances with their states, machine ids, IP addresses, imports),
// bindings, targets and their associations, agents' last heartbeats and the messages waiting for an agent.
// One SQLite file (better-sqlite3, synchronous): every change is committed before the DM acts on it, so a DM
// killed at any point restarts from what it last did (Roboconf lost instances and states there: reference §8.3).
import { chmodSync, existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { DmToAgentMessage, HeldImport, Import, InstanceProblem } from '../protocol/messages.js'
import type { ApplicationTemplate, Instance, ModelError, TargetDefinition } from '../protocol/model/types.js'
import type { TargetScope, TemplateSummary } from './dto.js'
import { AUTONOMY_SCHEMA, createAutonomyStore, type AutonomyStore } from './autonomy/store.js'
import type { MachineCredentialRecord } from './messaging/credentials.js'

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
  /** How often its agents evaluate their probes, in milliseconds; undefined: the DM's default. */
  probePeriodMs?: number
}

/** An instance with what only the DM keeps: the imports its agent last reported. */
export interface StoredInstance extends Instance {
  imports: Record<string, Import[]>
  /** The last failure its agent reported (kept after the instance recovers: `describe` shows it with its time). */
  problem?: InstanceProblem
  /** Mandatory import prefixes with no exporter, as its agent last reported. */
  missingImports?: string[]
  /** Imports held, from which instance, since when, as its agent last reported. */
  heldImports?: HeldImport[]
  /** ISO time of the last change of its state (unknown for states stored before schema version 2). */
  statusSince?: string
  children: StoredInstance[]
}

export interface AgentRecord {
  application: string
  scopedInstancePath: string
  peerId?: string
  listenAddresses: string[]
  /** ISO date of the last heartbeat. */
  lastHeartbeatAt: string
  /** The agent's meshconf version, when its heartbeat says it. */
  agentVersion?: string
  /** `host:port` of the agent's metrics, when it serves them. */
  metricsAddress?: string
  /** Multiaddrs of its domain exchange node (inter-application imports), when it takes part in it. */
  domainAddresses?: string[]
}

/** One entry of the event history. */
export interface StoredEvent {
  id: number
  /** ISO time. */
  at: string
  application?: string
  path?: string
  /** `state`, `problem`, `machine`, `application`, `template`, `request`, ... */
  kind: string
  /** What happened, in words (the new state, the failure, `POST /api/...`). */
  reason: string
  /** Who made it happen: `agent`, `dm`, `rest`. */
  actor: string
  /** The event as the live stream carries it. */
  body: Record<string, unknown>
}

export interface EventQuery {
  application?: string
  /** The events of this instance and its subtree. */
  path?: string
  /** With `path`: the events of that instance only. */
  exactPath?: boolean
  /** Only events after this id (a cursor). */
  afterId?: number
  /** Only events at or after this time (ms since the epoch). */
  sinceMs?: number
  /** At most this many, the most recent ones (default all). */
  limit?: number
}

export interface PendingMessage {
  id: number
  message: DmToAgentMessage
}

export type { TargetScope } from './dto.js'

export interface TargetAssociation {
  scope: TargetScope
  targetId: string
}

export interface StoreOptions {
  /** The SQLite file; created with its tables when missing. `:memory:` for a throw-away store. */
  file: string
}

/** The store was written by a newer meshconf (its schema version is beyond what this build knows). */
export class StoreTooNewError extends Error {
  constructor (file: string, version: number, known: number) {
    super(`the DM store ${file} has schema version ${version}, this meshconf knows up to ${known}: run the meshconf ` +
      'release that wrote it, or a newer one')
    this.name = 'StoreTooNewError'
  }
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
  /** Sets (or, undefined, clears) the application's probe period; false when there is no such application. */
  setProbePeriod (name: string, probePeriodMs: number | undefined): boolean

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
  /**
   * Renames an instance: its path and its subtree's paths change, and a target associated with its path follows
   * it. The caller checks that the new name is free and the subtree NOT_DEPLOYED. Returns the new path.
   */
  renameInstance (application: string, path: string, newName: string): string
  statusOf (application: string, path: string): InstanceStatus | undefined
  setStatus (application: string, path: string, status: InstanceStatus): boolean
  /** Merges `patch` into the instance's data; a null value removes the key. */
  updateData (application: string, path: string, patch: Record<string, string | null>): void
  setImports (application: string, path: string, imports: Record<string, Import[]>): void
  setOverriddenExports (application: string, path: string, overrides: Record<string, string>): void
  /** The last failure reported for an instance (null forgets it). */
  setProblem (application: string, path: string, problem: InstanceProblem | null): void
  /** What an instance misses and holds, as its agent last reported (undefined: the agent did not say). */
  setImportReport (application: string, path: string, report: { missingImports?: string[], heldImports?: HeldImport[] }): void

  /** Inter-application exports: prefix -> applications whose exports this one imports. */
  bind (application: string, prefix: string, boundApplication: string): void
  unbind (application: string, prefix: string, boundApplication: string): void
  bindings (application: string): Record<string, string[]>
  /** Replaces the applications `application` imports `prefix` from (bind-x). */
  replaceBindings (application: string, prefix: string, boundApplications: readonly string[]): void
  /** Forgets every binding to `boundApplication` (it is deleted); returns the (application, prefix) pairs it changed. */
  unbindEverywhere (boundApplication: string): Array<{ application: string, prefix: string }>
  /** The version of the binding of (application, prefix), grown by one: every change is signed with a new one. */
  nextBindingVersion (application: string, prefix: string): number
  /** The current version of the binding of (application, prefix); 0 before any change. */
  bindingVersion (application: string, prefix: string): number

  putTarget (target: TargetDefinition): void
  getTarget (id: string): TargetDefinition | undefined
  listTargets (): TargetDefinition[]
  associateTarget (application: string, scope: TargetScope, targetId: string): void
  targetAssociations (application: string): TargetAssociation[]
  /** Deletes a target (its associations must be gone: the foreign key refuses otherwise). */
  deleteTarget (id: string): boolean
  /** Every association naming the target, in every application. */
  targetAssociationsOf (targetId: string): Array<{ application: string } & TargetAssociation>

  recordHeartbeat (record: AgentRecord): void
  agents (application: string): AgentRecord[]
  /** Forgets an agent's heartbeat record and the messages waiting for it. */
  forgetAgent (application: string, scopedInstancePath: string): void
  /** The hash and generation of a machine's credential (manager/messaging/credentials.ts), kept across DM restarts. */
  getCredential (application: string, scopedInstancePath: string): MachineCredentialRecord | undefined
  putCredential (application: string, scopedInstancePath: string, record: MachineCredentialRecord): void

  /** Messages waiting until an agent is up (Roboconf's store-and-forward, kept across DM restarts). */
  enqueue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void
  pending (application: string, scopedInstancePath: string): PendingMessage[]
  acknowledge (id: number): void

  /** The event history (kept when its application is deleted: it says what happened to it). */
  appendEvent (event: Omit<StoredEvent, 'id'>): StoredEvent
  /** Events matching the query, oldest first. */
  events (query?: EventQuery): StoredEvent[]
  /** Deletes the events beyond the `maxEvents` most recent and those older than `maxAgeMs`; returns how many went. */
  pruneEvents (maxEvents: number, maxAgeMs: number): number
  eventCount (): number

  /** Runs `fn` in one transaction (all or nothing). */
  transaction<T> (fn: () => T): T
  close (): void

  /** History of commands, scales, rules and schedules; scheduled jobs (manager/autonomy/store.ts). */
  readonly autonomy: AutonomyStore
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

/**
 * Migrations after the first schema (version 1, SCHEMA above, which stores made before versions existed have, with
 * user_version 0): the store's `PRAGMA user_version` says which ran. Each runs once, in a transaction, in order.
 * Add new ones at the end; never edit one that shipped.
 */
const MIGRATIONS: ReadonlyArray<{ version: number, sql: string }> = [
  {
    // what an operator needs to see why: last problem, missing and held imports, state times, agent versions, events
    version: 2,
    sql: `
ALTER TABLE instances ADD COLUMN problem TEXT;
ALTER TABLE instances ADD COLUMN missing_imports TEXT;
ALTER TABLE instances ADD COLUMN held_imports TEXT;
ALTER TABLE instances ADD COLUMN status_since TEXT;
ALTER TABLE agents ADD COLUMN agent_version TEXT;
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, at_ms INTEGER NOT NULL,
  application TEXT, path TEXT, kind TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX events_by_application ON events (application, id);
CREATE INDEX events_by_time ON events (at_ms);
`
  },
  // the history of commands, scales, rules and schedules; scheduled jobs (manager/autonomy/store.ts)
  { version: 3, sql: AUTONOMY_SCHEMA },
  {
    // per-machine credentials of the embedded endpoint: hashed, with their generation ('' once revoked)
    version: 4,
    sql: `
CREATE TABLE agent_credentials (
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  scoped_path TEXT NOT NULL, generation INTEGER NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (application, scoped_path));
`
  },
  // where Prometheus scrapes each agent (GET /api/metrics/targets)
  { version: 5, sql: 'ALTER TABLE agents ADD COLUMN metrics_address TEXT;' },
  // an application's own probe period (NULL: the DM's default)
  { version: 6, sql: 'ALTER TABLE applications ADD COLUMN probe_period_ms INTEGER;' },
  {
    // inter-application imports: the version each binding change is signed with, the agents' domain addresses
    version: 7,
    sql: `
CREATE TABLE binding_versions (
  application TEXT NOT NULL REFERENCES applications(name) ON DELETE CASCADE,
  prefix TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (application, prefix));
ALTER TABLE agents ADD COLUMN domain_addresses TEXT;
`
  }
]

/** The schema version this build writes. */
export const STORE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version

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
  // The database holds the applications' keys and the agents' credentials: the owner's alone (WAL files too).
  if (options.file !== ':memory:') for (const file of [options.file, `${options.file}-wal`, `${options.file}-shm`]) if (existsSync(file)) chmodSync(file, 0o600)
  // WAL keeps readers off the writer's way; synchronous=NORMAL stays durable across a process kill (not a power cut)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.exec(SCHEMA)
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > STORE_SCHEMA_VERSION) {
    db.close()
    throw new StoreTooNewError(options.file, version, STORE_SCHEMA_VERSION)
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= version) continue
    db.transaction(() => {
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    })()
  }
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
      ...(row.problem === null ? {} : { problem: JSON.parse(row.problem) }),
      ...(row.missing_imports === null ? {} : { missingImports: JSON.parse(row.missing_imports) }),
      ...(row.held_imports === null ? {} : { heldImports: JSON.parse(row.held_imports) }),
      ...(row.status_since === null ? {} : { statusSince: row.status_since }),
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
    autonomy: createAutonomyStore(db),
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
        sql(`INSERT INTO applications (name, template_name, template_version, description, created_at, pnet_key, probe_period_ms)
          VALUES (?, ?, ?, ?, ?, ?, ?)`).run(record.name, record.template.name, record.template.version,
          record.description ?? null, record.createdAt, record.pnetKey, record.probePeriodMs ?? null)
        for (const root of rootInstances) insertTree(record.name, null, root)
      })()
    },
    getApplication (name: string): ApplicationRecord | undefined {
      const row = sql('SELECT * FROM applications WHERE name = ?').get(name) as
        { name: string, template_name: string, template_version: string, description: string | null, created_at: string, pnet_key: string, probe_period_ms: number | null } | undefined
      if (row === undefined) return undefined
      return {
        name: row.name, template: { name: row.template_name, version: row.template_version },
        description: row.description ?? undefined, createdAt: row.created_at, pnetKey: row.pnet_key,
        ...(row.probe_period_ms === null ? {} : { probePeriodMs: row.probe_period_ms })
      }
    },
    listApplications (): ApplicationRecord[] {
      const names = sql('SELECT name FROM applications ORDER BY name').all() as Array<{ name: string }>
      return names.map(r => store.getApplication(r.name) as ApplicationRecord)
    },
    deleteApplication (name: string): boolean {
      return sql('DELETE FROM applications WHERE name = ?').run(name).changes > 0
    },
    setProbePeriod (name: string, probePeriodMs: number | undefined): boolean {
      return sql('UPDATE applications SET probe_period_ms = ? WHERE name = ?').run(probePeriodMs ?? null, name).changes > 0
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
    /**
     * Renames an instance: its path and its subtree's paths change, and a target associated with its path follows
     * it. The caller checks that the new name is free and the subtree NOT_DEPLOYED.
     */
    renameInstance (application: string, path: string, newName: string): string {
      const newPath = `${path.slice(0, path.lastIndexOf('/'))}/${newName}`
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
    /** What an instance misses and holds, as its agent last reported (undefined: the agent did not say). */
    setImportReport (application: string, path: string, report: { missingImports?: string[], heldImports?: HeldImport[] }): void {
      sql('UPDATE instances SET missing_imports = ?, held_imports = ? WHERE application = ? AND path = ?')
        .run(report.missingImports === undefined ? null : JSON.stringify(report.missingImports),
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
    },

    // ---- agents
    recordHeartbeat (record: AgentRecord): void {
      sql(`INSERT INTO agents (application, scoped_path, peer_id, listen_addresses, last_heartbeat_at, agent_version, metrics_address, domain_addresses)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (application, scoped_path) DO UPDATE SET peer_id = excluded.peer_id,
          listen_addresses = excluded.listen_addresses, last_heartbeat_at = excluded.last_heartbeat_at,
          agent_version = excluded.agent_version, metrics_address = excluded.metrics_address, domain_addresses = excluded.domain_addresses`)
        .run(record.application, record.scopedInstancePath, record.peerId ?? null, JSON.stringify(record.listenAddresses),
          record.lastHeartbeatAt, record.agentVersion ?? null, record.metricsAddress ?? null,
          record.domainAddresses === undefined ? null : JSON.stringify(record.domainAddresses))
    },
    agents (application: string): AgentRecord[] {
      const rows = sql('SELECT * FROM agents WHERE application = ? ORDER BY scoped_path').all(application) as
        Array<{ application: string, scoped_path: string, peer_id: string | null, listen_addresses: string, last_heartbeat_at: string, agent_version: string | null, metrics_address: string | null, domain_addresses: string | null }>
      return rows.map(r => ({
        application: r.application, scopedInstancePath: r.scoped_path, peerId: r.peer_id ?? undefined,
        listenAddresses: JSON.parse(r.listen_addresses), lastHeartbeatAt: r.last_heartbeat_at,
        ...(r.agent_version === null ? {} : { agentVersion: r.agent_version }),
        ...(r.metrics_address === null ? {} : { metricsAddress: r.metrics_address }),
        ...(r.domain_addresses === null ? {} : { domainAddresses: JSON.parse(r.domain_addresses) as string[] })
      }))
    },
    forgetAgent (application: string, scopedInstancePath: string): void {
      db.transaction(() => {
        sql('DELETE FROM agents WHERE application = ? AND scoped_path = ?').run(application, scopedInstancePath)
        sql('DELETE FROM pending_messages WHERE application = ? AND scoped_path = ?').run(application, scopedInstancePath)
      })()
    },

    getCredential (application: string, scopedInstancePath: string): MachineCredentialRecord | undefined {
      const row = sql('SELECT generation, hash FROM agent_credentials WHERE application = ? AND scoped_path = ?')
        .get(application, scopedInstancePath) as { generation: number, hash: string } | undefined
      return row === undefined ? undefined : { generation: row.generation, hash: row.hash }
    },
    putCredential (application: string, scopedInstancePath: string, record: MachineCredentialRecord): void {
      sql(`INSERT INTO agent_credentials (application, scoped_path, generation, hash) VALUES (?, ?, ?, ?)
        ON CONFLICT (application, scoped_path) DO UPDATE SET generation = excluded.generation, hash = excluded.hash`)
        .run(application, scopedInstancePath, record.generation, record.hash)
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

    // ---- event history (kept when its application is deleted: the history says what happened to it)
    appendEvent (event: Omit<StoredEvent, 'id'>): StoredEvent {
      const id = sql(`INSERT INTO events (at, at_ms, application, path, kind, reason, actor, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(event.at, Date.parse(event.at), event.application ?? null, event.path ?? null, event.kind, event.reason,
          event.actor, JSON.stringify(event.body)).lastInsertRowid
      return { id: Number(id), ...event }
    },
    /** Events matching the query, oldest first. */
    events (query: EventQuery = {}): StoredEvent[] {
      const where: string[] = []
      const values: unknown[] = []
      if (query.application !== undefined) { where.push('application = ?'); values.push(query.application) }
      if (query.path !== undefined && query.exactPath === true) { where.push('path = ?'); values.push(query.path) }
      else if (query.path !== undefined) { where.push(subtreeCondition()); values.push(query.path, query.path, query.path) }
      if (query.afterId !== undefined) { where.push('id > ?'); values.push(query.afterId) }
      if (query.sinceMs !== undefined) { where.push('at_ms >= ?'); values.push(query.sinceMs) }
      const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
      // the most recent `limit`, given oldest first
      const text = query.limit !== undefined
        ? `SELECT * FROM (SELECT * FROM events ${filter} ORDER BY id DESC LIMIT ?) ORDER BY id`
        : `SELECT * FROM events ${filter} ORDER BY id`
      if (query.limit !== undefined) values.push(query.limit)
      const rows = sql(text).all(...values) as Array<{ id: number, at: string, application: string | null, path: string | null,
        kind: string, reason: string, actor: string, body: string }>
      return rows.map(r => ({
        id: r.id, at: r.at, ...(r.application === null ? {} : { application: r.application }), ...(r.path === null ? {} : { path: r.path }),
        kind: r.kind, reason: r.reason, actor: r.actor, body: JSON.parse(r.body)
      }))
    },
    /** Deletes the events beyond the `maxEvents` most recent and those older than `maxAgeMs`; returns how many went. */
    pruneEvents (maxEvents: number, maxAgeMs: number): number {
      const newest = (sql('SELECT MAX(id) AS id FROM events').get() as { id: number | null }).id ?? 0
      return sql('DELETE FROM events WHERE id <= ? OR at_ms < ?').run(newest - maxEvents, Date.now() - maxAgeMs).changes
    },
    eventCount (): number {
      return (sql('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n
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
