// Constants of the benchmarks and of the amqp hub (units in names or comments).

/** RabbitMQ on loopback with the default account; the only broker the benchmarks talk to. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'

/** Wire version of the amqp hub's JSON messages; a receiver drops messages of another version. */
export const HUB_WIRE_VERSION = 1
