// The DM's elasticity: scaling, commands files, their history (and, on top, autonomic rules and schedules). Built by
// the DM (manager/dm.ts) on its public operations and its store.
import type { ApplicationTemplate, Component } from '../../protocol/model/types.js'
import type { AgentToDmMessage } from '../../protocol/messages.js'
import { commandFilesOf } from '../../protocol/model/commands.js'
import type { DeploymentManager, DmEvent } from '../dm.js'
import { TemplateNotFoundError } from '../errors.js'
import type { Store, StoredInstance } from '../store.js'
import { createCommandsRunner, type CommandsRunnerOptions, type InstructionGuard, type Who } from './commands-runner.js'
import { createScaler, type ScaleOperations, type ScalerOptions } from './scale.js'
import { createRules, type RulesOptions } from './rules.js'
import { createScheduler } from './scheduler.js'
import { errorMessage } from '../../protocol/errors.js'
import type { Logger } from '../../common/log.js'

type DmOperations = Omit<ScaleOperations, 'importersOf'> & Pick<DeploymentManager, 'getApplication' | 'onEvent' | 'addInstance' | 'changeState' | 'action' | 'associateTarget'>

export interface AutonomyComponents {
  dm: DmOperations
  store: Store
  /** Publishes (and stores) a DM event: the rules' decisions. */
  emit: (event: DmEvent) => void
  log?: Logger
}

export interface AutonomyOptions extends ScalerOptions, CommandsRunnerOptions, RulesOptions {
  /** How often agents evaluate their probes when their application sets no period, in milliseconds; default 5 000, 1 000 to 3 600 000 (sent with the model). */
  probePeriodMs?: number
}

export function createAutonomy (components: AutonomyComponents, options: AutonomyOptions = {}) {
  const { dm, store } = components
  const importersOf = (application: string, paths: string[]): string[] => {
    const gone = new Set(paths)
    const holders: string[] = []
    const walk = (i: StoredInstance): void => {
      if (!gone.has(i.path) && Object.values(i.imports).some(list => list.some(imp => gone.has(imp.instancePath)))) holders.push(i.path)
      i.children.forEach(walk)
    }
    store.instanceTrees(application).forEach(walk)
    return holders
  }
  const templateOf = (application: string): ApplicationTemplate => {
    const { template } = dm.getApplication(application)
    const stored = store.getTemplate(template.name, template.version)
    if (stored === undefined) throw new TemplateNotFoundError(template.name, template.version)
    return stored.template
  }
  const componentsOf = (application: string): Record<string, Component> => templateOf(application).components
  const onChange = (listener: () => void): (() => void) => dm.onEvent(event => { if (event.type === 'instance') listener() })
  const scaler = createScaler({ dm: { ...dm, importersOf }, history: store.autonomy, componentsOf, onChange, log: components.log }, options)
  const runner = createCommandsRunner({ dm, store, templateOf, undeploy: scaler.undeploy, retire: scaler.retire, onChange }, options)
  const log = components.log ?? console
  const runCommands = (application: string, name: string, input: { dryRun?: boolean, who?: Who, guard?: InstructionGuard } = {}) =>
    runner.run(application, name, input.who ?? { source: 'user' }, { dryRun: input.dryRun, guard: input.guard })
  const scheduler = createScheduler({
    store: store.autonomy,
    log,
    run: async (application, command, job) => await runCommands(application, command, { who: { source: 'schedule', name: job.name } }),
    check: (application, command) => { runner.read(application, command) }
  })
  const rules = createRules({
    templateOf,
    instances: application => dm.instances(application),
    commandFiles: application => commandFilesOf(templateOf(application).files),
    run: async (application, name, input) => await runner.run(application, name, input.who, { guard: input.guard }),
    emit: components.emit,
    log
  }, options)
  return {
    /** An agent's probe matched: the application's rules decide (an event for another machine's instance is dropped). */
    onAutonomicEvent (msg: Extract<AgentToDmMessage, { kind: 'autonomic' }>): void {
      const { application, scopedInstancePath, instancePath } = msg
      if (instancePath !== scopedInstancePath && !instancePath.startsWith(`${scopedInstancePath}/`)) {
        log.warn(`autonomic event ${msg.eventName} from the agent of ${scopedInstancePath} (${application}) names ${instancePath}, not one of its instances: ignored`, { application, path: scopedInstancePath })
        return
      }
      try {
        rules.onEvent({ application, instancePath, eventName: msg.eventName, ageMs: Math.max(0, msg.ageMs), ...(msg.value === undefined ? {} : { value: msg.value }) })
      } catch (err) {
        log.warn(`autonomic event ${msg.eventName} of ${application}: ${errorMessage(err)}`, { application })
      }
    },
    rules,
    /** Schedules the stored jobs (a run missed while the DM was down is recorded, not replayed). */
    start (): void { scheduler.start() },
    stop (): void { scheduler.stop() },
    scale: scaler.scale,
    schedules: scheduler,
    listCommands: runner.list,
    readCommands: runner.read,
    /** Executes (or plans: dryRun) a commands file; each instruction goes to the history. */
    runCommands,
    history: (application: string, page: { offset: number, limit: number }) => {
      dm.getApplication(application)
      return store.autonomy.history(application, page)
    }
  }
}

export type Autonomy = ReturnType<typeof createAutonomy>
