// Autonomic rules on the DM (rules.autonomic/*.drl, reference §6.4): an event a probe sent runs the rule's commands
// files, unless the rule is sleeping (its sleep period since it last fired), the event is older than the rule's time
// window, the application is at autonomic.maximum.vm.number, or the rule scales down and the event has not held for
// the whole stabilization window (Kubernetes' HPA waits 300 s before scaling down; meshconf 60 s by default), or the
// rule's own bounds (`max|min instances of <Component> is <n>`) are reached. Every decision, fired or suppressed, is an
// event with its reason.
import { errorMessage } from '../../protocol/errors.js'
import { parseCommands, type CommandInstruction } from '../../protocol/model/commands.js'
import type { ApplicationTemplate, AutonomicRule } from '../../protocol/model/types.js'
import type { DmEvent, InstanceView } from '../dm.js'
import type { CommandsExecution, InstructionGuard, Who } from './commands-runner.js'
import type { Logger } from '../../common/log.js'

export interface AutonomicEvent {
  application: string
  instancePath: string
  eventName: string
  /** How old the measure was when the DM received it, in milliseconds. */
  ageMs: number
  value?: number
}

export interface RulesOptions {
  /**
   * Most machines (root instances) an application may have through its rules (Roboconf's
   * autonomic.maximum.vm.number); default none.
   */
  maximumVmNumber?: number
  /**
   * Strict (default true): an instruction of a rule that would create a machine beyond the maximum fails. Not strict:
   * a rule is only suppressed when the application is already at the maximum.
   */
  strictMaximumVmNumber?: boolean
  /** How long the event of a scale-down rule must have held before the rule fires, in milliseconds; default 60 000. */
  scaleDownStabilizationMs?: number
  /** A gap between two occurrences of an event longer than this ends its streak, in milliseconds; default 15 000. */
  eventStreakGapMs?: number
}

export const DEFAULT_SCALE_DOWN_STABILIZATION_MS = 60_000
export const DEFAULT_EVENT_STREAK_GAP_MS = 15_000

export interface RulesComponents {
  templateOf: (application: string) => ApplicationTemplate
  instances: (application: string) => InstanceView[]
  commandFiles: (application: string) => Record<string, string>
  run: (application: string, name: string, input: { who: Who, guard: InstructionGuard }) => Promise<CommandsExecution>
  emit: (event: DmEvent) => void
  log: Pick<Logger, 'warn'>
  now?: () => number
}

export interface Decision { at: string, eventName: string, path: string, fired: boolean, reason: string }

export interface RuleView extends AutonomicRule {
  file: string
  scaleDown: boolean
  lastFiredAt?: string
  lastDecision?: Decision
  running: boolean
}

interface RuleState { lastFiredAt?: number, lastDecision?: Decision, running: boolean }

function flatten (roots: InstanceView[]): InstanceView[] {
  const out: InstanceView[] = []
  const walk = (i: InstanceView): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

/** Instructions that take machines or instances away: a rule running one scales down. */
function removes (instruction: CommandInstruction): boolean {
  if (instruction.kind === 'bulk') return instruction.action === 'delete' || instruction.action === 'undeploy-all'
  return instruction.kind === 'change-status' && instruction.status === 'NOT_DEPLOYED'
}

export function createRules (components: RulesComponents, options: RulesOptions = {}) {
  const now = components.now ?? Date.now
  const stabilizationMs = options.scaleDownStabilizationMs ?? DEFAULT_SCALE_DOWN_STABILIZATION_MS
  const streakGapMs = options.eventStreakGapMs ?? DEFAULT_EVENT_STREAK_GAP_MS
  const strict = options.strictMaximumVmNumber ?? true
  const states = new Map<string, RuleState>()
  /** app\0event -> since when it has been arriving without a gap longer than streakGapMs */
  const streaks = new Map<string, { since: number, lastSeen: number }>()

  const stateOf = (application: string, rule: string): RuleState => {
    const key = `${application}\u0000${rule}`
    let state = states.get(key)
    if (state === undefined) states.set(key, state = { running: false })
    return state
  }

  function rulesOf (application: string): Array<[string, AutonomicRule]> {
    return Object.entries(components.templateOf(application).rules ?? {})
  }

  function isScaleDown (application: string, rule: AutonomicRule): boolean {
    const template = components.templateOf(application)
    const files = components.commandFiles(application)
    const instances = flatten(components.instances(application)).map(i => [i.path, i.component] as const)
    return rule.commands.some(name => files[name] !== undefined &&
      parseCommands(files[name], `commands/${name}.commands`, { components: template.components, instances, commandFiles: files, smtp: true })
        .instructions.some(removes))
  }

  function machines (application: string): number {
    const template = components.templateOf(application)
    return components.instances(application).filter(r => template.components[r.component]?.installer === 'target').length
  }

  function instancesOf (application: string, component: string): number {
    return flatten(components.instances(application)).filter(i => i.component === component).length
  }

  /** What a replicate or create adds: instances by component. */
  function added (application: string, instruction: CommandInstruction): Map<string, number> {
    const counts = new Map<string, number>()
    if (instruction.kind === 'create') counts.set(instruction.component, 1)
    if (instruction.kind === 'replicate') {
      const root = components.instances(application).find(r => r.path === instruction.path)
      for (const i of root === undefined ? [] : flatten([root])) counts.set(i.component, (counts.get(i.component) ?? 0) + 1)
    }
    return counts
  }

  /** A rule's max as an instruction guard: an instruction that would go over it fails. */
  const ruleGuard = (rule: AutonomicRule): InstructionGuard => (application, instruction) => {
    for (const [component, n] of added(application, instruction)) {
      const max = rule.instanceLimits?.[component]?.max
      const count = instancesOf(application, component)
      if (max !== undefined && count + n > max) return `rule ${rule.name} keeps ${component} at most ${max} (there are ${count}): not created`
    }
    return guard(application, instruction)
  }

  /** The VM limit as an instruction guard: a machine created beyond it fails the instruction (strict). */
  const guard: InstructionGuard = (application, instruction) => {
    if (options.maximumVmNumber === undefined || !strict) return undefined
    const template = components.templateOf(application)
    const makesMachine = instruction.kind === 'replicate' ||
      (instruction.kind === 'create' && instruction.parent === undefined && template.components[instruction.component]?.installer === 'target')
    if (!makesMachine) return undefined
    const count = machines(application)
    return count >= options.maximumVmNumber
      ? `the application has ${count} machine(s), the maximum its rules may reach (autonomic.maximum.vm.number ${options.maximumVmNumber}): no machine created`
      : undefined
  }

  function decide (application: string, rule: AutonomicRule, state: RuleState, event: AutonomicEvent, streakMs: number): string | undefined {
    const at = now()
    if (state.running) return 'its commands are still running'
    if (rule.timeWindowSeconds !== undefined && event.ageMs > rule.timeWindowSeconds * 1000) {
      return `the event is ${Math.round(event.ageMs / 1000)} s old, older than the time window (${rule.timeWindowSeconds} s)`
    }
    if (rule.sleepPeriodSeconds !== undefined && state.lastFiredAt !== undefined && at - state.lastFiredAt < rule.sleepPeriodSeconds * 1000) {
      return `sleeping: it fired ${Math.round((at - state.lastFiredAt) / 1000)} s ago, its sleep period is ${rule.sleepPeriodSeconds} s`
    }
    for (const [component, limit] of Object.entries(rule.instanceLimits ?? {})) {
      const count = instancesOf(application, component)
      if (isScaleDown(application, rule) && limit.min !== undefined && count <= limit.min) {
        return `at the rule's minimum: ${count} instance(s) of ${component}, min ${limit.min}`
      }
      if (!isScaleDown(application, rule) && limit.max !== undefined && count >= limit.max) {
        return `at the rule's maximum: ${count} instance(s) of ${component}, max ${limit.max}`
      }
    }
    if (isScaleDown(application, rule) && streakMs < stabilizationMs) {
      return `stabilizing: it scales down, and ${event.eventName} has held for ${Math.round(streakMs / 1000)} s of the ${Math.round(stabilizationMs / 1000)} s window`
    }
    if (options.maximumVmNumber !== undefined && !strict && machines(application) >= options.maximumVmNumber) {
      return `over the maximum: ${machines(application)} machine(s), autonomic.maximum.vm.number is ${options.maximumVmNumber}`
    }
    return undefined
  }

  function record (application: string, rule: AutonomicRule, state: RuleState, event: AutonomicEvent, fired: boolean, reason: string): void {
    const decision: Decision = { at: new Date(now()).toISOString(), eventName: event.eventName, path: event.instancePath, fired, reason }
    state.lastDecision = decision
    components.emit({
      type: 'autonomic', application, rule: rule.name, eventName: event.eventName, path: event.instancePath, fired, reason, at: decision.at,
      ...(event.value === undefined ? {} : { value: event.value })
    })
  }

  async function fire (application: string, rule: AutonomicRule, state: RuleState): Promise<void> {
    try {
      for (const name of rule.commands) {
        const execution = await components.run(application, name, { who: { source: 'rule', name: rule.name }, guard: ruleGuard(rule) })
        if (!execution.ok) {
          const failed = execution.instructions.find(i => i.outcome === 'error')
          components.log.warn(`rule ${rule.name} of ${application}: ${name} stopped at line ${failed?.line ?? '?'}: ${failed?.detail ?? ''}`, { application })
          return
        }
      }
    } catch (err) {
      components.log.warn(`rule ${rule.name} of ${application}: ${errorMessage(err)}`, { application })
    } finally {
      state.running = false
    }
  }

  return {
    /** An event a probe sent: each rule on it fires or says why not. Returns the decisions. */
    onEvent (event: AutonomicEvent): Decision[] {
      const at = now()
      const key = `${event.application}\u0000${event.eventName}`
      const streak = streaks.get(key)
      // the measure's own time: an event held in an agent's queue continues the streak it belonged to
      const measuredAt = at - event.ageMs
      if (streak === undefined || measuredAt - streak.lastSeen > streakGapMs) streaks.set(key, { since: measuredAt, lastSeen: measuredAt })
      else streak.lastSeen = Math.max(streak.lastSeen, measuredAt)
      const streakMs = at - streaks.get(key)!.since
      const decisions: Decision[] = []
      for (const [, rule] of rulesOf(event.application)) {
        if (rule.eventName !== event.eventName) continue
        const state = stateOf(event.application, rule.name)
        const suppressed = decide(event.application, rule, state, event, streakMs)
        if (suppressed !== undefined) {
          record(event.application, rule, state, event, false, suppressed)
        } else {
          state.running = true
          state.lastFiredAt = at
          record(event.application, rule, state, event, true, `running ${rule.commands.join(', ')}`)
          void fire(event.application, rule, state)
        }
        decisions.push(state.lastDecision!)
      }
      return decisions
    },
    /** The application's rules with their last firing and last decision. */
    list (application: string): RuleView[] {
      return rulesOf(application).map(([file, rule]) => {
        const state = stateOf(application, rule.name)
        const view: RuleView = { ...rule, file, scaleDown: isScaleDown(application, rule), running: state.running }
        if (state.lastFiredAt !== undefined) view.lastFiredAt = new Date(state.lastFiredAt).toISOString()
        if (state.lastDecision !== undefined) view.lastDecision = state.lastDecision
        return view
      })
    },
    /** Whether any rule of the application is running its commands (tests, simulations). */
    busy (application: string): boolean {
      return rulesOf(application).some(([, rule]) => stateOf(application, rule.name).running)
    }
  }
}

export type Rules = ReturnType<typeof createRules>
