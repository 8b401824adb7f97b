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
/** What each agent already up may use while idle, in % of a core, on top of PACE_CPU_PCT (measured 0.08-0.5). */
export const PACE_IDLE_CPU_PCT_PER_AGENT = 0.1
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
/**
 * Full runs also measure idle CPU while nothing changes: from this long after the chain is up, in ms, over
 * STEADY_IDLE_WINDOW_MS. An owner's digests follow its last change by about 5, 15 and 35 s (ANTI_ENTROPY_*, spaced by
 * the mesh's digest budget), then at doubling intervals up to two minutes, and every agent handles each one: a 10 s
 * window among the first ones weighs them many times over what they cost an agent that stays idle.
 */
export const STEADY_IDLE_AFTER_UP_MS = 45_000
/** Window of the idle CPU measured while nothing changes, in ms (full runs). */
export const STEADY_IDLE_WINDOW_MS = 20_000
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
/** Longest wait, after a cut link heals, for every importer to hold the cut agent's export again, in ms. */
export const PARTITION_HEAL_TIMEOUT_MS = 90_000
/** Longest run of the DM's deployment benchmark, in ms. */
export const DEPLOY_BENCH_TIMEOUT_MS = 600_000

/** Peer baselines (peers.ts): events timed per N (the figure is their p50). */
export const PEER_EVENTS = 5
/** Longest wait for one event or put to reach every handler, in ms. */
export const PEER_EVENT_TIMEOUT_MS = 30_000
/** Longest wait for every Serf agent to see a kill -9 as member-failed, in ms (lan profile: 6-10 s at 10-50 agents). */
export const PEER_FAILURE_TIMEOUT_MS = 60_000
/** Longest wait for a Serf cluster (each batch joined) or etcd and its watchers to be up, in ms. */
export const PEER_START_TIMEOUT_MS = 120_000
/** Serf agents started before waiting for them to join. */
export const PEER_START_BATCH = 50
/** How long a peer process has after SIGTERM before SIGKILL, in ms. */
export const PEER_STOP_TIMEOUT_MS = 3000
/** Resident memory of one Serf agent or `etcdctl watch`, in MB (measured: 16 MB), to tell whether N of them fit. */
export const PEER_PROCESS_RSS_MB = 20
/** Share of the free memory a peer baseline may take. */
export const PEER_MEMORY_SHARE = 0.6
/**
 * Serf's timing profile: `local` (memberlist's DefaultLocalConfig: gossip every 100 ms, probe every 1 s with a
 * 200 ms timeout, suspicion multiplier 3) is the fastest of lan, wan and local, meant for loopback.
 */
export const SERF_PROFILE = 'local'

/** Scale mode (scale.ts): Apaches packed into each agent process (MySQL and the Tomcats run alone). */
export const SCALE_AGENTS_PER_PROCESS = 50
/** Longest wait for the chain to be started, per agent, in ms (at least DEPLOY_TIMEOUT_MS; the run's budget cuts it): 600 s at 1 000 (at 300 under load 100, 120 s was not enough). */
export const SCALE_DEPLOY_MS_PER_AGENT = 600
/** The scale mode's agents keep their state folders here when it is writable (tmpfs: scale.ts says why), else in tmpdir. */
export const SCALE_STATE_ROOT = '/dev/shm'
/** Changes timed per N (a stop and a start of the Tomcat each; each gives one "every importer updated"). */
export const SCALE_TOGGLES = 3
/** Window of the idle CPU and idle traffic per N, in ms. */
export const SCALE_IDLE_WINDOW_MS = 5000
/** Before measuring, the processes' summed CPU must fall below this, in % of a core (of 200), waiting at most SCALE_SETTLE_MAX_MS. */
export const SCALE_SETTLED_CPU_PCT = 60
export const SCALE_SETTLE_MAX_MS = 90_000
/** Largest N at which the scale mode also runs Serf and etcd (each a process per agent or watcher, ~16 MB each). */
export const SCALE_PEERS_MAX_AGENTS = 1000
/**
 * The whole scale run's time budget, in ms (issue 20: `--scale 1000` within 20 minutes): every wait is also cut to
 * what is left of it (budget.ts); 1.5 minutes are kept for stopping the last chain, the charts and the exit.
 */
export const SCALE_RUN_BUDGET_MS = 18.5 * 60_000
/** Least time left for starting the mesh at one N, in ms (else that N is skipped, with the reason). */
export const SCALE_MIN_POINT_MS = 60_000
/** Least time left for one change, in ms (else the remaining changes are skipped). */
export const SCALE_MIN_CHANGE_MS = 3000
/** Least time left for the kill -9, in ms. */
export const SCALE_MIN_CRASH_MS = 3000
/** Least time left for Serf or etcd at one N, in ms (else skipped). */
export const PEER_MIN_BUDGET_MS = 20_000
/** Sizes of the scale mode when `--scale` names none. */
export const SCALE_SIZES = [10, 100, 300, 1000]
/** Sizes of the etcd baseline in the full run (issue 20), and of Serf's beside the mesh's convergence runs. */
export const PEER_SIZES = [10, 50, 100]

/** Agents of the same application (and of the domain exchange) each inter-app agent bootstraps from (inter-app.ts). */
export const MAX_INTER_APP_BOOTSTRAP_PEERS = 4
