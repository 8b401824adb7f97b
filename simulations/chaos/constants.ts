// Timings and defaults of the chaos runs (units in names).

/** Trials of a run when `--trials` is not given. */
export const DEFAULT_TRIALS = 20

/** Detection bound of the mesh (a cut-off agent is noticed within 5 s, a killed one within 1 s), in ms: the first
 * invariant check of a trial starts once it has passed. */
export const DETECTION_BOUND_MS = 5000
/** After the bound, how long the invariant may take to hold (recipes such as Apache's reload run), in ms. */
export const CONSISTENCY_DEADLINE_MS = 15_000
/** Longest wait for the application to be started again after a fault is repaired (or deployed at first), in ms. */
export const RECOVERY_TIMEOUT_MS = 120_000
/** Longest wait for the DM process to listen, in ms. */
export const DM_START_TIMEOUT_MS = 30_000
/** Interval between two looks at the agents' states, in ms. */
export const POLL_INTERVAL_MS = 250
/** Longest wait for the DM to count the refusals of the rogue agent's attempts, in ms. */
export const ROGUE_REFUSAL_TIMEOUT_MS = 10_000
