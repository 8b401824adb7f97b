// Chooses the DmMessaging implementation from the DM's configuration.
import { createAmqpMessaging } from './amqp.js'
import { createEmbeddedMessaging } from './embedded.js'
import { createMemoryMessaging } from './memory.js'
import type { DmMessaging, MessagingConfig, MessagingLogger } from './types.js'

export type * from './types.js'
export { createAmqpMessaging } from './amqp.js'
export { createEmbeddedMessaging, embeddedAgentToken, DEFAULT_EMBEDDED_PORT, EmbeddedListenError, MissingDmTokenError } from './embedded.js'
export { createMemoryMessaging } from './memory.js'

export interface DmMessagingComponents {
  logger?: MessagingLogger
}

export function createDmMessaging (config: MessagingConfig, components: DmMessagingComponents = {}): DmMessaging {
  switch (config.kind) {
    case 'embedded': return createEmbeddedMessaging({ ...config, logger: components.logger })
    case 'amqp': return createAmqpMessaging({ ...config, logger: components.logger })
    case 'memory': return createMemoryMessaging({ logger: components.logger })
  }
}
