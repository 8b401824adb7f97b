// Timings and defaults of the chaos runs (units in names).

/** Trials of a run when `--trials` is not given. */
export const DEFAULT_TRIALS = 20

/** Longest wait for a private RabbitMQ node to accept connections after a (re)start, in ms (the Erlang VM boots in ~15 s). */
export const BROKER_START_TIMEOUT_MS = 60_000
/** Interval between two connection attempts while waiting for the broker, in ms. */
export const BROKER_POLL_INTERVAL_MS = 250
/** Longest wait for `rabbitmqctl stop`, in ms. */
export const BROKER_STOP_TIMEOUT_MS = 30_000
