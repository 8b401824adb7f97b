// `deploy.agent_start_cpu_ms` (issue 20, goal <= 300): the CPU time one agent process spends to start, from its exec
// to its mesh up with the model taken and its scoped instance started, as the bundled agent the targets start it
// (the benchmark's agent process: the real Agent service and libp2p mesh, driven over IPC instead of a DM link).
// The median of a few starts, one at a time on an otherwise idle chain-less host state.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMeshApp } from '../../fixtures/mesh-app.js'
import { AgentHost } from './agents.js'
import { AGENT_START_TIMEOUT_MS } from './bench-constants.js'
import { cpuTimeMs, percentile, round2 } from './stats.js'

/** Agent starts measured; the figure is their median. */
export const AGENT_START_RUNS = 5

/** CPU ms of one agent process from its exec until it is ready (model taken, mesh listening, scoped instance started). */
async function oneStart (): Promise<number> {
  const stateDir = await mkdtemp(join(tmpdir(), 'meshconf-agent-start-'))
  const host = new AgentHost({ name: '/Start VM', stateDirs: [stateDir] })
  const agent = host.agents[0]
  try {
    const { peerId } = await agent.waitFor('hello', () => true, AGENT_START_TIMEOUT_MS)
    const { model, parameters } = createMeshApp().agent('Start VM', 'Probe', peerId, [])
    agent.send({ kind: 'model', model, parameters, transport: 'mesh' })
    await agent.waitFor('ready', () => true, AGENT_START_TIMEOUT_MS)
    return await cpuTimeMs(agent.pid)
  } finally {
    await host.stop()
    await rm(stateDir, { recursive: true, force: true })
  }
}

/** The median CPU ms of AGENT_START_RUNS agent starts; null when an agent did not start. */
export async function measureAgentStartCpuMs (log: (line: string) => void): Promise<number | null> {
  const samples: number[] = []
  try {
    for (let i = 0; i < AGENT_START_RUNS; i++) samples.push(await oneStart())
  } catch (err) {
    log(`agent start not measured: ${(err as Error).message.split('\n')[0]}`)
    return null
  }
  log(`agent start: ${samples.map(s => `${s} ms`).join(', ')} of CPU`)
  return round2(percentile(samples, 50))
}
