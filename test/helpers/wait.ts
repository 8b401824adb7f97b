// The tests' wait loop is common/wait.ts (the benchmarks use it too).
export { waitFor, WaitTimeoutError, type Found, type WaitForOptions } from '../../common/wait.js'
