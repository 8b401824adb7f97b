// What every part of the store works with: the database and its compiled statements.
import type Database from 'better-sqlite3'

export interface StoreDb {
  db: Database.Database
  /** The statement for this SQL text, compiled once: the DM runs the same few queries for every message. */
  sql: (text: string) => Database.Statement
}

export function storeDb (db: Database.Database): StoreDb {
  const statements = new Map<string, Database.Statement>()
  const sql = (text: string): Database.Statement => {
    let statement = statements.get(text)
    if (statement === undefined) statements.set(text, statement = db.prepare(text))
    return statement
  }
  return { db, sql }
}

/** `/a/b` and every path below it (the path given three times). */
export function subtreeCondition (): string {
  return '(path = ? OR substr(path, 1, length(?) + 1) = ? || \'/\')'
}
