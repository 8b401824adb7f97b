// Constants of the agent's life-cycle engine, plug-ins and local state.

/** How long a recipe process (script, puppet) may run before its whole process group is killed: 5 minutes (ms). */
export const DEFAULT_RECIPE_TIMEOUT_MS = 5 * 60_000

/** How many trailing stderr lines a failure report carries. */
export const STDERR_TAIL_LINES = 10

/**
 * After a recipe process exits, how long to wait for its output pipes to close (ms). A start script that leaves a
 * daemon behind hands it the pipes; the agent must not wait for that daemon.
 */
export const OUTPUT_DRAIN_GRACE_MS = 200

/** File of the agent's state (model, states, imports, mesh parameters) in its state directory. */
export const STATE_FILE_NAME = 'agent-state.json'

/** Folder of the state directory holding the received recipe files, one JSON file per component. */
export const RECIPES_FOLDER = 'recipes'

/** Folder of the state directory holding one working folder per instance (recipe files, then what they create). */
export const INSTANCES_FOLDER = 'instances'

/** File of the state directory holding the running agent's process id (`meshconf agent view` signals it). */
export const AGENT_PID_FILE = 'agent.pid'

/** File of the state directory where the agent writes its mesh view on SIGUSR2 (agent/view.ts). */
export const AGENT_VIEW_FILE = 'view.json'

/** Version of the state file's layout; a file with another version is treated as unreadable. */
export const STATE_FORMAT_VERSION = 1

/**
 * Delay before changed imports are saved, in ms. A save waits for two fsyncs (1 to 20 ms when agents share a disk),
 * and imports come back from the mesh after a restart: they are saved just after `update` starts, not before, and
 * a burst of changes is saved once. States and models are saved at once.
 */
export const IMPORTS_SAVE_DELAY_MS = 20
