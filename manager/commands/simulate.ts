// `meshconf simulate <scenario>`: the command (its options, checks and output: a table of the steps, or with --json
// exactly one `{ ok, startedAt, durationMs, steps }` document, also when the story cannot even start); the stories are
// simulate-lamp.ts, simulate-elastic.ts and simulate-shared-db.ts.
import { existsSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { formatDuration, parseDuration, printDocument, resolveWaitMs, withWaitOptions, type WaitOptions } from './format.js'
import type { CommandRegistration } from '../cli.js'
import { defaultAgentCommand } from '../targets/process.js'
import { parseAmqpUrl, usageError } from './output.js'
import { errorMessage } from '../../protocol/errors.js'
import {
  DEFAULT_STEP_WAIT_MS, SimulationCheckError, rabbitmqctlBroker, type SimulationReport, type SimulationStep, type SimulationTarget
} from './simulation-steps.js'
import { runLampSimulation } from './simulate-lamp.js'

export function printTable (report: SimulationReport): void {
  const width = Math.max(...report.steps.map(s => s.name.length))
  for (const s of report.steps) {
    console.log(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name.padEnd(width)}  ${String(s.durationMs).padStart(7)} ms${s.detail !== undefined ? `  ${s.detail}` : ''}`)
  }
  console.log(report.ok ? 'all steps passed' : `${report.steps.filter(s => !s.ok).length} step(s) failed`)
}

type Scenario = 'lamp' | 'lamp-elastic' | 'shared-db'

function parseScenario (value: string): Scenario {
  if (value !== 'lamp' && value !== 'lamp-elastic' && value !== 'shared-db') throw new InvalidArgumentError(`unknown scenario ${JSON.stringify(value)}: use lamp, lamp-elastic or shared-db`)
  return value
}

function parseRate (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || n > 1000) throw new InvalidArgumentError(`"${value}" is not a number of requests per second in (0, 1000]`)
  return n
}

function parseTarget (value: string): SimulationTarget {
  if (value !== 'local' && value !== 'netns' && value !== 'docker') throw new InvalidArgumentError('use local, netns or docker')
  return value
}

interface SimulateOptions extends WaitOptions {
  target: SimulationTarget
  amqp?: string
  rabbitmqNode?: string
  keep?: boolean
  json?: boolean
  real?: boolean
  probePeriod?: number
  scaleDownWindow?: number
  busyRps?: number
  idleRps?: number
}

export const registerSimulateCommand: CommandRegistration = (program: Command) => {
  const command = program.command('simulate')
    .description('run a scenario end to end with a DM of its own and real agents, and report each step')
    .argument('<scenario>', 'the scenario: lamp, lamp-elastic (Tomcats added and removed by rules on the load), or shared-db (a database application imported by two web applications, one bound)', parseScenario)
    .option('--target <handler>', 'machines: local (agent processes), netns (network namespaces, needs root) or docker (containers from the agent image, needs dockerd)', parseTarget, 'local')
    .option('--amqp <url>', 'agents talk through RabbitMQ, stopped (rabbitmqctl stop_app) and started again with the DM (default: the DM\'s embedded endpoint, no broker)', parseAmqpUrl)
    .option('--rabbitmq-node <node>', 'with --amqp, the RabbitMQ node rabbitmqctl stops and starts, e.g. rabbit@myhost (default: $RABBITMQ_NODENAME, else rabbit@<this host>)')
    .option('--real', 'shared-db: the host\'s MariaDB (127.0.0.1:3306, root over TCP without a password) instead of the stand-in')
    .option('--keep', 'keep the data folder (DM database and log, the agents\' and services\' logs under logs/)')
    .option('--json', 'print exactly one JSON document { ok, startedAt, durationMs, steps: [{ name, ok, startedAt, durationMs, detail? }] } (lamp-elastic adds elastic: what it measured)')
    .option('--probe-period <duration>', 'lamp-elastic: the application\'s probe period (default 1s)', parseDuration)
    .option('--scale-down-window <duration>', 'lamp-elastic: how long the load must stay low before a Tomcat goes (default 5s)', parseDuration)
    .option('--busy-rps <n>', 'lamp-elastic: requests per second per Tomcat above which one is added (default 8)', parseRate)
    .option('--idle-rps <n>', 'lamp-elastic: requests per second per Tomcat below which one is removed (default 3)', parseRate)
  withWaitOptions(command, 'each step\'s states and answers are there (per step)', DEFAULT_STEP_WAIT_MS, '; always waits', false)
    .action(async (scenario: Scenario, opts: SimulateOptions, command: Command) => {
      if (scenario === 'shared-db' && opts.target !== 'local') usageError(command, 'shared-db runs on the local target only: leave out --target')
      if (scenario !== 'shared-db' && opts.real === true) usageError(command, '--real goes with shared-db (lamp-apache is the LAMP story with the real servers)')
      if (opts.rabbitmqNode !== undefined && opts.amqp === undefined) usageError(command, '--rabbitmq-node goes with --amqp (without it no broker is used)')
      const elasticOptions = { probePeriodMs: opts.probePeriod, scaleDownWindowMs: opts.scaleDownWindow, busyRps: opts.busyRps, idleRps: opts.idleRps }
      if (scenario === 'lamp' && Object.values(elasticOptions).some(v => v !== undefined)) {
        usageError(command, '--probe-period, --scale-down-window, --busy-rps and --idle-rps go with lamp-elastic')
      }
      if (scenario === 'lamp-elastic' && opts.target === 'docker') usageError(command, 'lamp-elastic runs on --target local or netns (its load reaches only loopback and its namespaces)')
      if (opts.wait === false) usageError(command, `simulate waits at every step: --wait=DURATION sets how long one step may wait (default ${formatDuration(DEFAULT_STEP_WAIT_MS)})`)
      const begin = Date.now()
      let report: SimulationReport
      /** A last line under the table (lamp-elastic's figures). */
      let summary: string | undefined
      try {
        const agentEntry = defaultAgentCommand().at(-1) ?? ''
        if (!existsSync(agentEntry)) throw new SimulationCheckError(`the agent is not built (${agentEntry} is missing): run npm run build (npm install runs it)`)
        const common = {
          amqpUrl: opts.amqp,
          stepWaitMs: resolveWaitMs(opts, DEFAULT_STEP_WAIT_MS, true),
          keepData: opts.keep === true,
          onStep: opts.json === true ? undefined : (s: SimulationStep) => { process.stderr.write(`${s.ok ? 'ok  ' : 'FAIL'}  ${s.name} (${s.durationMs} ms)\n`) }
        }
        if (scenario === 'shared-db') {
          const { runSharedDbSimulation } = await import('./simulate-shared-db.js')
          report = await runSharedDbSimulation({ ...common, real: opts.real === true, broker: rabbitmqctlBroker(opts.rabbitmqNode) })
        } else if (scenario === 'lamp-elastic') {
          const { runLampElasticSimulation, describeFigures } = await import('./simulate-elastic.js')
          const settings = Object.fromEntries(Object.entries(elasticOptions).filter(([, v]) => v !== undefined))
          const elastic = await runLampElasticSimulation({ ...common, target: opts.target === 'netns' ? 'netns' : 'local', settings })
          report = elastic
          summary = describeFigures(elastic.elastic)
        } else {
          report = await runLampSimulation({ ...common, target: opts.target, broker: rabbitmqctlBroker(opts.rabbitmqNode) })
        }
      } catch (err) {
        // whatever stops the story before its first step is still reported as a step: --json stays one document
        const startedAt = new Date(begin).toISOString()
        const durationMs = Date.now() - begin
        report = { ok: false, startedAt, durationMs, steps: [{ name: 'prepare the simulation', ok: false, startedAt, durationMs, detail: errorMessage(err) }] }
      }
      if (opts.json === true) await printDocument({ json: true }, report)
      else {
        printTable(report)
        if (summary !== undefined) console.log(summary)
      }
      process.exitCode = report.ok ? 0 : 1
    })
}
