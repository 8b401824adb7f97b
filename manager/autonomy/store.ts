// The DM's tables for elasticity: the history of what commands, scales, rules and schedules did (one row per
// instruction), and the scheduled jobs. Same SQLite file as the rest of the store (manager/store/schema.ts opens it).
import type Database from 'better-sqlite3'

/** Who asked: a person (REST/CLI), an autonomic rule, or a scheduled job. */
export type HistorySource = 'user' | 'rule' | 'schedule'

/** ok: done; error: failed (the file stops there); skipped: disabled instruction, or not run; missed: a schedule's run during downtime. */
export type HistoryOutcome = 'ok' | 'error' | 'skipped' | 'missed'

export interface HistoryEntry {
  id: number
  application: string
  /** The commands file's name, `scale` for a scale, or the job's commands for a missed run. */
  command: string
  /** The instruction's text (variables resolved), or what was done. */
  instruction: string
  /** Line of the instruction in its file; 0 when not from a file. */
  line: number
  source: HistorySource
  /** The rule's or the job's name; the user for a person when known; empty otherwise. */
  sourceName: string
  outcome: HistoryOutcome
  /** Why it failed or was skipped, or what it did. */
  detail: string
  /** ISO date when it started. */
  startedAt: string
  durationMs: number
  /** Groups the instructions of one execution of a commands file. */
  executionId: string
}

export interface ScheduledJob {
  id: string
  name: string
  application: string
  command: string
  /** Cron expression (croner: 5 or 6 fields). */
  cron: string
  createdAt: string
  /** ISO date of the last run that was due (run or missed); undefined before the first. */
  lastRunAt?: string
}

/** The store's migration for these tables (manager/store/schema.ts MIGRATIONS, version 3). */
export const AUTONOMY_SCHEMA = `
CREATE TABLE IF NOT EXISTS command_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  application TEXT NOT NULL, command TEXT NOT NULL, instruction TEXT NOT NULL, line INTEGER NOT NULL,
  source TEXT NOT NULL, source_name TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
  started_at TEXT NOT NULL, duration_ms INTEGER NOT NULL, execution_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS command_history_by_application ON command_history (application, id);
CREATE TABLE IF NOT EXISTS scheduled_jobs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, application TEXT NOT NULL, command TEXT NOT NULL, cron TEXT NOT NULL,
  created_at TEXT NOT NULL, last_run_at TEXT);
`

interface HistoryRow {
  id: number
  application: string
  command: string
  instruction: string
  line: number
  source: string
  source_name: string
  outcome: string
  detail: string
  started_at: string
  duration_ms: number
  execution_id: string
}

interface JobRow { id: string, name: string, application: string, command: string, cron: string, created_at: string, last_run_at: string | null }

function entryOf (row: HistoryRow): HistoryEntry {
  return {
    id: row.id, application: row.application, command: row.command, instruction: row.instruction, line: row.line,
    source: row.source as HistorySource, sourceName: row.source_name, outcome: row.outcome as HistoryOutcome,
    detail: row.detail, startedAt: row.started_at, durationMs: row.duration_ms, executionId: row.execution_id
  }
}

function jobOf (row: JobRow): ScheduledJob {
  const job: ScheduledJob = { id: row.id, name: row.name, application: row.application, command: row.command, cron: row.cron, createdAt: row.created_at }
  if (row.last_run_at !== null) job.lastRunAt = row.last_run_at
  return job
}

/** The history and the scheduled jobs, on the store's database (its migrations made the tables). */
export function createAutonomyStore (db: Database.Database) {
  return {
    record (entry: Omit<HistoryEntry, 'id'>): HistoryEntry {
      const result = db.prepare(`INSERT INTO command_history
        (application, command, instruction, line, source, source_name, outcome, detail, started_at, duration_ms, execution_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(entry.application, entry.command, entry.instruction, entry.line,
        entry.source, entry.sourceName, entry.outcome, entry.detail, entry.startedAt, Math.round(entry.durationMs), entry.executionId)
      return { ...entry, id: Number(result.lastInsertRowid) }
    },
    /** One page of an application's history, newest first; `total` counts every entry. */
    history (application: string, page: { offset: number, limit: number }): { total: number, entries: HistoryEntry[] } {
      const total = (db.prepare('SELECT count(*) AS n FROM command_history WHERE application = ?').get(application) as { n: number }).n
      const rows = db.prepare('SELECT * FROM command_history WHERE application = ? ORDER BY id DESC LIMIT ? OFFSET ?')
        .all(application, page.limit, page.offset) as HistoryRow[]
      return { total, entries: rows.map(entryOf) }
    },
    putJob (job: ScheduledJob): void {
      db.prepare('INSERT INTO scheduled_jobs (id, name, application, command, cron, created_at, last_run_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(job.id, job.name, job.application, job.command, job.cron, job.createdAt, job.lastRunAt ?? null)
    },
    jobs (): ScheduledJob[] {
      return (db.prepare('SELECT * FROM scheduled_jobs ORDER BY created_at, id').all() as JobRow[]).map(jobOf)
    },
    getJob (id: string): ScheduledJob | undefined {
      const row = db.prepare('SELECT * FROM scheduled_jobs WHERE id = ?').get(id) as JobRow | undefined
      return row === undefined ? undefined : jobOf(row)
    },
    setJobLastRun (id: string, at: string): void {
      db.prepare('UPDATE scheduled_jobs SET last_run_at = ? WHERE id = ?').run(at, id)
    },
    deleteJob (id: string): boolean {
      return db.prepare('DELETE FROM scheduled_jobs WHERE id = ?').run(id).changes > 0
    }
  }
}

export type AutonomyStore = ReturnType<typeof createAutonomyStore>
