// Chooses the agent's link from the endpoint the DM handed over (params file).
import type { AgentEndpoint } from '../../protocol/agent-endpoint.js'
import { createAmqpLink } from './amqp.js'
import { createMemoryLink } from './memory.js'
import { createWebSocketLink } from './websocket.js'
import type { AgentIdentity, AgentLink } from './types.js'
import { type Logger } from '../../common/log.js'

export type * from './types.js'
export { AgentLinkRefusedError } from './websocket.js'

export interface AgentLinkComponents extends AgentIdentity {
  endpoint: AgentEndpoint
  logger?: Logger
}

export function createAgentLink (components: AgentLinkComponents): AgentLink {
  const { endpoint, application, scopedInstancePath, logger } = components
  const identity = { application, scopedInstancePath, logger }
  switch (endpoint.kind) {
    case 'amqp': return createAmqpLink({ ...identity, url: endpoint.url, domain: endpoint.domain, ownUser: endpoint.ownUser, messageKey: endpoint.messageKey, ca: endpoint.ca, dmKey: endpoint.dmKey })
    case 'embedded': return createWebSocketLink({ ...identity, url: endpoint.url, token: endpoint.token, dmKey: endpoint.dmKey, ca: endpoint.ca })
    case 'memory': return createMemoryLink({ ...identity, hub: endpoint.hub })
  }
}
