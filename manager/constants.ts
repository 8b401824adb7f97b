// Defaults of the deployment manager (DM). Units are in the names or the comments.

/** HTTP port of the REST API (the REST contract's default). */
export const DEFAULT_REST_PORT = 7400
/** Listen address of the REST API; 127.0.0.1 keeps it local unless the user asks otherwise. */
export const DEFAULT_REST_HOST = '127.0.0.1'
/** Largest template upload accepted, in bytes (20 MB); bigger bodies get 413. */
export const MAX_TEMPLATE_UPLOAD_BYTES = 20 * 1024 * 1024
/** Largest JSON request body, in bytes. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024

/** How often the DM looks for silent machines, in milliseconds. */
export const HEARTBEAT_CHECK_INTERVAL_MS = 2_000
/**
 * How long agents' heartbeats wait in the DM's memory before they are written, all in one transaction, in
 * milliseconds (a kill -9 loses at most this much of them; every agent beats again within its period anyway).
 */
export const HEARTBEAT_FLUSH_INTERVAL_MS = 1_000
/**
 * Silence after which a deployed machine goes to PROBLEM, in milliseconds. Agents beat every few seconds, so 30 s is
 * several missed beats (Roboconf: about 3 minutes with 60 s beats).
 */
export const DEFAULT_MACHINE_SILENCE_MS = 30_000

/**
 * Longest wait, in milliseconds, for a machine's agent to undeploy what it carries (stop and undeploy recipes) before
 * the DM terminates the machine anyway: an agent that is unreachable or stuck must not hold an undeploy forever.
 */
export const DEFAULT_MACHINE_UNDEPLOY_WAIT_MS = 30_000

/**
 * Longest time a model waits for another agent of its application to report where its mesh listens, in
 * milliseconds (so that machines started together get a bootstrap peer; see dm.ts peerToBootstrapFrom).
 */
export const MODEL_WAIT_FOR_PEER_MS = 5_000

/**
 * Agents whose addresses a model carries as bootstrap peers, at most (those it shares exports with first: bootstrap.ts). Each costs
 * a handshake on both sides; fewer save deployment CPU but slow reconfiguration (docs/tuning.md).
 */
export const MAX_BOOTSTRAP_AGENTS = 8

/** Most machines the DM creates at the same time (a cloud API would throttle beyond). */
export const DEFAULT_MACHINE_CREATION_CONCURRENCY = 128

/** Files the DM keeps in its data directory. */
export const DATABASE_FILE = 'meshconf-dm.sqlite'
export const TOKEN_FILE = 'token'
export const SIGNING_KEY_FILE = 'dm-signing-key.json'
/** Port of RabbitMQ's management HTTP API, where the DM makes one broker user per machine (broker-users.ts). */
export const BROKER_MANAGEMENT_PORT = 15672
/** Longest wait for one request to RabbitMQ's management API, in ms. */
export const BROKER_MANAGEMENT_TIMEOUT_MS = 10_000
/** Sub-folder of the data directory holding the embedded endpoint's CA and server certificate (manager/messaging/tls.ts). */
export const TLS_FOLDER = 'tls'
/** How long the DM's certificate authority is valid, in ms (20 years: agents pin it). */
export const TLS_CA_VALIDITY_MS = 20 * 365 * 86_400_000
/** How long the endpoint's server certificate is valid, in ms (1 year). */
export const TLS_SERVER_VALIDITY_MS = 365 * 86_400_000
/** The server certificate is made again at a start when less than this is left of it, in ms (30 days). */
export const TLS_SERVER_RENEW_BEFORE_MS = 30 * 86_400_000
/** Sub-folder of the data directory holding one folder per machine made by the local and netns targets. */
export const MACHINES_FOLDER = 'machines'

/** Instance data keys the DM maintains (Roboconf's names where they exist). */
export const DATA_IP_ADDRESS = 'ip.address'
export const DATA_MACHINE_ID = 'machine.id'
/** Name the DM chose for a machine before asking the target for it (lets a restarted DM find a half-made machine). */
export const DATA_MACHINE_NAME = 'machine.name'
export const DATA_TARGET_ID = 'target.id'
/** Handler of the machine's target, so a restarted DM asks the right handler about it. */
export const DATA_TARGET_HANDLER = 'target.handler'
export const DATA_RUNNING_FROM = 'running.from'
export const DATA_LAST_PROBLEM = 'last.problem'

/** Range of the ports the DM gives `random[port]` exports: [min, max) (Roboconf's range). */
export const RANDOM_PORT_MIN = 10_000
export const RANDOM_PORT_MAX = 65_500
/** Draws of a random start outside the host's ephemeral port range before taking any (manager/dm/ports.ts). */
export const RANDOM_PORT_START_DRAWS = 32

/** The installer that marks a scoped instance (a machine with its own agent). */
export const TARGET_INSTALLER = 'target'
/** Target used when neither an association nor the template names one. */
export const DEFAULT_TARGET_ID = 'default'

/** Events the DM's history keeps, at most (the oldest go first). */
export const DEFAULT_MAX_EVENTS = 100_000
/** Age beyond which the history drops an event, in ms: 30 days. */
export const DEFAULT_EVENT_MAX_AGE_MS = 30 * 24 * 3_600_000
/** The history is pruned once every this many new events. */
export const EVENT_PRUNE_EVERY = 1_000
/** Most events one GET /api/events answer carries. */
export const MAX_EVENTS_PER_QUERY = 10_000
/** Longest problem message the DM keeps from an agent, in characters (a peer may send more). */
export const MAX_PROBLEM_MESSAGE_CHARS = 8_192

/** Sub-folder of the data directory holding the logs kept of terminated machines (one folder per application). */
export const KEPT_LOGS_FOLDER = 'logs'
/** What the DM keeps of a terminated machine's log, at most, in bytes: its last 1 MiB. */
export const KEPT_LOG_BYTES = 1024 * 1024
/** How long the DM waits for an agent's answer to a request for its log, in ms. */
export const LOGS_ANSWER_TIMEOUT_MS = 10_000
/** Answers read, at most, to gather a machine's whole log (each carries a bounded part of it). */
export const LOGS_MAX_PAGES = 32
