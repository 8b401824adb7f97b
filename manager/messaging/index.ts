// Chooses the DmMessaging implementation from the DM's configuration.
import { createAmqpMessaging } from './amqp.js'
import { createBrokerUsers } from './broker-users.js'
import { createEmbeddedMessaging } from './embedded.js'
import { createMemoryMessaging } from './memory.js'
import type { DmMessaging, MessagingConfig } from './types.js'
import type { MachineCredentialStore } from './credentials.js'
import type { DmSigningKey } from '../../protocol/mesh.js'
import { type Logger } from '../../common/log.js'

export type * from './types.js'
export { createAmqpMessaging } from './amqp.js'
export { createEmbeddedMessaging, DEFAULT_EMBEDDED_PORT, EmbeddedListenError, MissingDmTokenError } from './embedded.js'
export { createMemoryMessaging } from './memory.js'

export interface DmMessagingComponents {
  logger?: Logger
  /** Where the embedded endpoint keeps machines' credentials (the DM's store); default: in memory. */
  credentials?: MachineCredentialStore
  /** The DM's signing key: every command to an agent is signed with it (embedded endpoint and RabbitMQ). */
  signingKey?: DmSigningKey
}

export function createDmMessaging (config: MessagingConfig, components: DmMessagingComponents = {}): DmMessaging {
  switch (config.kind) {
    case 'embedded': return createEmbeddedMessaging({ ...config, logger: components.logger, credentials: components.credentials, signingKey: components.signingKey })
    case 'amqp': return createAmqpMessaging({
      ...config, logger: components.logger,
      // Without machines' broker users, machines sign their messages with keys derived from the DM's own secret.
      ...(components.credentials !== undefined && components.signingKey !== undefined
        ? { signatures: { credentials: components.credentials, dmSecret: components.signingKey.privateKey } }
        : {}),
      ...(components.signingKey !== undefined ? { signingKey: components.signingKey } : {}),
      ...(config.managementApi === false ? {} : { brokerUsers: createBrokerUsers(config.url, typeof config.managementApi === 'string' ? config.managementApi : undefined) })
    })
    case 'memory': return createMemoryMessaging({ logger: components.logger })
  }
}
