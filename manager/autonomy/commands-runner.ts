// Executes an application's commands files (commands/*.commands, reference §6.3) on the DM. The file is parsed
// against the application as it is now (so $(SMART_INDEX) and $(EXISTING_INDEX ...) see the live instances), refused
// whole when it has a SEVERE error, then run in sequence: each instruction is recorded in the history (who asked,
// outcome, duration), and the first failure stops the file, as in Roboconf.
import { randomUUID } from 'node:crypto'
import { appendFileSync, existsSync, lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { errorMessage } from '../../protocol/errors.js'
import { commandFilesOf, parseCommands, type CommandInstruction } from '../../protocol/model/commands.js'
import type { ApplicationTemplate, ModelError } from '../../protocol/model/types.js'
import type { InstanceStatus } from '../../protocol/lifecycle.js'
import type { DeploymentManager, InstanceView } from '../dm.js'
import type { Store } from '../store.js'
import { CommandsNotFoundError, InvalidCommandsError } from './errors.js'
import { sendMail, type SmtpSettings } from './smtp.js'
import type { HistoryOutcome, HistorySource } from './store.js'

/** Folder of the DM's data folder where Write and Append put their files. */
export const COMMAND_FILES_FOLDER = 'command-files'
/** How deep `execute` may nest commands files (A executes B executes C ...), default 8: a cycle A -> B -> A stops there. */
export const MAX_EXECUTE_DEPTH = 8

export interface Who { source: HistorySource, name?: string }

export interface InstructionResult {
  line: number
  kind: CommandInstruction['kind']
  text: string
  outcome: HistoryOutcome
  detail: string
  durationMs: number
}

export interface CommandsExecution {
  application: string
  command: string
  executionId: string
  dryRun: boolean
  ok: boolean
  instructions: InstructionResult[]
  /** Warnings of the parse (CMD_NO_INSTRUCTION). */
  warnings: ModelError[]
}

export interface CommandsFileView { name: string, text: string, errors: ModelError[] }

type RunnerDm = Pick<DeploymentManager, 'instances' | 'addInstance' | 'replicate' | 'removeInstance' | 'changeState' | 'action' | 'associateTarget'>

export interface CommandsRunnerComponents {
  dm: RunnerDm
  store: Store
  templateOf: (application: string) => ApplicationTemplate
  /** Undeploys a subtree and waits until done; `retire` then deletes it (manager/autonomy/scale.ts). */
  undeploy: (application: string, path: string) => Promise<void>
  retire: (application: string, path: string) => Promise<void>
  /** Subscribes to instance changes; returns the unsubscribe function. */
  onChange: (listener: () => void) => () => void
}

export interface CommandsRunnerOptions {
  /** The DM's data folder: Write and Append work under `<dataDirectory>/command-files/`; without one they fail. */
  dataDirectory?: string
  /** SMTP relay for `email`; without one, email instructions are refused at validation. */
  smtp?: SmtpSettings
  /**
   * Longest wait for a deploy, stop or status change to take effect before the next instruction, in milliseconds
   * (default 300 000): instructions run in sequence, each on what the one before it did.
   */
  instructionWaitMs?: number
}

/** Default of CommandsRunnerOptions.instructionWaitMs. */
export const DEFAULT_INSTRUCTION_WAIT_MS = 300_000
/** Backstop polling period of an instruction's wait, in milliseconds. */
const SETTLE_POLL_MS = 200

/** States a deploy-and-start ends in: started, or waiting for imports or an ancestor. */
const STARTED_ENOUGH: ReadonlySet<InstanceStatus> = new Set(['DEPLOYED_STARTED', 'UNRESOLVED', 'WAITING_FOR_ANCESTOR'])

/** Checks an instruction before it runs (the autonomic's VM limit); returns why it may not run, or undefined. */
export type InstructionGuard = (application: string, instruction: CommandInstruction) => string | undefined

function flatten (roots: InstanceView[]): InstanceView[] {
  const out: InstanceView[] = []
  const walk = (i: InstanceView): void => { out.push(i); i.children.forEach(walk) }
  roots.forEach(walk)
  return out
}

export function createCommandsRunner (components: CommandsRunnerComponents, options: CommandsRunnerOptions = {}) {
  const { dm, store } = components
  const instructionWaitMs = options.instructionWaitMs ?? DEFAULT_INSTRUCTION_WAIT_MS

  /**
   * Waits until every instance of the subtrees at `paths` is in a state `accept`s (PROBLEM fails at once), at most
   * instructionWaitMs.
   */
  function settle (application: string, paths: string[], what: string, accept: (i: InstanceView) => boolean): Promise<void> {
    const check = (): { done: boolean, problem?: string, pending: string[] } => {
      const all = flatten(dm.instances(application))
      const subtree = all.filter(i => paths.some(p => i.path === p || i.path.startsWith(`${p}/`)))
      const problem = subtree.find(i => i.status === 'PROBLEM')
      if (problem !== undefined) return { done: true, problem: `${problem.path} went to PROBLEM${problem.data['last.problem'] !== undefined ? `: ${problem.data['last.problem']}` : ''}`, pending: [] }
      const pending = subtree.filter(i => !accept(i)).map(i => `${i.path} (${i.status})`)
      return { done: pending.length === 0, pending }
    }
    return new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer); clearInterval(poll); unsubscribe()
        if (error === undefined) resolve(); else reject(error)
      }
      const probe = (): void => {
        // from a timer: the application deleted meanwhile (or the DM stopping) ends the wait, never the process
        let state: ReturnType<typeof check>
        try {
          state = check()
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)))
          return
        }
        if (state.problem !== undefined) finish(new Error(state.problem))
        else if (state.done) finish()
      }
      const timer = setTimeout(() => {
        let pending: string
        try { pending = check().pending.join(', ') } catch (err) { pending = `unknown (${errorMessage(err)})` }
        finish(new Error(`${what} did not take effect within ${instructionWaitMs} ms: still ${pending}`))
      }, instructionWaitMs)
      const poll = setInterval(probe, SETTLE_POLL_MS)
      const unsubscribe = components.onChange(probe)
      probe()
    })
  }

  const isMachine = (application: string, i: InstanceView): boolean => components.templateOf(application).components[i.component]?.installer === 'target'

  function files (application: string): Record<string, string> {
    return commandFilesOf(components.templateOf(application).files)
  }

  function parse (application: string, name: string) {
    const all = files(application)
    if (!Object.prototype.hasOwnProperty.call(all, name)) throw new CommandsNotFoundError(application, name, Object.keys(all).sort())
    const template = components.templateOf(application)
    const instances = flatten(dm.instances(application)).map(i => [i.path, i.component] as const)
    const parsed = parseCommands(all[name], `commands/${name}.commands`, {
      components: template.components, instances, commandFiles: all, smtp: options.smtp !== undefined
    })
    return { text: all[name], ...parsed }
  }

  /** The file a Write/Append instruction targets, checked to stay inside the folder (symbolic links included). */
  function dataFile (relativePath: string): string {
    if (options.dataDirectory === undefined) throw new Error('this DM has no data folder (dm start --data-dir): write and append have nowhere to go')
    const root = join(options.dataDirectory, COMMAND_FILES_FOLDER)
    mkdirSync(root, { recursive: true })
    const file = join(root, relativePath)
    mkdirSync(dirname(file), { recursive: true })
    const realRoot = realpathSync(root)
    const realParent = realpathSync(dirname(file))
    const inside = relative(realRoot, realParent)
    if (inside.startsWith('..') || inside.startsWith(sep)) throw new Error(`${relativePath} leads outside the DM's data folder (through a symbolic link): refused`)
    if (existsSync(file) && lstatSync(file).isSymbolicLink()) throw new Error(`${relativePath} is a symbolic link: refused`)
    return file
  }

  async function perform (application: string, instruction: CommandInstruction, who: Who, executionId: string, depth: number): Promise<string> {
    switch (instruction.kind) {
      case 'define': return `${instruction.name} = ${instruction.value}`
      case 'create': {
        const created = dm.addInstance(application, { name: instruction.name, component: instruction.component, ...(instruction.parent !== undefined ? { parentPath: instruction.parent } : {}) })
        return `created ${created.path}`
      }
      case 'replicate': {
        const copy = dm.replicate(application, instruction.path, instruction.name)
        // the copy keeps the original's target (Roboconf's ReplicateCommandExecution)
        const association = store.targetAssociations(application).find(a => a.scope.kind === 'path' && a.scope.path === instruction.path)
        if (association !== undefined) dm.associateTarget(application, { targetId: association.targetId, path: copy.path })
        return `replicated ${instruction.path} as ${copy.path}`
      }
      case 'rename': return rename(application, instruction.path, instruction.name)
      case 'associate':
        dm.associateTarget(application, { targetId: instruction.targetId, path: instruction.path })
        return `${instruction.path} uses target ${instruction.targetId}`
      case 'change-status': {
        const { path, status } = instruction
        dm.changeState(application, path, status)
        await settle(application, [path], `status ${status} of ${path}`, i => i.path !== path ||
          i.status === status || (status === 'DEPLOYED_STARTED' && STARTED_ENOUGH.has(i.status)))
        return `${path} is ${status}`
      }
      case 'bulk': return await bulk(application, instruction)
      case 'email':
        await sendMail(options.smtp!, instruction.to, instruction.message)
        return `sent to ${instruction.to.join(', ')}`
      case 'write':
      case 'append': {
        const file = dataFile(instruction.file)
        if (instruction.kind === 'write') writeFileSync(file, `${instruction.content}\n`)
        else appendFileSync(file, `${instruction.content}\n`)
        return `${instruction.kind === 'write' ? 'wrote' : 'appended to'} ${COMMAND_FILES_FOLDER}/${instruction.file}`
      }
      case 'execute': {
        if (depth + 1 >= MAX_EXECUTE_DEPTH) throw new Error(`commands files nest deeper than ${MAX_EXECUTE_DEPTH} (a cycle of execute instructions?): stopped`)
        const nested = await run(application, instruction.command, who, { executionId, depth: depth + 1 })
        if (!nested.ok) throw new Error(`${instruction.command} failed at line ${nested.instructions.find(i => i.outcome === 'error')?.line ?? '?'}`)
        return `executed ${instruction.command} (${nested.instructions.length} instruction(s))`
      }
    }
  }

  async function bulk (application: string, instruction: Extract<CommandInstruction, { kind: 'bulk' }>): Promise<string> {
    // top-most instances only: a subtree is handled through its root
    const targets = instruction.path !== undefined
      ? [instruction.path]
      : flatten(dm.instances(application)).filter(i => i.component === instruction.component).map(i => i.path)
        .filter((p, _, all) => !all.some(o => o !== p && p.startsWith(`${o}/`)))
    switch (instruction.action) {
      case 'deploy-and-start-all':
      case 'stop-all':
        if (instruction.path !== undefined) dm.action(application, { action: instruction.action, path: instruction.path })
        else dm.action(application, { action: instruction.action, component: instruction.component })
        if (instruction.action === 'deploy-and-start-all') {
          await settle(application, targets, `deploy and start all ${targets.join(', ')}`, i => STARTED_ENOUGH.has(i.status))
          return `deployed and started ${targets.join(', ') || 'nothing'}`
        }
        // stop leaves machines running; an undeployed instance stays so
        await settle(application, targets, `stop all ${targets.join(', ')}`, i => isMachine(application, i) || i.status === 'DEPLOYED_STOPPED' || i.status === 'NOT_DEPLOYED')
        return `stopped ${targets.join(', ') || 'nothing'}`
      case 'undeploy-all':
        await Promise.all(targets.map(async p => { await components.undeploy(application, p) }))
        return `undeployed ${targets.join(', ') || 'nothing'}`
      case 'delete':
        await Promise.all(targets.map(async p => { await components.retire(application, p) }))
        return `deleted ${targets.join(', ') || 'nothing'}`
    }
  }

  /** Roboconf renames only instances no agent manages yet: the subtree is re-created under the new name, then the old one goes. */
  function rename (application: string, path: string, newName: string): string {
    const all = flatten(dm.instances(application))
    const source = all.find(i => i.path === path)
    if (source === undefined) throw new Error(`no instance ${path}`)
    const busy = flatten([source]).find(i => i.status !== 'NOT_DEPLOYED')
    if (busy !== undefined) throw new Error(`${busy.path} is ${busy.status}: only instances that are not deployed can be renamed (undeploy all ${path} first)`)
    const parentPath = path.slice(0, path.lastIndexOf('/'))
    const copy = (i: InstanceView, parent: string | undefined, name: string): void => {
      const created = dm.addInstance(application, { name, component: i.component, overriddenExports: i.overriddenExports, ...(parent !== undefined ? { parentPath: parent } : {}) })
      for (const child of i.children) copy(child, created.path, child.name)
    }
    copy(source, parentPath === '' ? undefined : parentPath, newName)
    dm.removeInstance(application, path)
    return `renamed ${path} to ${parentPath}/${newName}`
  }

  async function run (application: string, name: string, who: Who,
    context: { executionId?: string, depth?: number, dryRun?: boolean, guard?: InstructionGuard } = {}): Promise<CommandsExecution> {
    const executionId = context.executionId ?? randomUUID()
    const parsed = parse(application, name)
    const severe = parsed.errors.filter(e => e.level === 'SEVERE')
    const record = (result: InstructionResult, startedAt: number): void => {
      store.autonomy.record({
        application, command: name, instruction: result.text, line: result.line, source: who.source, sourceName: who.name ?? '',
        outcome: result.outcome, detail: result.detail, startedAt: new Date(startedAt).toISOString(), durationMs: result.durationMs, executionId
      })
    }
    if (severe.length > 0) {
      const error = new InvalidCommandsError(application, name, parsed.errors)
      record({ line: severe[0].line ?? 0, kind: 'define', text: `(commands ${name} refused)`, outcome: 'error', detail: error.message, durationMs: 0 }, Date.now())
      throw error
    }
    const execution: CommandsExecution = {
      application, command: name, executionId, dryRun: context.dryRun === true, ok: true, instructions: [], warnings: parsed.errors
    }
    for (const instruction of parsed.instructions) {
      const started = Date.now()
      const result: InstructionResult = { line: instruction.line, kind: instruction.kind, text: instruction.text, outcome: 'ok', detail: '', durationMs: 0 }
      if (!execution.ok) {
        result.outcome = 'skipped'
        result.detail = 'not run: an instruction above failed'
      } else if (instruction.disabled) {
        result.outcome = 'skipped'
        result.detail = 'disabled: it uses a variable whose $(EXISTING_INDEX ...) query matched no instance'
      } else if (context.dryRun === true) {
        result.detail = 'dry run: not executed'
      } else {
        const refusal = context.guard?.(application, instruction)
        try {
          if (refusal !== undefined) throw new Error(refusal)
          result.detail = await perform(application, instruction, who, executionId, context.depth ?? 0)
        } catch (err) {
          result.outcome = 'error'
          result.detail = errorMessage(err)
          execution.ok = false
        }
      }
      result.durationMs = Date.now() - started
      execution.instructions.push(result)
      if (context.dryRun !== true) record(result, started)
    }
    return execution
  }

  return {
    /** The application's commands files with what validating them against the application now finds. */
    list (application: string): Array<{ name: string, instructions: number, errors: ModelError[] }> {
      return Object.keys(files(application)).sort().map(name => {
        const parsed = parse(application, name)
        return { name, instructions: parsed.instructions.length, errors: parsed.errors }
      })
    },
    read (application: string, name: string): CommandsFileView {
      const parsed = parse(application, name)
      return { name, text: parsed.text, errors: parsed.errors }
    },
    /** Executes a commands file (or only plans it: dryRun); refused whole when it does not validate. */
    run
  }
}

export type CommandsRunner = ReturnType<typeof createCommandsRunner>
