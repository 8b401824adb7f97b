// Messages that leave after the step that made them, in order: a write to a socket or a pipe wakes the reader, which
// then competes for the CPU, and must not delay what the step does next (an `update`, an announce).

export interface StepOutbox<T> {
  /** Queues the message; the queue is sent once the current step (the running macrotask) has ended. */
  later (message: T): void
  /** Sends what waits now (before a message that must not overtake it, or before stopping). */
  flush (): void
}

/**
 * `repeats(previous, message)`: whether a message only repeats the one queued just before it (a state report sent
 * twice in one step: the model's first state, then every state again); such a message is dropped. Default none.
 */
export function createStepOutbox<T> (deliver: (message: T) => void, repeats: (previous: T, message: T) => boolean = () => false): StepOutbox<T> {
  const waiting: T[] = []
  const flush = (): void => { for (const message of waiting.splice(0)) deliver(message) }
  return {
    later (message) {
      if (waiting.length > 0 && repeats(waiting[waiting.length - 1], message)) return
      if (waiting.push(message) === 1) setImmediate(flush)
    },
    flush
  }
}
