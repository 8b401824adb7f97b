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
