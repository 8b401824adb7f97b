// The agent's public entry point: what the DM and the simulations may use of it. Everything else under agent/ is
// internal (test/import-graph.test.ts checks that manager/ imports only this and view.ts, which reads a running
// agent's files without loading the agent).
export { createAgentProcess, runAgentProcess, type AgentProcess, type AgentProcessComponents } from './main.js'
export { createMemoryMeshHub } from './mesh/memory.js'
export type { MeshFactory } from './ports.js'
export type { MeshView } from './mesh/service.js'
export type { AgentMeshView } from './mesh/domain.js'
export type { DomainView } from './mesh/domain-exchange.js'
/** The agent's crash detection, which checks of a run (simulate) compare what they measure with. */
export { LIVENESS_ABORT_MS, LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS, PROBE_INDIRECT_TIMEOUT_MS } from './mesh/constants.js'
