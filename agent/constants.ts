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

// The state folder's layout is the DM's business too (it prepares and inspects machines): protocol/agent-layout.ts.
export {
  AGENT_PID_FILE, AGENT_VIEW_FILE, INSTANCES_FOLDER, RECIPES_FOLDER, STATE_FILE_NAME, STATE_FORMAT_VERSION
} from '../protocol/agent-layout.js'

/**
 * Delay before changed imports are saved, in ms. A save waits for two fsyncs (1 to 20 ms when agents share a disk),
 * and imports guard nothing: they come back from the mesh after a restart (RESTORED_IMPORTS_GRACE_MS). So they are
 * saved after `update` starts, not before, and the changes of a second are saved once: with 20 ms, an importer saved
 * once per change, a sixth of its CPU in a run of changes (docs/tuning.md). States and models are saved at once.
 */
export const IMPORTS_SAVE_DELAY_MS = 1000

/**
 * Delay before a settled state (DEPLOYED_STARTED, DEPLOYED_STOPPED, NOT_DEPLOYED, UNRESOLVED, ...) is saved, in ms. No
 * plug-in step waits for it (a restart from the state before it does the same: STARTING is started again, STOPPING
 * is stopped), so it need not be on disk at once; an owner's save after DEPLOYED_STARTED then leaves the cores to the
 * importers of its announce (a change reaches 100 importers in about 100 ms on 2 cores: docs/perf-trace.md). The
 * states a step runs under (DEPLOYING, STARTING, STOPPING, UNDEPLOYING) are saved at once, before the step.
 */
export const STATE_SAVE_DELAY_MS = 100

/** The agent's recent log kept in memory for `meshconf logs`, in bytes (about: 40 bytes a line of overhead). */
export const LOG_RING_BYTES = 1024 * 1024
