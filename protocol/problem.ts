// What an agent reports when a step fails: in its own file, with no Node import, so that the web console can read
// the type too (tsc -p web has no Node types).

/** Longest recipe output an agent sends in a problem, per stream, in bytes (its last 4 KiB). */
export const PROBLEM_OUTPUT_TAIL_BYTES = 4096

/** Why an instance's last action failed, as its agent saw it: reported with the state it fell back to. */
export interface InstanceProblem {
  /** `deploy`, `start`, `update`, `stop`, `undeploy`, or `refused` (a request the state did not allow). */
  step: string
  /** The component's installer (`script`, `puppet`, ...), when a plug-in ran. */
  plugin?: string
  /** The recipe's exit code, when it exited. */
  exitCode?: number
  /** The signal that ended the recipe (`SIGKILL` after a timeout). */
  signal?: string
  /** True when the recipe ran past the agent's recipe timeout and was killed. */
  timedOut?: boolean
  /** How long the step ran, in ms. */
  durationMs?: number
  /** The last PROBLEM_OUTPUT_TAIL_BYTES of the recipe's stderr and stdout. */
  stderr?: string
  stdout?: string
  /** ISO time of the failure. */
  at: string
  /** One line saying what failed (the `problem` of the message). */
  message: string
}
