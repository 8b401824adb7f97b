// The elasticity figures of `npm run bench` (issue 18): `meshconf simulate lamp-elastic` run ELASTIC_ROUNDS times.
// threshold_to_serving_ms is the p50 of the time from the load crossing the scale-up threshold to the new Tomcat's
// first answer through Apache; its goal is the probe period + one machine's deploy time (p50 of the same rounds) + 1 s,
// reported next to those two figures. failed_requests counts every request the load generator saw fail (goal 0).
import { runLampElasticSimulation } from '../../manager/commands/simulate-elastic.js'
import { errorMessage } from '../../protocol/errors.js'
import { percentile, round2 } from './stats.js'

/** Rounds of the story: the p50 is over these. */
export const ELASTIC_ROUNDS = 5
/** The slack of the goal beyond the probe period and a machine's deploy time, in milliseconds. */
const GOAL_SLACK_MS = 1_000

export interface ElasticBench {
  rounds: number
  /** Rounds whose every step passed (the figures come from those). */
  rounds_ok: number
  threshold_to_serving_ms: number | null
  probe_period_ms: number | null
  machine_deploy_ms: number | null
  /** probe_period_ms + machine_deploy_ms + 1 s. */
  goal_ms: number | null
  /** Requests that failed over every round (goal 0); null when no round ran. */
  failed_requests: number | null
}

export const ELASTIC_NOT_MEASURED: ElasticBench = {
  rounds: 0, rounds_ok: 0, threshold_to_serving_ms: null, probe_period_ms: null, machine_deploy_ms: null, goal_ms: null, failed_requests: null
}

export async function measureElastic (options: { log: (line: string) => void, rounds?: number }): Promise<ElasticBench> {
  const rounds = options.rounds ?? ELASTIC_ROUNDS
  const serving: number[] = []
  const deploys: number[] = []
  let probePeriodMs: number | null = null
  let failed = 0
  let ran = 0
  let ok = 0
  for (let round = 1; round <= rounds; round++) {
    try {
      // each step's wall time in the log: where a round's time goes
      const report = await runLampElasticSimulation({ onStep: s => { options.log(`elastic round ${round}: ${s.ok ? '' : 'FAILED '}${s.name.slice(0, 60)}: ${(s.durationMs / 1000).toFixed(1)} s`) } })
      ran++
      const f = report.elastic
      failed += f.failedRequests
      probePeriodMs = f.probePeriodMs
      const failedStep = report.steps.find(s => !s.ok)
      if (failedStep !== undefined) {
        options.log(`elastic round ${round}: step "${failedStep.name}" failed: ${failedStep.detail ?? ''}`)
        continue
      }
      ok++
      if (f.thresholdToServingMs !== undefined) serving.push(f.thresholdToServingMs)
      if (f.machineDeployMs !== undefined) deploys.push(f.machineDeployMs)
      options.log(`elastic round ${round}: threshold to serving ${f.thresholdToServingMs ?? '?'} ms, machine deploy ${f.machineDeployMs ?? '?'} ms, ` +
        `${f.requests} requests, ${f.failedRequests} failed`)
    } catch (err) {
      options.log(`elastic round ${round} did not run: ${errorMessage(err)}`)
    }
  }
  const p50 = (values: number[]): number | null => values.length === 0 ? null : round2(percentile(values, 50))
  const deployP50 = p50(deploys)
  return {
    rounds,
    rounds_ok: ok,
    threshold_to_serving_ms: p50(serving),
    probe_period_ms: probePeriodMs,
    machine_deploy_ms: deployP50,
    goal_ms: probePeriodMs !== null && deployP50 !== null ? round2(probePeriodMs + deployP50 + GOAL_SLACK_MS) : null,
    failed_requests: ran === 0 ? null : failed
  }
}

/** The table's rows: figure, measured, goal. */
export function elasticRows (e: ElasticBench): Array<[string, string, string]> {
  const show = (v: number | null, unit = ''): string => v === null ? 'n/a' : `${v}${unit}`
  return [
    [`elastic: load over the threshold to the new Tomcat serving, p50 of ${e.rounds_ok}/${e.rounds} rounds`, show(e.threshold_to_serving_ms, ' ms'),
      `<= ${show(e.goal_ms, ' ms')} (probe period ${show(e.probe_period_ms, ' ms')} + machine deploy ${show(e.machine_deploy_ms, ' ms')} + 1 s)`],
    ['elastic: failed requests', show(e.failed_requests), '0']
  ]
}
