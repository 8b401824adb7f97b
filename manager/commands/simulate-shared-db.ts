// `meshconf simulate shared-db [--real] [--amqp URL] [--json]` (issue 21): one database application exporting its
// database to the others (simulations/shared-db/database, or database-real: the host's MariaDB), two web applications
// importing it, one of them bound. The bound one starts and serves the database's value; the unbound one stays
// UNRESOLVED until it is bound, then starts; the database's machine is replaced (undeployed, deployed anew) and both
// web applications follow it peer to peer with the DM stopped; the DM started again shows the true states. Agent
// processes of the local target, a DM of its own in a temporary folder; the report and exit codes are `simulate
// lamp`'s.
import { randomBytes } from 'node:crypto'
import { cpSync, createWriteStream, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDmClient, type DmClient, type InstanceNode } from '../client.js'
import { DATA_IP_ADDRESS, DATA_MACHINE_ID, MACHINES_FOLDER } from '../constants.js'
import { machineFolder } from '../targets/local.js'
import { defaultAgentCommand } from '../targets/process.js'
import { startDmService, type DmService } from './dm.js'
import { findInstance, flattenInstances } from './output.js'
import {
  DEFAULT_STEP_WAIT_MS, SimulationCheckError, allStarted, defaultLampTemplate, fileLogger, makeDataDirectory, poll,
  simulationFolder, statusIs, stepRunner, type BrokerControl, type SimulationReport, type SimulationStep
} from './simulation-steps.js'
import { agentStatus, copyLogs, endRun } from './simulation-machines.js'
import { get } from './simulate-lamp.js'
import { freePort } from '../../common/net.js'

export interface SharedDbSimulationOptions {
  /** The host's MariaDB (127.0.0.1:3306, root over TCP without a password) instead of the stand-in; default false. */
  real?: boolean
  /** RabbitMQ URL; default none: the DM's embedded endpoint. With it, RabbitMQ is stopped with the DM and started again. */
  amqpUrl?: string
  broker?: BrokerControl
  /** Command starting an agent; default `node dist/agent/main.bundle.cached.js` (defaultAgentCommand). */
  agentCommand?: string[]
  /** How long one step may wait, in milliseconds; default DEFAULT_STEP_WAIT_MS. */
  stepWaitMs?: number
  /** Keep the data folder (DM database and log, the machines' logs under logs/); default false. */
  keepData?: boolean
  onStep?: (step: SimulationStep) => void
}

/** The folder of simulations/shared-db (sources and dist/ sit at different depths). */
export function sharedDbTemplates (): string {
  return simulationFolder('shared-db', join('web', 'descriptor', 'application.properties'))
}

/**
 * Components of the shared-db templates whose recipes are the LAMP simulation's (simulations/lamp/graph/<component>):
 * a template holds only the recipe files it changes, the others are LAMP's, filled in when it is staged.
 */
export const RECIPES_FROM_LAMP: Readonly<Record<string, readonly string[]>> = { database: ['MySQL'], web: ['Tomcat'] }

/**
 * Copies the shared-db template `name` into `into`, with the recipe files it does not hold itself taken from the LAMP
 * simulation's components of the same name (RECIPES_FROM_LAMP); returns the staged folder, to load.
 */
export function stageSharedDbTemplate (name: string, into: string): string {
  const staged = join(into, name)
  cpSync(join(sharedDbTemplates(), name), staged, { recursive: true })
  const lamp = join(defaultLampTemplate(), 'graph')
  for (const component of RECIPES_FROM_LAMP[name] ?? []) {
    const from = join(lamp, component)
    if (!existsSync(from)) throw new SimulationCheckError(`the LAMP simulation's recipes of ${component} are missing (${from}): the shared-db ${name} template needs them`)
    // the template's own files stay: only what it lacks comes from LAMP
    cpSync(from, join(staged, 'graph', component), { recursive: true, force: false, errorOnExist: false })
  }
  return staged
}

/** How long the database's start waits for its gate at most, in seconds (then it starts anyway). */
const DATABASE_GATE_WAIT_S = 60

/**
 * Makes the staged database's start wait until the file `gate` exists (LAMP's start runs then). The story stops the DM
 * between the new database machine's deploy and its start: without the gate, a database that starts faster than the
 * DM stops would be followed before the DM is down, and "the DM stopped during the follow" would not be shown.
 */
function gateDatabaseStart (staged: string, component: string, gate: string): void {
  const scripts = join(staged, 'graph', component, 'scripts')
  renameSync(join(scripts, 'start.sh'), join(scripts, 'start-after-gate.sh'))
  writeFileSync(join(scripts, 'start.sh'), [
    '#!/usr/bin/env bash',
    '# The shared-db simulation holds the database\'s start until it opens the gate (its DM stopped first).',
    `for _ in $(seq 1 ${DATABASE_GATE_WAIT_S * 10}); do [ -e ${JSON.stringify(gate)} ] && break; sleep 0.1; done`,
    'exec bash "$(dirname "${BASH_SOURCE[0]}")/start-after-gate.sh" "$@"',
    ''
  ].join('\n'), { mode: 0o755 })
}

const PREFIX = 'Db'
const DB_MACHINE = '/DB VM'
const WEB_MACHINE = '/Web VM'
const WEB = '/Web VM/Tomcat'

export async function runSharedDbSimulation (options: SharedDbSimulationOptions = {}): Promise<SimulationReport> {
  const stepWaitMs = options.stepWaitMs ?? DEFAULT_STEP_WAIT_MS
  const runBegin = Date.now()
  const agentCommand = options.agentCommand ?? defaultAgentCommand()
  const dataDirectory = makeDataDirectory()
  const machinesDirectory = join(dataDirectory, MACHINES_FOLDER, 'local')
  const dmLog = createWriteStream(join(dataDirectory, 'dm.log'), { flags: 'a' })
  const log = fileLogger(dmLog)
  const suffix = randomBytes(3).toString('hex')
  const database = `shared-db-${suffix}`
  const bound = `shop-a-${suffix}`
  const unbound = `shop-b-${suffix}`
  const dbComponent = options.real === true ? 'MariaDB' : 'MySQL'
  const dbInstance = `${DB_MACHINE}/${dbComponent}`
  const steps: SimulationStep[] = []
  let agentsPort = 0
  let dm: DmService | undefined
  let client: DmClient | undefined
  let brokerStopped = false

  const step = stepRunner(steps, options.onStep)
  const startDm = async (): Promise<void> => {
    dm = await startDmService({ dataDirectory, port: 0, agentsPort, target: 'local', amqpUrl: options.amqpUrl, amqpDomain: database, agentCommand, log })
    client = createDmClient({ url: dm.url, token: dm.token })
  }
  const stopDm = async (): Promise<void> => {
    await dm?.stop()
    dm = undefined
  }
  const dmClient = (): DmClient => {
    if (client === undefined || dm === undefined) throw new SimulationCheckError('the DM is not running')
    return client
  }
  const waitForTree = async (application: string, what: string, check: (nodes: InstanceNode[]) => string | undefined): Promise<InstanceNode[]> =>
    await poll(`${application}: ${what}`, stepWaitMs, async () => {
      const nodes = await dmClient().getInstances(application)
      const complaint = check(nodes)
      if (complaint !== undefined) throw new SimulationCheckError(complaint)
      return nodes
    })
  /** Where a web application's Tomcat answers (its machine's ip, its generated port), read once started. */
  const webUrls = new Map<string, string>()
  const webMachines = new Map<string, string>()
  const rememberWeb = (application: string, nodes: InstanceNode[]): void => {
    const tomcat = findInstance(nodes, WEB) as (InstanceNode & { overriddenExports?: Record<string, string> }) | undefined
    const machine = findInstance(nodes, WEB_MACHINE)
    const port = tomcat?.overriddenExports?.['Tomcat.port'] ?? tomcat?.overriddenExports?.port
    const ip = machine?.data?.[DATA_IP_ADDRESS]
    if (port === undefined || ip === undefined) throw new SimulationCheckError(`${application}'s Tomcat address is unknown (ip ${ip}, port ${port})`)
    webUrls.set(application, `http://${ip}:${port}`)
    webMachines.set(application, machine?.data?.[DATA_MACHINE_ID] ?? '')
  }
  /** The value a web application's Tomcat serves, read from the database it imports. */
  const served = async (application: string): Promise<string> => {
    const reply = await get(`${webUrls.get(application) ?? ''}/`)
    if (reply.status !== 200 || reply.body.value === undefined) throw new SimulationCheckError(`${application} answered ${reply.status} ${JSON.stringify(reply.body)}`)
    return reply.body.value
  }
  const webStatusOnAgent = (application: string): string | undefined => agentStatus(machineFolder(machinesDirectory, webMachines.get(application) ?? ''), WEB)
  let dbAddress = ''
  const databaseGate = join(dataDirectory, 'database-start-gate')
  writeFileSync(databaseGate, '')

  try {
    await step('start the DM', async () => {
      agentsPort = await freePort()
      await startDm()
      return `REST ${dm?.url}, agents via ${options.amqpUrl !== undefined ? 'RabbitMQ' : `the embedded endpoint (port ${agentsPort})`}, data in ${dataDirectory}`
    })
    await step(`load the templates; create ${database} (exports ${PREFIX}), ${bound} and ${unbound} (import external ${PREFIX}); bind ${bound} to ${database}`, async () => {
      const templates = join(dataDirectory, 'templates')
      const stagedDb = stageSharedDbTemplate(options.real === true ? 'database-real' : 'database', templates)
      gateDatabaseStart(stagedDb, dbComponent, databaseGate)
      const db = await dmClient().loadTemplateFromPath(stagedDb)
      const web = await dmClient().loadTemplateFromPath(stageSharedDbTemplate('web', templates))
      await dmClient().createApplication({ name: database, template: { name: db.name, version: db.version } })
      for (const name of [bound, unbound]) await dmClient().createApplication({ name, template: { name: web.name, version: web.version } })
      const view = await dmClient().bind(bound, PREFIX, database)
      return `${db.name} ${db.version}, ${web.name} ${web.version}; ${bound} imports ${PREFIX} from ${view.prefixes[PREFIX]?.filter(a => a.bound).map(a => a.application).join(', ')}`
    })
    await step('deploy and start all three: the bound web application serves the database\'s value, the unbound one stays UNRESOLVED', async () => {
      for (const application of [database, bound, unbound]) await dmClient().runAction(application, { action: 'deploy-and-start-all' })
      const dbNodes = await waitForTree(database, 'every instance DEPLOYED_STARTED', allStarted)
      dbAddress = `${findInstance(dbNodes, DB_MACHINE)?.data?.[DATA_IP_ADDRESS] ?? '?'}`
      rememberWeb(bound, await waitForTree(bound, 'every instance DEPLOYED_STARTED', allStarted))
      rememberWeb(unbound, await waitForTree(unbound, `${WEB} UNRESOLVED`, nodes => statusIs(nodes, WEB_MACHINE, 'DEPLOYED_STARTED') ?? statusIs(nodes, WEB, 'UNRESOLVED')))
      const value = await poll(`${bound} serving`, stepWaitMs, async () => await served(bound))
      const describe = await dmClient().describeInstance(unbound, WEB)
      return `${bound}: "${value}"; ${unbound}'s Tomcat UNRESOLVED, waits for ${describe.imports?.missing?.join(', ') ?? PREFIX}`
    })
    await step(`bind ${unbound}: its Tomcat starts and serves the same value`, async () => {
      await dmClient().bind(unbound, PREFIX, database)
      await waitForTree(unbound, `${WEB} DEPLOYED_STARTED`, nodes => statusIs(nodes, WEB, 'DEPLOYED_STARTED'))
      const value = await poll(`${unbound} serving`, stepWaitMs, async () => await served(unbound))
      return `${unbound}: "${value}"`
    })
    await step('undeploy the database\'s machine: both web applications lose their mandatory import (UNRESOLVED)', async () => {
      await dmClient().changeInstanceState(database, DB_MACHINE, 'NOT_DEPLOYED')
      await waitForTree(database, `${DB_MACHINE} NOT_DEPLOYED`, nodes => statusIs(nodes, DB_MACHINE, 'NOT_DEPLOYED'))
      for (const application of [bound, unbound]) await waitForTree(application, `${WEB} UNRESOLVED`, nodes => statusIs(nodes, WEB, 'UNRESOLVED'))
      return `${bound} and ${unbound}: ${WEB} UNRESOLVED`
    })
    let stoppedWhile = ''
    await step(`deploy the database on a new machine, then stop the DM${options.amqpUrl !== undefined ? ' and RabbitMQ' : ''} before the web applications follow`, async () => {
      rmSync(databaseGate, { force: true })
      await dmClient().runAction(database, { action: 'deploy-and-start-all' })
      const nodes = await waitForTree(database, `the new ${DB_MACHINE} up`, nodes => statusIs(nodes, DB_MACHINE, 'DEPLOYED_STARTED'))
      const machine = machineFolder(machinesDirectory, findInstance(nodes, DB_MACHINE)?.data?.[DATA_MACHINE_ID] ?? '')
      // the new agent has the database's commands (its own state says so): the rest happens without the DM
      await poll(`${dbInstance} deploying on its new agent`, stepWaitMs, async () => {
        const own = agentStatus(machine, dbInstance)
        if (own === undefined || own === 'NOT_DEPLOYED') throw new SimulationCheckError(`${dbInstance} is ${own ?? 'unknown'} on its new agent`)
      })
      await stopDm()
      if (options.amqpUrl !== undefined) {
        await options.broker?.stop()
        brokerStopped = options.broker !== undefined
      }
      stoppedWhile = [bound, unbound].map(a => `${a} ${webStatusOnAgent(a) ?? 'unknown'}`).join(', ')
      writeFileSync(databaseGate, '')
      return `new machine ${findInstance(nodes, DB_MACHINE)?.data?.[DATA_MACHINE_ID] ?? '?'}; when the DM stopped: ${stoppedWhile}`
    })
    await step('without the DM, both web applications follow the new database: started, serving its value', async () => {
      const values: string[] = []
      for (const application of [bound, unbound]) {
        values.push(await poll(`${application} started again in its agent's state, serving`, stepWaitMs, async () => {
          const own = webStatusOnAgent(application)
          if (own !== 'DEPLOYED_STARTED') throw new SimulationCheckError(`${WEB} of ${application} is ${own ?? 'unknown'} in its agent's state`)
          return `${application}: "${await served(application)}"`
        }))
      }
      return `${values.join('; ')} (UNRESOLVED ones when the DM stopped: ${stoppedWhile.split(', ').filter(s => s.endsWith('UNRESOLVED')).length} of 2)`
    })
    await step('start the DM again: it shows the true states', async () => {
      if (brokerStopped) {
        await options.broker?.start()
        brokerStopped = false
      }
      await startDm()
      const lines: string[] = []
      for (const application of [database, bound, unbound]) {
        const nodes = await waitForTree(application, 'every instance DEPLOYED_STARTED', allStarted)
        lines.push(flattenInstances(nodes).map(n => `${n.path} ${n.status}`).join(', '))
      }
      return `database was at ${dbAddress}; ${lines.join('; ')}`
    })
  } finally {
    if (options.keepData === true) copyLogs(join(dataDirectory, MACHINES_FOLDER), join(dataDirectory, 'logs'))
    await step('clean up', async () => {
      if (brokerStopped) await options.broker?.start()
      if (dm === undefined) await startDm()
      for (const application of [bound, unbound, database]) {
        const exists = (await dmClient().listApplications()).some(a => a.name === application)
        if (!exists) continue
        await dmClient().runAction(application, { action: 'undeploy-all' })
        await waitForTree(application, 'every machine NOT_DEPLOYED', nodes => nodes.map(n => statusIs([n], n.path, 'NOT_DEPLOYED')).find(c => c !== undefined))
        await dmClient().deleteApplication(application)
      }
      await stopDm()
      return options.keepData === true ? `data kept in ${dataDirectory}` : undefined
    }, true)
    await stopDm().catch(() => {})
    await endRun(dataDirectory, dmLog, options.keepData === true)
  }
  return { ok: steps.every(s => s.ok), startedAt: new Date(runBegin).toISOString(), durationMs: Date.now() - runBegin, steps }
}
