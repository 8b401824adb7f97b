// One RabbitMQ user per machine, made and deleted by the DM through the broker's management HTTP API (the
// `rabbitmq_management` plug-in): a machine's user may read only its own queue, publish only to the DM's exchange
// and only with its own routing key (topic permissions), and declare nothing. The DM checks the `user_id` the broker
// vouches for on each message it receives (amqp.ts). Undeploying (or making again) a machine deletes (or replaces)
// its user, which closes its connections.
import { randomBytes } from 'node:crypto'
import { errorMessage } from '../../protocol/errors.js'
import { BROKER_MANAGEMENT_PORT, BROKER_MANAGEMENT_TIMEOUT_MS } from '../constants.js'

/** The broker's management API refused or failed a request. */
export class BrokerManagementError extends Error {
  constructor (what: string, detail: string) {
    super(`RabbitMQ's management API: ${what} failed (${detail}); check that the rabbitmq_management plug-in is enabled ` +
      '(rabbitmq-plugins enable rabbitmq_management) and that the DM\'s broker user has the administrator tag')
    this.name = 'BrokerManagementError'
  }
}

/** What a machine's broker user may do: configure nothing, write to `writeExchange` with `routingKey`, read `queue`. */
export interface MachineGrant {
  user: string
  password: string
  vhost: string
  queue: string
  writeExchange: string
  routingKey: string
}

export interface BrokerUsers {
  /** Whether the management API answers with these credentials, for the broker of the AMQP URL (its port listed). */
  available (): Promise<boolean>
  /** Makes (or replaces, with a new password) the user and its permissions; closes the user's open connections. */
  grant (grant: MachineGrant): Promise<void>
  /** Deletes the user (its connections close); a user already gone is fine. */
  revoke (user: string): Promise<void>
  /** Closes every connection of the user (a revoked or replaced credential must not keep its session). */
  disconnect (user: string): Promise<void>
}

/** A fresh password for a machine's broker user. */
export function brokerPassword (): string {
  return randomBytes(24).toString('base64url')
}

/** Escapes a name for RabbitMQ's permission regular expressions, anchored: exactly that name. */
export function exactly (name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`
}

/**
 * The management API of the broker of `amqpUrl`: http://<its host>:15672 with its credentials, unless `managementUrl`
 * (e.g. `https://admin:secret@rabbit.example:15671`) says otherwise.
 */
export function createBrokerUsers (amqpUrl: string, managementUrl?: string): BrokerUsers {
  const amqp = new URL(amqpUrl)
  const base = managementUrl !== undefined ? new URL(managementUrl) : new URL(`http://${amqp.hostname}:${BROKER_MANAGEMENT_PORT}`)
  const username = decodeURIComponent(base.username !== '' ? base.username : amqp.username !== '' ? amqp.username : 'guest')
  const password = decodeURIComponent(base.password !== '' ? base.password : amqp.password !== '' ? amqp.password : 'guest')
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const origin = `${base.protocol}//${base.host}`

  async function call (method: string, path: string, body?: unknown): Promise<Response> {
    return await fetch(`${origin}/api${path}`, {
      method,
      headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(BROKER_MANAGEMENT_TIMEOUT_MS)
    })
  }

  async function must (what: string, method: string, path: string, body?: unknown): Promise<Response> {
    let response: Response
    try {
      response = await call(method, path, body)
    } catch (err) {
      throw new BrokerManagementError(what, errorMessage(err))
    }
    if (!response.ok && !(method === 'DELETE' && response.status === 404)) {
      throw new BrokerManagementError(what, `HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`)
    }
    return response
  }

  const users: BrokerUsers = {
    async available () {
      try {
        const response = await call('GET', '/overview')
        if (!response.ok) return false
        // Another broker's API on the same host (a private node on another port) would make users where agents
        // do not connect.
        const amqpPort = Number(amqp.port !== '' ? amqp.port : amqp.protocol === 'amqps:' ? 5671 : 5672)
        const { listeners } = await response.json() as { listeners?: Array<{ protocol: string, port: number }> }
        return (listeners ?? []).some(l => l.protocol.startsWith('amqp') && l.port === amqpPort)
      } catch {
        return false
      }
    },
    async grant (grant) {
      const user = encodeURIComponent(grant.user)
      const vhost = encodeURIComponent(grant.vhost)
      // A machine made again: deleting its previous user closes the previous agent's connections at once (a new
      // password alone would leave them open; the connection list the API shows lags by seconds).
      await users.revoke(grant.user)
      await must(`making broker user ${grant.user}`, 'PUT', `/users/${user}`, { password: grant.password, tags: '' })
      await must(`granting ${grant.user} its queue`, 'PUT', `/permissions/${vhost}/${user}`, {
        configure: '^$', write: exactly(grant.writeExchange), read: exactly(grant.queue)
      })
      await must(`granting ${grant.user} its routing key`, 'PUT', `/topic-permissions/${vhost}/${user}`, {
        exchange: grant.writeExchange, write: exactly(grant.routingKey), read: '^$'
      })
    },
    async revoke (user) {
      // Deleting a user closes its connections; those the API lists are closed too, in case.
      await must(`deleting broker user ${user}`, 'DELETE', `/users/${encodeURIComponent(user)}`)
      await users.disconnect(user)
    },
    async disconnect (user) {
      const response = await must(`listing the connections of ${user}`, 'GET', `/connections?columns=name,user`)
      const connections = await response.json() as Array<{ name: string, user: string }>
      for (const connection of connections.filter(c => c.user === user)) {
        await must(`closing a connection of ${user}`, 'DELETE', `/connections/${encodeURIComponent(connection.name)}`)
      }
    }
  }
  return users
}
