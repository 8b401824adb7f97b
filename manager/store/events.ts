// The store's event history (kept when its application is deleted: the history says what happened to it).
import type { EventQuery, Store, StoredEvent } from '../store.js'
import { subtreeCondition, type StoreDb } from './statements.js'

export function eventStore ({ sql }: StoreDb): Pick<Store,
  'appendEvent' | 'events' | 'pruneEvents' | 'eventCount'> {
  return {
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
    }
  }
}
