// Constants of the benchmarks and of the amqp hub (units in names or comments).

/** RabbitMQ on loopback with the default account; the only broker the benchmarks talk to. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

/** Wire version of the amqp hub's JSON messages; a receiver drops messages of another version. */
export const HUB_WIRE_VERSION = 1

/** How long an agent process has to exit after `stop` before it is killed, in ms. */
export const AGENT_STOP_TIMEOUT_MS = 5000

/** Characters of an agent process's stderr kept for error messages. */
export const STDERR_TAIL_CHARS = 8000
