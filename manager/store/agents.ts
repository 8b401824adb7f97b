// What the store keeps per agent: its last heartbeat, its credential for the embedded endpoint, and the messages
// waiting until it is up (Roboconf's store-and-forward, kept across DM restarts).
import type { DmToAgentMessage } from '../../protocol/messages.js'
import { HEARTBEAT_FLUSH_INTERVAL_MS } from '../constants.js'
import type { MachineCredentialRecord } from '../messaging/credentials.js'
import type { AgentRecord, PendingMessage, Store } from '../store.js'
import type { StoreDb } from './statements.js'

interface AgentRow { application: string, scoped_path: string, peer_id: string | null, listen_addresses: string, last_heartbeat_at: string, agent_version: string | null, metrics_address: string | null, domain_addresses: string | null }

function rowToAgent (r: AgentRow): AgentRecord {
  return {
    application: r.application, scopedInstancePath: r.scoped_path, peerId: r.peer_id ?? undefined,
    listenAddresses: JSON.parse(r.listen_addresses), lastHeartbeatAt: r.last_heartbeat_at,
    ...(r.agent_version === null ? {} : { agentVersion: r.agent_version }),
    ...(r.metrics_address === null ? {} : { metricsAddress: r.metrics_address }),
    ...(r.domain_addresses === null ? {} : { domainAddresses: JSON.parse(r.domain_addresses) as string[] })
  }
}

/** What a restarted DM needs of an agent's record (its peer and where it listens): all but the beat's time. */
function identityOf (record: AgentRecord): string {
  return JSON.stringify([record.peerId ?? null, record.listenAddresses, record.agentVersion ?? null, record.metricsAddress ?? null, record.domainAddresses ?? null])
}

/** What the rest of the store does with the heartbeats not yet written. */
export interface HeartbeatBuffer {
  /** Writes the buffered heartbeats now, in one transaction. */
  flushHeartbeats: () => void
  /** Forgets the buffered heartbeats of an application (it is being deleted). */
  dropHeartbeats: (application: string) => void
  /** Writes what is buffered and stops the timer (the store closes). */
  stopHeartbeats: () => void
}

export function agentStore ({ db, sql }: StoreDb, flushIntervalMs = HEARTBEAT_FLUSH_INTERVAL_MS): Pick<Store,
  'recordHeartbeat' | 'agents' | 'agent' | 'forgetAgent' | 'getCredential' | 'putCredential' | 'enqueue' | 'pending' |
  'acknowledge'> & HeartbeatBuffer {
  /**
   * The heartbeats received since the last write, by application then machine: the DM's view of them (reads merge
   * them over the table). Every agent beats every few seconds; one transaction a second writes them all, instead of
   * an upsert per beat.
   */
  const buffered = new Map<string, Map<string, AgentRecord>>()
  let timer: NodeJS.Timeout | undefined
  /**
   * What the table holds of each agent's peer and addresses (identityOf), by application then machine, as this DM
   * process wrote it. A beat that changes them is written at once, not buffered: a DM killed -9 within the flush
   * interval and restarted gives new agents their bootstrap peers from the table before the others beat again (over
   * the embedded endpoint they reconnect and beat seconds later), so an agent's addresses must not be lost with the
   * buffer; a lost beat that changed nothing but its time is harmless. Unknown after a restart: each agent's first
   * beat is written at once again.
   */
  const written = new Map<string, Map<string, string>>()

  function flushHeartbeats (): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (buffered.size === 0) return
    const records = [...buffered.values()].flatMap(byPath => [...byPath.values()])
    buffered.clear()
    db.transaction(() => { for (const record of records) write(record) })()
  }

  /** Upserts one agent's record (in the caller's transaction, if any). */
  function write (record: AgentRecord): void {
    sql(`INSERT INTO agents (application, scoped_path, peer_id, listen_addresses, last_heartbeat_at, agent_version, metrics_address, domain_addresses)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (application, scoped_path) DO UPDATE SET peer_id = excluded.peer_id,
        listen_addresses = excluded.listen_addresses, last_heartbeat_at = excluded.last_heartbeat_at,
        agent_version = excluded.agent_version, metrics_address = excluded.metrics_address, domain_addresses = excluded.domain_addresses`)
      .run(record.application, record.scopedInstancePath, record.peerId ?? null, JSON.stringify(record.listenAddresses),
        record.lastHeartbeatAt, record.agentVersion ?? null, record.metricsAddress ?? null,
        record.domainAddresses === undefined ? null : JSON.stringify(record.domainAddresses))
  }

  return {
    flushHeartbeats,
    dropHeartbeats (application: string): void {
      buffered.delete(application)
      written.delete(application)
    },
    stopHeartbeats (): void {
      flushHeartbeats()
    },
    recordHeartbeat (record: AgentRecord): void {
      const identity = identityOf(record)
      let known = written.get(record.application)
      if (known?.get(record.scopedInstancePath) !== identity) {
        // a new agent, new addresses, or the first beat since this DM started: durable at once (see `written`)
        buffered.get(record.application)?.delete(record.scopedInstancePath)
        write(record)
        if (known === undefined) written.set(record.application, known = new Map())
        known.set(record.scopedInstancePath, identity)
        return
      }
      let byPath = buffered.get(record.application)
      if (byPath === undefined) buffered.set(record.application, byPath = new Map())
      byPath.set(record.scopedInstancePath, record)
      if (timer === undefined) {
        // the timer does not keep the process alive: close() writes what is left
        timer = setTimeout(flushHeartbeats, flushIntervalMs)
        timer.unref()
      }
    },
    agents (application: string): AgentRecord[] {
      const rows = sql('SELECT * FROM agents WHERE application = ? ORDER BY scoped_path').all(application) as AgentRow[]
      const records = rows.map(rowToAgent)
      const fresh = buffered.get(application)
      if (fresh === undefined || fresh.size === 0) return records
      const byPath = new Map(records.map(r => [r.scopedInstancePath, r]))
      for (const [path, record] of fresh) byPath.set(path, record)
      return [...byPath.values()].sort((a, b) => a.scopedInstancePath < b.scopedInstancePath ? -1 : a.scopedInstancePath > b.scopedInstancePath ? 1 : 0)
    },
    agent (application: string, scopedInstancePath: string): AgentRecord | undefined {
      const fresh = buffered.get(application)?.get(scopedInstancePath)
      if (fresh !== undefined) return fresh
      const row = sql('SELECT * FROM agents WHERE application = ? AND scoped_path = ?').get(application, scopedInstancePath) as AgentRow | undefined
      return row === undefined ? undefined : rowToAgent(row)
    },
    forgetAgent (application: string, scopedInstancePath: string): void {
      buffered.get(application)?.delete(scopedInstancePath)
      written.get(application)?.delete(scopedInstancePath)
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
    }
  }
}
