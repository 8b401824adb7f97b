// Tests run from TypeScript through tsx. ava 7 on Node 20 does not pass --import to worker threads,
// so test files run in child processes (workerThreads: false). The simulations' own code is tested under
// simulations/test/ (tests never import simulations/).
export default {
  files: ['test/**/*.test.ts', 'simulations/test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx', '--import=./agent/polyfill.ts'],
  workerThreads: false,
  concurrency: 2,
  timeout: '120s'
}
