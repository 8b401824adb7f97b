// Constants of the benchmarks and of the amqp hub (units in names or comments).

/** RabbitMQ on loopback with the default account; the only broker the benchmarks talk to. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

/** Wire version of the amqp hub's JSON messages; a receiver drops messages of another version. */
export const HUB_WIRE_VERSION = 1

/** How long an agent process has to exit after `stop` before it is killed, in ms. */
export const AGENT_STOP_TIMEOUT_MS = 5000

/** Characters of an agent process's stderr kept for error messages. */
export const STDERR_TAIL_CHARS = 8000

/** Agent processes started at once (each bootstraps from agents already up). */
export const AGENT_START_BATCH = 10
/**
 * Large chains (paced): before the next batch starts, the agents already up must use less than PACE_CPU_PCT % of a
 * core together, measured over PACE_WINDOW_MS, waiting at most PACE_MAX_MS. 100 machines each boot on their own CPU;
 * 100 agent processes booting on 2 cores at once lag so much that no liveness timeout can tell it from death
 * (docs/tuning.md).
 */
export const PACE_CPU_PCT = 100
/** And each agent below this, in % of a core: the exporters, which every newcomer dials, must have caught up. */
export const PACE_AGENT_CPU_PCT = 50
export const PACE_MAX_MS = 30_000
export const PACE_WINDOW_MS = 1000
/** Longest wait for an agent process to come up and take its model, in ms (100 processes share 2 cores). */
export const AGENT_START_TIMEOUT_MS = 60_000
/** Longest wait for every instance of a chain to be started with its imports, in ms. */
export const DEPLOY_TIMEOUT_MS = 120_000
/** Longest wait for one change to reach one importer, in ms (a change that takes longer counts as missed). */
export const CHANGE_TIMEOUT_MS = 10_000

/** Agent processes of the reconfigure, cost and failure runs (issue 7: 10). */
export const BENCH_AGENTS = 10
/** Larger chains of the convergence runs (full run only). */
export const CONVERGE_SIZES = [50, 100]
/** Toggles of the target Tomcat per chain: full run, and --quick (each gives one sample per importer). */
export const TOGGLES = 30
export const QUICK_TOGGLES = 10
/** Toggles per convergence chain (each gives one "every importer updated" figure). */
export const CONVERGE_TOGGLES = 5
/** Window over which idle CPU and idle traffic are measured, in ms: full run, and --quick. */
export const IDLE_WINDOW_MS = 10_000
export const QUICK_IDLE_WINDOW_MS = 3000
/** Pause after a chain is up before measuring, in ms (lets mesh formation and first digests pass). */
export const SETTLE_MS = 1000
/**
 * Then, before a chain is measured, its agents must be quiet: their mean CPU over SETTLE_WINDOW_MS below
 * SETTLED_CPU_PCT % of a core per agent, waiting at most SETTLE_MAX_MS. 50 or 100 agents starting on 2 cores keep
 * them busy for minutes (handshakes, mesh formation, the chain reaction), 10 for seconds; a change timed then
 * measures the start's backlog, and a starved agent stretches its timeouts. Quiet, an agent of a 50-agent chain uses
 * 1.6-1.9 % (measured after it went quiet; the Tomcats answer 48 pings a second).
 */
export const SETTLED_CPU_PCT = 3
/**
 * And the busiest agent below this, in % of a core: at 100 agents the sum bound (300 %) exceeds the 2 cores, and a
 * saturated Tomcat is 1 % of that sum; quiet, a Tomcat answering 97 importers' pings uses a few %.
 */
export const SETTLED_AGENT_CPU_PCT = 20
export const SETTLE_WINDOW_MS = 2000
export const SETTLE_MAX_MS = 120_000
/** Longest wait for importers to notice a killed agent, and a cut-off one, in ms (goals: 1 s and 5 s). */
export const CRASH_DETECT_TIMEOUT_MS = 15_000
export const PARTITION_DETECT_TIMEOUT_MS = 30_000
/** Longest run of the DM's deployment benchmark, in ms. */
export const DEPLOY_BENCH_TIMEOUT_MS = 600_000

/** Agents of the same application (and of the domain exchange) each inter-app agent bootstraps from (inter-app.ts). */
export const MAX_INTER_APP_BOOTSTRAP_PEERS = 4
