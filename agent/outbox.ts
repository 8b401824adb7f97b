// Messages that leave after the step that made them, in order: a write to a socket or a pipe wakes the reader, which
// then competes for the CPU, and must not delay what the step does next (an `update`, an announce).

export interface StepOutbox<T> {
  /** Queues the message; the queue is sent once the current step (the running macrotask) has ended. */
  later (message: T): void
  /** Sends what waits now (before a message that must not overtake it, or before stopping). */
  flush (): void
}

export function createStepOutbox<T> (deliver: (message: T) => void): StepOutbox<T> {
  const waiting: T[] = []
  const flush = (): void => { for (const message of waiting.splice(0)) deliver(message) }
  return {
    later (message) { if (waiting.push(message) === 1) setImmediate(flush) },
    flush
  }
}
