// The meshconf release this build is (agents report it in their heartbeats; `describe` shows it). Kept equal to
// package.json's version by test/obs-problems.test.ts: the agent bundle cannot read package.json at run time.
export const MESHCONF_VERSION = '0.1.0'
