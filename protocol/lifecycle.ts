// Instance states (reference §3). The transition rules live with the agent's engine; the states are shared.
export const INSTANCE_STATUSES = [
  'NOT_DEPLOYED', 'DEPLOYING', 'DEPLOYED_STOPPED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR',
  'STARTING', 'DEPLOYED_STARTED', 'STOPPING', 'UNDEPLOYING', 'PROBLEM'
] as const

export type InstanceStatus = typeof INSTANCE_STATUSES[number]

/** States that are not in the middle of an action. Only these may be requested. */
export const STABLE_STATUSES: ReadonlySet<InstanceStatus> = new Set<InstanceStatus>([
  'NOT_DEPLOYED', 'DEPLOYED_STOPPED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR', 'DEPLOYED_STARTED'
])

/** States a user may ask for. */
export const REQUESTABLE_STATUSES: ReadonlySet<InstanceStatus> = new Set<InstanceStatus>([
  'NOT_DEPLOYED', 'DEPLOYED_STOPPED', 'DEPLOYED_STARTED'
])

export function isInstanceStatus (value: unknown): value is InstanceStatus {
  return typeof value === 'string' && (INSTANCE_STATUSES as readonly string[]).includes(value)
}

/**
 * An instance's state where it may be absent (a file written by an older version, a sender that leaves it out):
 * NOT_DEPLOYED then. Parsers fill it in with this, so that a parsed instance always has its state.
 */
export function statusOf (instance: { status?: InstanceStatus }): InstanceStatus {
  return instance.status ?? 'NOT_DEPLOYED'
}

/** Gives every instance of a tree read from a file or the wire its state (NOT_DEPLOYED where absent). */
export function fillStatuses<T extends { status?: InstanceStatus, children: T[] }> (instance: T): void {
  instance.status = statusOf(instance)
  instance.children.forEach(fillStatuses)
}

/** A step of the agent's life cycle (reference §3.2). `markStopped` changes the state without a plug-in call. */
export type LifecycleAction = 'deploy' | 'start' | 'stop' | 'undeploy' | 'markStopped'

/**
 * The steps the agent runs when `requested` is asked of a non-scoped instance that is `current` (the table of
 * reference §3.2). An empty list means "already there, nothing to do"; `ignored` means the current state accepts no
 * request (an action is in progress, or PROBLEM).
 */
export function plannedActions (current: InstanceStatus, requested: InstanceStatus): LifecycleAction[] | 'ignored' {
  if (!STABLE_STATUSES.has(current) || !REQUESTABLE_STATUSES.has(requested)) return 'ignored'
  const table: Record<string, Partial<Record<InstanceStatus, LifecycleAction[]>>> = {
    NOT_DEPLOYED: { DEPLOYED_STOPPED: ['deploy'], DEPLOYED_STARTED: ['deploy', 'start'], NOT_DEPLOYED: [] },
    DEPLOYED_STOPPED: { DEPLOYED_STOPPED: [], DEPLOYED_STARTED: ['start'], NOT_DEPLOYED: ['undeploy'] },
    DEPLOYED_STARTED: { DEPLOYED_STOPPED: ['stop'], DEPLOYED_STARTED: [], NOT_DEPLOYED: ['stop', 'undeploy'] },
    UNRESOLVED: { DEPLOYED_STOPPED: ['markStopped'], DEPLOYED_STARTED: [], NOT_DEPLOYED: ['undeploy'] },
    WAITING_FOR_ANCESTOR: { DEPLOYED_STOPPED: ['markStopped'], DEPLOYED_STARTED: ['start'], NOT_DEPLOYED: ['undeploy'] }
  }
  return table[current]?.[requested] ?? 'ignored'
}

/** Parent states under which a child may be deployed (reference §3.2, deploy). */
export const DEPLOYABLE_UNDER: ReadonlySet<InstanceStatus> = new Set<InstanceStatus>([
  'DEPLOYED_STARTED', 'DEPLOYED_STOPPED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR'
])
