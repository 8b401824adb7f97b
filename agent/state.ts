// The agent's local state: its scoped model (with the instances' states), their imports, the mesh parameters and
// the received recipe files, in its state directory, written atomically (temporary file, fsync, rename), so that an
// agent killed at any moment finds either the previous or the new state. Writes are asynchronous: a synchronous save
// blocks the event loop on fsync, in the path from an export change to `update` (docs/tuning.md). An unreadable file
// is kept aside as
// `<file>.corrupt-<time>` and reported; the agent then starts without it.
import { copyFileSync, readdirSync, readFileSync } from 'node:fs'
import { PRIVATE_FILE_MODE, PRIVATE_FOLDER_MODE, writeAtomically } from '../common/fs.js'
import { join } from 'node:path'
import { fillStatuses } from '../protocol/lifecycle.js'
import type { MeshParameters, RecipeFiles, ScopedModel } from '../protocol/messages.js'
import { instanceFolderName } from '../protocol/agent-layout.js'
import { IMPORTS_SAVE_DELAY_MS, INSTANCES_FOLDER, RECIPES_FOLDER, STATE_FILE_NAME, STATE_FORMAT_VERSION, STATE_SAVE_DELAY_MS } from './constants.js'
import { CorruptStateError } from './errors.js'
import type { ImportsSnapshot } from './lifecycle/imports.js'

export { instanceFolderName } from '../protocol/agent-layout.js'
import { errorMessage } from '../protocol/errors.js'
import { isoTime } from '../common/clock.js'
import { trace } from '../common/trace.js'

export interface SavedAgentState {
  version: typeof STATE_FORMAT_VERSION
  model: ScopedModel
  mesh: MeshParameters
  imports: ImportsSnapshot
}

export interface LoadedAgentState {
  state?: SavedAgentState
  recipes: Record<string, RecipeFiles>
  /** What could not be read (each file was kept aside). */
  problems: CorruptStateError[]
}

/** Writes a file of the state folder whole (writeAtomically; tests slow it down to stand for a disk many agents share). */
export type StateFileWriter = (file: string, content: string) => Promise<void>

export class AgentStateStore {
  readonly stateDir: string
  private readonly write: StateFileWriter

  constructor (stateDir: string, write: StateFileWriter = async (file, content) => { await writeAtomically(file, content, PRIVATE) }) {
    this.stateDir = stateDir
    this.write = write
  }

  /** Folders already named (a name is a hash: every plug-in step and `update` asks again); as many as instances. */
  private readonly instanceDirs = new Map<string, string>()

  /** `<stateDir>/instances/<instanceFolderName(path)>`: the instance's working folder. */
  instanceDir (instancePath: string): string {
    let dir = this.instanceDirs.get(instancePath)
    if (dir === undefined) this.instanceDirs.set(instancePath, dir = join(this.stateDir, INSTANCES_FOLDER, instanceFolderName(instancePath)))
    return dir
  }

  load (): LoadedAgentState {
    const problems: CorruptStateError[] = []
    const state = this.readJson<SavedAgentState>(join(this.stateDir, STATE_FILE_NAME), problems, checkState)
    if (state !== undefined) fillStatuses(state.model.instance)
    const recipes: Record<string, RecipeFiles> = {}
    let names: string[] = []
    try {
      names = readdirSync(join(this.stateDir, RECIPES_FOLDER)).filter(n => n.endsWith('.json'))
    } catch {
      // no recipes yet
    }
    for (const name of names) {
      const files = this.readJson<RecipeFiles>(join(this.stateDir, RECIPES_FOLDER, name), problems, checkRecipes)
      if (files !== undefined) recipes[decodeURIComponent(name.slice(0, -'.json'.length))] = files
    }
    return { state, recipes, problems }
  }

  /** Serializes `state` at once (later changes to it are not saved), then writes it. */
  save (state: SavedAgentState): Promise<void> {
    return this.saveText(JSON.stringify(state))
  }

  /** Writes a state already serialized (StateSaver compares it with the last one written). */
  saveText (serialized: string): Promise<void> {
    return this.write(join(this.stateDir, STATE_FILE_NAME), serialized)
  }

  saveRecipes (component: string, files: RecipeFiles): Promise<void> {
    return this.write(join(this.stateDir, RECIPES_FOLDER, `${encodeURIComponent(component)}.json`), JSON.stringify(files))
  }

  private readJson<T> (file: string, problems: CorruptStateError[], check: (value: unknown) => string | undefined): T | undefined {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return undefined
    }
    let reason: string | undefined
    let value: unknown
    try {
      value = JSON.parse(text)
      reason = check(value)
    } catch (err) {
      reason = errorMessage(err)
    }
    if (reason === undefined) return value as T
    const copy = `${file}.corrupt-${isoTime(Date.now()).replace(/[:.]/g, '-')}`
    copyFileSync(file, copy)
    problems.push(new CorruptStateError(file, reason, copy))
    return undefined
  }
}

/**
 * How soon a change must be on disk. `now`: a plug-in step waits for it (the state it runs under); written at the end
 * of the current turn, after the write in flight if any. `shortly`: a settled state (DEPLOYED_STARTED, ...) that no
 * step waits for, within STATE_SAVE_DELAY_MS. `soon`: imports only, within IMPORTS_SAVE_DELAY_MS.
 */
export type SaveUrgency = 'now' | 'shortly' | 'soon'

interface PendingSave { promise: Promise<void>, resolve: () => void }

function pendingSave (): PendingSave {
  let resolve = (): void => {}
  const promise = new Promise<void>(r => { resolve = r })
  return { promise, resolve }
}

/**
 * Group commit of the agent's state (docs/tuning.md, "the fsync storm"): one write at a time, of the latest state,
 * for every change made before it serialized; a change waits for the write in flight and its own, never for the
 * changes that come after it; a state equal to the last one written is not written again.
 */
export class StateSaver {
  private readonly store: AgentStateStore
  /** The state to write, undefined while there is none (no model yet). */
  private readonly snapshot: () => SavedAgentState | undefined
  private readonly failed: (err: unknown) => void
  /** Changes not serialized yet (they resolve once written), and whether a step waits for them. */
  private next: PendingSave | undefined
  private nextWanted = false
  /** The write in flight: its changes, and the loop that writes. */
  private current: PendingSave | undefined
  private writing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private timerDue = Infinity
  private lastWritten: string | undefined
  /** Writes done and skipped (the state had not changed), for tests and docs. */
  readonly counts = { written: 0, unchanged: 0 }

  constructor (store: AgentStateStore, snapshot: () => SavedAgentState | undefined, failed: (err: unknown) => void) {
    this.store = store
    this.snapshot = snapshot
    this.failed = failed
  }

  /** Records a change; resolves once it is on disk (or its write failed, reported to `failed`). */
  changed (urgency: SaveUrgency): Promise<void> {
    const next = this.next ??= pendingSave()
    if (urgency === 'now') this.wantNext()
    else if (!this.nextWanted) this.wantWithin(urgency === 'shortly' ? STATE_SAVE_DELAY_MS : IMPORTS_SAVE_DELAY_MS)
    return next.promise
  }

  /** Everything changed so far, on disk. */
  flush (): Promise<void> {
    return this.next !== undefined ? this.changed('now') : this.current?.promise ?? Promise.resolve()
  }

  private wantWithin (ms: number): void {
    const due = performance.now() + ms
    if (due >= this.timerDue) return
    clearTimeout(this.timer)
    this.timerDue = due
    this.timer = setTimeout(() => { this.wantNext() }, ms)
  }

  private wantNext (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.timerDue = Infinity
    this.nextWanted = true
    // the write in flight takes `next` when it ends
    this.writing ??= this.writeWhileWanted()
  }

  private async writeWhileWanted (): Promise<void> {
    // Yield first: the changes of this turn join, and `writing` is set before the loop can end and clear it.
    await Promise.resolve()
    while (this.next !== undefined && this.nextWanted) {
      const current = this.current = this.next
      this.next = undefined
      this.nextWanted = false
      try {
        const state = this.snapshot()
        const serialized = state === undefined ? undefined : JSON.stringify(state)
        if (serialized === this.lastWritten || serialized === undefined) {
          this.counts.unchanged++
        } else {
          trace('state.save')
          await this.store.saveText(serialized)
          trace('state.saved')
          this.lastWritten = serialized
          this.counts.written++
        }
      } catch (err) {
        this.failed(err)
      }
      current.resolve()
    }
    this.current = undefined
    // In the same step as the last check: a change after this starts a new loop.
    this.writing = undefined
  }
}

function checkState (value: unknown): string | undefined {
  const state = value as Partial<SavedAgentState> | null
  if (typeof state !== 'object' || state === null) return 'not a JSON object'
  if (state.version !== STATE_FORMAT_VERSION) return `format version ${String(state.version)}, expected ${STATE_FORMAT_VERSION}`
  const model = state.model
  if (typeof model !== 'object' || model === null || typeof model.application !== 'string' ||
    typeof model.components !== 'object' || typeof model.instance?.path !== 'string') return 'no usable model'
  if (typeof state.mesh !== 'object' || state.mesh === null) return 'no mesh parameters'
  if (typeof state.imports !== 'object' || state.imports === null) return 'no imports'
  return undefined
}

function checkRecipes (value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object'
  return Object.values(value).every(v => typeof v === 'string') ? undefined : 'a file content is not a base64 string'
}

/** The state folder holds the token and the application's pnet key: everything in it is the agent's alone. */
const PRIVATE = { mode: PRIVATE_FILE_MODE, folderMode: PRIVATE_FOLDER_MODE }

