// Checks that a message from an agent speaks only for what that agent was authenticated as: an agent may report
// on its own scoped instance and the instances below it, never on another machine or another application.
import type { AgentToDmMessage } from '../../protocol/messages.js'

function under (instancePath: string, scopedInstancePath: string): boolean {
  return instancePath === scopedInstancePath || instancePath.startsWith(`${scopedInstancePath}/`)
}

/**
 * Returns why `msg` cannot come from an agent of `application` (and, when known, of `scopedInstancePath`),
 * or undefined when it can.
 */
export function senderMismatch (msg: AgentToDmMessage, application: string, scopedInstancePath?: string): string | undefined {
  if (msg.application !== application) {
    return `an agent of application '${application}' sent a '${msg.kind}' message about application '${msg.application}'`
  }
  if (scopedInstancePath === undefined) return undefined
  const aboutMachine = msg.kind === 'heartbeat' || msg.kind === 'machineDown' || msg.kind === 'logs'
  const path = aboutMachine ? msg.scopedInstancePath : msg.instancePath
  const fits = aboutMachine ? path === scopedInstancePath : under(path, scopedInstancePath)
  return fits ? undefined : `the agent of '${scopedInstancePath}' sent a '${msg.kind}' message about '${path}', outside its scoped instance`
}
