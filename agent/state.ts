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
import { INSTANCES_FOLDER, RECIPES_FOLDER, STATE_FILE_NAME, STATE_FORMAT_VERSION } from './constants.js'
import { CorruptStateError } from './errors.js'
import type { ImportsSnapshot } from './lifecycle/engine.js'

export { instanceFolderName } from '../protocol/agent-layout.js'
import { errorMessage } from '../protocol/errors.js'
import { isoTime } from '../common/clock.js'

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

export class AgentStateStore {
  readonly stateDir: string

  constructor (stateDir: string) {
    this.stateDir = stateDir
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
    return writeAtomically(join(this.stateDir, STATE_FILE_NAME), JSON.stringify(state), PRIVATE)
  }

  saveRecipes (component: string, files: RecipeFiles): Promise<void> {
    return writeAtomically(join(this.stateDir, RECIPES_FOLDER, `${encodeURIComponent(component)}.json`), JSON.stringify(files), PRIVATE)
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

