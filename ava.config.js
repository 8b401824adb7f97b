// Tests run from TypeScript through tsx. ava 7 on Node 20 does not pass --import to worker threads,
// so test files run in child processes (workerThreads: false).
export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx', '--import=./agent/polyfill.ts'],
  workerThreads: false,
  concurrency: 2,
  timeout: '120s'
}
