// Defaults of the parts every process shares (common/).

/**
 * A process's log lines wait for the end of their event-loop turn to be written in one system call (common/log.ts),
 * unless this many characters are waiting: a recipe printing megabytes in one turn is written as it goes.
 */
export const LOG_BATCH_MAX_CHARS = 64 * 1024
