// The store's tables: the first schema, the migrations after it, and opening a store file (made or migrated).
import { chmodSync, existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import { AUTONOMY_SCHEMA } from '../autonomy/store.js'

/** The store was written by a newer meshconf (its schema version is beyond what this build knows). */
export class StoreTooNewError extends Error {
  constructor (file: string, version: number, known: number) {
    super(`the DM store ${file} has schema version ${version}, this meshconf knows up to ${known}: run the meshconf ` +
      'release that wrote it, or a newer one')
    this.name = 'StoreTooNewError'
  }
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

/** Opens (creating it when missing) a store file and brings its schema to this build's version. */
export function openDatabase (file: string): Database.Database {
  const db = new Database(file)
  // The database holds the applications' keys and the agents' credentials: the owner's alone (WAL files too).
  if (file !== ':memory:') for (const part of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(part)) chmodSync(part, 0o600)
  // WAL keeps readers off the writer's way; synchronous=NORMAL stays durable across a process kill (not a power cut)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.exec(SCHEMA)
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > STORE_SCHEMA_VERSION) {
    db.close()
    throw new StoreTooNewError(file, version, STORE_SCHEMA_VERSION)
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= version) continue
    db.transaction(() => {
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    })()
  }
  return db
}
