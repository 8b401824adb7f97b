// Messages to agents: stored first, then sent once the agent is up (its first heartbeat), one agent's messages one
// at a time and in order. The model goes first, with the mesh settings an agent needs to join its application
// (model-delivery.ts).
import type { DmToAgentMessage } from '../../protocol/messages.js'
import type { DmCore } from './core.js'
import { renewOwnershipIfDue, sendModel, sendPeersToAwaiting } from './model-delivery.js'
import { componentsOf, recipesOf } from './model.js'
import type { AgentSessions } from './sessions.js'

export interface Outbox {
  /** Stores a message for the agent of a scoped instance; sent at once if the agent has its model. */
  queue (application: string, scopedInstancePath: string, message: DmToAgentMessage): void
  /** Sends what waits for the agent, in order, while it is ready. */
  flush (application: string, scopedInstancePath: string): void
  /** Sends the agent its model (mesh settings included), then what waits for it. */
  sendModel (application: string, scopedInstancePath: string, peerId: string): void
  /** Sends the agent a fresh ownership when the last one signed for it is due for renewal (called at its beats). */
  renewOwnershipIfDue (application: string, scopedInstancePath: string, peerId: string): void
  /** The agent's mesh listens: agents of its application whose model carried no bootstrap peer are sent peers. */
  meshListening (application: string, scopedInstancePath: string): void
}

/** What the outbox's functions share. */
export interface OutboxContext {
  core: DmCore
  sessions: AgentSessions
}

export function createOutbox (core: DmCore, sessions: AgentSessions): Outbox {
  const context: OutboxContext = { core, sessions }
  return {
    queue (application, scopedInstancePath, message) {
      core.store.enqueue(application, scopedInstancePath, message)
      if (sessions.find(application, scopedInstancePath)?.ready === true) flush(context, application, scopedInstancePath)
    },
    flush: (application, scopedInstancePath) => { flush(context, application, scopedInstancePath) },
    sendModel: (application, scopedInstancePath, peerId) => {
      sendModel(context, application, scopedInstancePath, peerId)
      flush(context, application, scopedInstancePath)
    },
    renewOwnershipIfDue: (application, scopedInstancePath, peerId) => { renewOwnershipIfDue(context, application, scopedInstancePath, peerId) },
    meshListening: (application, scopedInstancePath) => { sendPeersToAwaiting(context, application, scopedInstancePath) }
  }
}

/** Adds the recipes a message needs at the time it leaves (templates do not change, but this keeps the store small). */
function withRecipes ({ core }: OutboxContext, application: string, message: DmToAgentMessage): DmToAgentMessage {
  const { store } = core
  const record = store.getApplication(application)
  if (record === undefined) return message
  const template = core.templateOf(record)
  if (message.kind === 'changeState' && message.newState !== 'NOT_DEPLOYED') {
    const components = store.subtreeComponents(application, message.instancePath)
    if (components.length > 0) return { ...message, recipes: recipesOf(template, components) }
  }
  if (message.kind === 'addInstance') return { ...message, recipes: recipesOf(template, componentsOf(message.instance)) }
  return message
}

function flush (context: OutboxContext, application: string, scopedInstancePath: string): void {
  const { core, sessions } = context
  const { store, messaging } = core
  core.background(`sending pending messages to ${scopedInstancePath} of ${application}`, sessions.chain(application, scopedInstancePath, async () => {
    for (const pending of store.pending(application, scopedInstancePath)) {
      if (sessions.find(application, scopedInstancePath)?.ready !== true) return
      await messaging.sendToAgent(application, scopedInstancePath, withRecipes(context, application, pending.message))
      store.acknowledge(pending.id)
    }
  }))
}
