// `meshconf simulate lamp [--target local|netns|docker] [--amqp URL [--rabbitmq-node NODE]] [--json]`: the seed's LAMP
// story, run for real against a DM of its own (in a temp data folder) and agent processes: deploy and start all,
// requests through Apache answered by Tomcat with data from MySQL, a second Tomcat VM added (its start fails on
// purpose first: its port is taken; the DM shows the recipe's stderr; the port freed, the start is retried), then
// removed (Apache never restarted), the DM (and RabbitMQ) stopped, the Tomcat machine's agent and services killed -9
// and its agent started again (Apache goes UNRESOLVED, then serves again, with no DM), the DM started again (it shows
// the true states).
// With --target docker every machine is a container from the agent image, and the second Tomcat VM leaves as a
// crashed VM does: `docker kill` (Apache drops it within the mesh's crash detection; the DM then sees it silent).
// Prints a table of the steps, or with --json exactly one `{ ok, startedAt, durationMs, steps: [{ name, ok,
// startedAt, durationMs, detail? }] }` in the CLI's JSON convention (also when it cannot even start: then one failed
// step says why and how to fix it); exit 0 only when every step passed. `--wait=DURATION` bounds each step's wait.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { LIVENESS_ABORT_MS, LIVENESS_GRACE_MS, LIVENESS_PING_INTERVAL_MS, LIVENESS_PING_TIMEOUT_MS, PROBE_INDIRECT_TIMEOUT_MS } from '../../agent/index.js'
import { createDmClient, type DmClient, type DmEventStream, type InstanceNode } from '../client.js'
import { DATA_IP_ADDRESS, DATA_MACHINE_ID, MACHINES_FOLDER } from '../constants.js'
import type { AutonomyOptions } from '../autonomy/index.js'
import { createDockerEngine } from '../docker/engine.js'
import { buildAgentImage } from '../docker/image.js'
import { privateDockerNetwork, type DockerTargetHandler } from '../targets/docker.js'
import { machineFolder } from '../targets/local.js'
import { defaultAgentCommand, machineFiles, spawnAgent } from '../targets/process.js'
import { startDmService, type DmService } from './dm.js'
import { findInstance, flattenInstances } from './output.js'
import { freePort } from '../../common/net.js'
import { errorMessage } from '../../protocol/errors.js'
import {
  DEFAULT_STEP_WAIT_MS, SimulationCheckError, allStarted, defaultLampTemplate, fileLogger, makeDataDirectory, poll, rabbitmqctlBroker,
  startedAfter, statusIs, stepRunner, type BrokerControl, type SimulationReport, type SimulationStep, type SimulationTarget
} from './simulation-steps.js'
import {
  agentNamespace, agentStatus, copyLogs, endRun, isRunning, killMachine, safeReaddir, serviceLogTails, servicePids
} from './simulation-machines.js'

/** Timeout of one HTTP request to Apache, in milliseconds. */
const REQUEST_TIMEOUT_MS = 5_000

/** How long the services of a terminated machine may take to exit, in milliseconds (they check every second). */
const SERVICE_EXIT_MS = 10_000

/** Requests in a row that must show the expected Tomcats. */
const REQUESTS_PER_CHECK = 4

/** The value the MySQL instance of the template serves (its deploy.sh). */
export const MYSQL_VALUE = 'Hello from /MySQL VM/MySQL'

export const TOMCAT_1 = '/Tomcat VM 1/Tomcat'

const TOMCAT_2 = '/Tomcat VM 2/Tomcat'

export const APACHE = '/Apache VM/Apache'

/**
 * Silence after which the DM takes a machine for dead in the docker story, in milliseconds: shorter than the DM's
 * default (30 s), so that the killed container's PROBLEM shows within a step.
 */
const DOCKER_MACHINE_SILENCE_MS = 10_000

export interface LampSimulationOptions {
  /**
   * Target of the machines: `local` (agent processes), `netns` (network namespaces, root) or `docker` (containers
   * from the agent image, built when missing; a Docker Engine on /var/run/docker.sock); default `local`.
   */
  target?: SimulationTarget
  /** RabbitMQ URL; default none: the DM's embedded WebSocket endpoint. With it, RabbitMQ is stopped with the DM
   * (`rabbitmqctl stop_app`) and started again before the DM. */
  amqpUrl?: string
  /** How RabbitMQ is stopped and started again (with amqpUrl); default `rabbitmqctl stop_app` / `start_app` on
   * rabbitmqctl's default node (rabbitmqctlBroker()). */
  broker?: BrokerControl
  /** Command starting an agent; default `node dist/agent/main.bundle.cached.js` (defaultAgentCommand). */
  agentCommand?: string[]
  /** The template folder; default `simulations/lamp` of this package. */
  templateDirectory?: string
  /** How long one step may wait, in milliseconds; default DEFAULT_STEP_WAIT_MS. */
  stepWaitMs?: number
  /** Keep the data folder (DM database and log, the machines' logs under logs/) instead of deleting it; default false. */
  keepData?: boolean
  /** The DM's elasticity options (VM limit, scale-down window...); default the DM's defaults. */
  autonomy?: AutonomyOptions
  /** The application's probe period, in milliseconds; default the DM's. */
  probePeriodMs?: number
  /**
   * Another story after the first requests through Apache, instead of the LAMP one (`simulate lamp-elastic`): the
   * DM, the application, the deployment and the clean-up stay this one's.
   */
  story?: (context: LampStoryContext) => Promise<void>
  /** Called after each step (progress). */
  onStep?: (step: SimulationStep) => void
}

/** What another story (LampSimulationOptions.story) gets once LAMP is deployed and serves. */
export interface LampStoryContext {
  /** Runs one step, unless an earlier one failed. */
  step: (name: string, action: () => Promise<string | undefined>) => Promise<void>
  dmClient: () => DmClient
  application: string
  target: SimulationTarget
  /** How long one step may wait, in milliseconds. */
  stepWaitMs: number
  /** Polls the DM's tree until `check` returns undefined (all good); fails with its last complaint. */
  waitForTree: (what: string, check: (nodes: InstanceNode[]) => string | undefined) => Promise<InstanceNode[]>
  /** Apache's URL (loopback, or its netns address). */
  apacheUrl: string
  /** Apache's /server-status before the story: its pid and start time must not change. */
  firstApache: ApacheStatus
  /** Subnet (first three bytes) of the netns machines, with --target netns. */
  netnsSubnet: string
  /** The last `lines` lines of each service's log (Apache, the Tomcats, MySQL): for a failed step's detail. */
  serviceLogTails: (lines: number) => string
}

export interface ApacheStatus { pid?: number, startedAt?: string, reloads?: number, members?: string[] }

export interface Reply { status: number, body: { name?: string, value?: string } & ApacheStatus }

export async function runLampSimulation (options: LampSimulationOptions = {}): Promise<SimulationReport> {
  const target = options.target ?? 'local'
  const broker = options.broker ?? rabbitmqctlBroker()
  const stepWaitMs = options.stepWaitMs ?? DEFAULT_STEP_WAIT_MS
  const runBegin = Date.now()
  const agentCommand = options.agentCommand ?? defaultAgentCommand()
  const dataDirectory = makeDataDirectory()
  const machinesDirectory = join(dataDirectory, MACHINES_FOLDER, target)
  const dmLog = createWriteStream(join(dataDirectory, 'dm.log'), { flags: 'a' })
  const log = fileLogger(dmLog)
  const application = `lamp-sim-${randomBytes(3).toString('hex')}`
  // a private /24 of its own for netns machines, away from the default one other runs may use
  const netnsSubnet = `10.214.${randomBytes(1)[0]}`
  const steps: SimulationStep[] = []
  let agentsPort = 0
  /** The docker story's network of its own, and its handler (kept for the clean-up once the DM is gone). */
  let dockerNetwork: { network: string, subnet: string } | undefined
  let dockerImage: string | undefined
  let dockerTarget: DockerTargetHandler | undefined
  let dm: DmService | undefined
  let client: DmClient | undefined
  let events: DmEventStream | undefined
  let brokerStopped = false
  /** What holds Tomcat VM 2's port during the failure on purpose (released by the next step, or at the end). */
  let portTaker: PortTaker | undefined
  /** When each instance last reached DEPLOYED_STARTED (DM events), ISO time by path. */
  const startedAt = new Map<string, string>()

  const step = stepRunner(steps, options.onStep)
  /** The steps of agent processes (the docker story ends with its own: a container killed from outside). */
  const noStep: typeof step = async () => {}
  const processStep: typeof step = target === 'docker' || options.story !== undefined ? noStep : step
  const dockerStep: typeof step = target === 'docker' && options.story === undefined ? step : noStep
  /** The container the docker story kills. */
  let crashed: { containerId: string } | undefined

  const startDm = async (): Promise<void> => {
    // a RabbitMQ domain of its own: DMs of one domain share the queue of agents' notifications
    dm = await startDmService({
      dataDirectory, port: 0, agentsPort, target, amqpUrl: options.amqpUrl, amqpDomain: application, agentCommand, log, netnsSubnet, autonomy: options.autonomy,
      dockerImage, dockerNetwork: dockerNetwork?.network, dockerSubnet: dockerNetwork?.subnet,
      machineSilenceMs: target === 'docker' ? DOCKER_MACHINE_SILENCE_MS : undefined
    })
    dockerTarget ??= dm.targets.find(t => t.id === 'docker') as DockerTargetHandler | undefined
    client = createDmClient({ url: dm.url, token: dm.token })
    events = await client.openEvents({ application })
    events.on('event', event => {
      if (event.type === 'instance' && event.status === 'DEPLOYED_STARTED') startedAt.set(event.path, event.at)
    })
    events.on('error', err => { log.warn(`simulate: events: ${errorMessage(err)}`) })
  }
  const stopDm = async (): Promise<void> => {
    events?.close()
    await dm?.stop()
    dm = undefined
  }
  const dmClient = (): DmClient => {
    if (client === undefined || dm === undefined) throw new SimulationCheckError('the DM is not running')
    return client
  }
  const tree = async (): Promise<InstanceNode[]> => await dmClient().getInstances(application)
  /** Polls the DM's tree until `check` returns undefined (all good); fails with its last complaint. */
  const waitForTree = async (what: string, check: (nodes: InstanceNode[]) => string | undefined): Promise<InstanceNode[]> =>
    await poll(what, stepWaitMs, async () => {
      const nodes = await tree()
      const complaint = check(nodes)
      if (complaint !== undefined) throw new SimulationCheckError(complaint)
      return nodes
    })
  /** The first instance whose status on the DM differs from its agent's own (persisted) one. */
  const disagreement = (nodes: InstanceNode[]): string | undefined => {
    for (const root of nodes) {
      const folder = machineFolder(machinesDirectory, root.data[DATA_MACHINE_ID] ?? '')
      for (const node of flattenInstances(root.children)) {
        const own = agentStatus(folder, node.path)
        if (own !== node.status) return `${node.path} is ${node.status} on the DM, ${own ?? 'unknown'} on its agent`
      }
    }
    return undefined
  }
  let apacheUrl = ''
  /** Polls until Apache balances over exactly these Tomcats and they answer in turn; their names, as answered. */
  const balancedOver = async (what: string, tomcats: string[]): Promise<string[]> => await poll(what, stepWaitMs, async () => {
    await membersAre(apacheUrl, tomcats.length)
    return await servedBy(apacheUrl, tomcats)
  })
  let apacheMachine = ''
  let tomcatMachine = ''
  let firstApache: Reply['body'] | undefined

  try {
    if (target === 'docker') {
      await step('build the agent image (reused when its inputs did not change)', async () => {
        const image = await buildAgentImage({})
        // by its id: another build may move the tag meanwhile
        dockerImage = image.imageId
        dockerNetwork = await privateDockerNetwork('sim')
        return `${image.tag} ${image.imageId.slice(7, 19)}, ${(image.sizeBytes / 1e6).toFixed(1)} MB${image.cached ? ' (already built)' : ''}; network ${dockerNetwork.network} ${dockerNetwork.subnet}`
      })
    }
    await step('start the DM', async () => {
      agentsPort = await freePort()
      await startDm()
      return `REST ${dm?.url}, agents via ${options.amqpUrl !== undefined ? 'RabbitMQ' : `the embedded endpoint (port ${agentsPort})`}, target ${target}, data in ${dataDirectory}`
    })
    await step('load the LAMP template and create the application', async () => {
      const loaded = await dmClient().loadTemplateFromPath(options.templateDirectory ?? defaultLampTemplate())
      await dmClient().createApplication({
        name: application, template: { name: loaded.name, version: loaded.version },
        ...(options.probePeriodMs !== undefined ? { probePeriodMs: options.probePeriodMs } : {})
      })
      return `${loaded.name} ${loaded.version} -> application ${application}`
    })
    await step('deploy and start all', async () => {
      const begin = Date.now()
      await dmClient().runAction(application, { action: 'deploy-and-start-all' })
      const nodes = await waitForTree('every instance DEPLOYED_STARTED', allStarted)
      // the DM serves overridden exports (its generated ports among them); the client's type does not declare them
      const apache = findInstance(nodes, APACHE) as (InstanceNode & { overriddenExports?: Record<string, string> }) | undefined
      const apacheRoot = findInstance(nodes, '/Apache VM')
      const port = apache?.overriddenExports?.['Apache.port'] ?? apache?.overriddenExports?.port
      const ip = apacheRoot?.data?.[DATA_IP_ADDRESS]
      if (port === undefined || ip === undefined) throw new SimulationCheckError(`Apache's address is unknown (ip ${ip}, port ${port})`)
      apacheUrl = `http://${ip}:${port}`
      apacheMachine = apacheRoot?.data?.[DATA_MACHINE_ID] ?? ''
      tomcatMachine = findInstance(nodes, '/Tomcat VM 1')?.data?.[DATA_MACHINE_ID] ?? ''
      return flattenInstances(nodes).map(n => `${n.path} +${startedAfter(startedAt.get(n.path), begin)}`).join(', ')
    })
    await step('requests through Apache, answered by Tomcat with data from MySQL', async () => {
      const names = await poll('Tomcat VM 1 behind Apache', stepWaitMs, async () => await servedBy(apacheUrl, [TOMCAT_1]))
      firstApache = (await get(`${apacheUrl}/server-status`)).body
      return `${names.join(', ')}: "${MYSQL_VALUE}"; Apache pid ${firstApache.pid}`
    })
    if (options.story !== undefined && firstApache !== undefined && steps.every(s => s.ok)) {
      await options.story({
        step, dmClient, application, target, stepWaitMs, waitForTree, apacheUrl, firstApache, netnsSubnet,
        serviceLogTails: lines => serviceLogTails(join(dataDirectory, MACHINES_FOLDER), lines)
      })
    }
    // a recipe fails on purpose (local and netns): Tomcat VM 2's port is taken before its start, so the start
    // recipe fails; the DM shows the failure with the recipe's stderr; the port is freed and the start retried
    await processStep('add Tomcat VM 2 with its port taken: its start fails, the DM shows the recipe\'s stderr', async () => {
      await dmClient().replicateInstance(application, '/Tomcat VM 1', 'Tomcat VM 2')
      await dmClient().changeInstanceState(application, '/Tomcat VM 2', 'DEPLOYED_STARTED')
      await waitForTree('the machine Tomcat VM 2 up', nodes => statusIs(nodes, '/Tomcat VM 2', 'DEPLOYED_STARTED'))
      await dmClient().changeInstanceState(application, TOMCAT_2, 'DEPLOYED_STOPPED')
      const nodes = await waitForTree('Tomcat VM 2 DEPLOYED_STOPPED', nodes => statusIs(nodes, TOMCAT_2, 'DEPLOYED_STOPPED'))
      const ip = findInstance(nodes, '/Tomcat VM 2')?.data?.[DATA_IP_ADDRESS]
      const port = findInstance(nodes, TOMCAT_2)?.overriddenExports?.['Tomcat.port']
      const machine = findInstance(nodes, '/Tomcat VM 2')?.data?.[DATA_MACHINE_ID] ?? ''
      if (ip === undefined || port === undefined) throw new SimulationCheckError(`Tomcat VM 2's address is unknown (ip ${ip}, port ${port})`)
      const namespace = target === 'netns' ? await agentNamespace(machineFolder(machinesDirectory, machine)) : undefined
      portTaker = await takePort(ip, Number(port), namespace)
      await dmClient().changeInstanceState(application, TOMCAT_2, 'DEPLOYED_STARTED')
      const failed = await waitForTree('Tomcat VM 2\'s start failed', nodes => {
        const tomcat = findInstance(nodes, TOMCAT_2)
        // back where the start began (Roboconf's rule): DEPLOYED_STOPPED, or UNRESOLVED when the start waited for its
        // imports and ran once they came
        if (tomcat?.problem?.step === 'start' && (tomcat.status === 'DEPLOYED_STOPPED' || tomcat.status === 'UNRESOLVED')) return undefined
        return `${TOMCAT_2} is ${tomcat?.status ?? 'missing'}, ${tomcat?.problem !== undefined ? `problem at ${tomcat.problem.step}` : 'no problem reported'}`
      })
      const problem = findInstance(failed, TOMCAT_2)?.problem
      const cause = (problem?.stderr ?? '').split('\n').find(line => line.includes('EADDRINUSE'))
      if (problem === undefined || cause === undefined) {
        throw new SimulationCheckError(`the problem does not say the port is taken: ${JSON.stringify(problem)}`)
      }
      const how = problem.exitCode !== undefined ? `exit code ${problem.exitCode}` : `signal ${problem.signal ?? '?'}`
      return `${TOMCAT_2} start failed (${problem.plugin ?? '?'}, ${how}, after ${problem.durationMs ?? '?'} ms); stderr: ${cause.trim()}`
    })
    await processStep('free the port and start Tomcat VM 2 again: both Tomcats answer in turn', async () => {
      await portTaker?.release()
      portTaker = undefined
      // an UNRESOLVED instance ignores a start request (Roboconf's table): stopped first, as an operator would
      await dmClient().changeInstanceState(application, TOMCAT_2, 'DEPLOYED_STOPPED')
      await waitForTree('Tomcat VM 2 DEPLOYED_STOPPED', nodes => statusIs(nodes, TOMCAT_2, 'DEPLOYED_STOPPED'))
      await dmClient().changeInstanceState(application, TOMCAT_2, 'DEPLOYED_STARTED')
      await waitForTree('Tomcat VM 2 DEPLOYED_STARTED', nodes => statusIs(nodes, TOMCAT_2, 'DEPLOYED_STARTED'))
      const names = await balancedOver('both Tomcats behind Apache', [TOMCAT_1, TOMCAT_2])
      return names.join(', ')
    })
    await dockerStep('add Tomcat VM 2: both Tomcats answer in turn', async () => {
      await dmClient().replicateInstance(application, '/Tomcat VM 1', 'Tomcat VM 2')
      await dmClient().runAction(application, { action: 'deploy-and-start-all', path: '/Tomcat VM 2' })
      await waitForTree('Tomcat VM 2 DEPLOYED_STARTED', nodes => statusIs(nodes, TOMCAT_2, 'DEPLOYED_STARTED'))
      const names = await balancedOver('both Tomcats behind Apache', [TOMCAT_1, TOMCAT_2])
      return names.join(', ')
    })
    await dockerStep('docker kill Tomcat VM 2\'s container (a crashed VM): Apache drops it within the crash detection', async () => {
      const machineId = findInstance(await tree(), '/Tomcat VM 2')?.data?.[DATA_MACHINE_ID]
      const machine = (await dockerTarget?.machines())?.find(m => m.machineId === machineId)
      if (machine === undefined) throw new SimulationCheckError(`no container for Tomcat VM 2 (machine ${machineId ?? 'unknown'})`)
      crashed = machine
      const killedAt = Date.now()
      await createDockerEngine().request(`killing ${machine.containerId}`, async d => await d.getContainer(machine.containerId).kill({ signal: 'SIGKILL' }))
      const names = await balancedOver('only Tomcat VM 1 behind Apache', [TOMCAT_1])
      const droppedMs = Date.now() - killedAt
      // an idle importer declares an owner lost after a ping interval, a ping timeout, the helpers' wait (ping-reqs)
      // and the grace, at most; a busy host stretches the timeout by its own lag, never beyond the abort time
      const detectionMs = LIVENESS_PING_INTERVAL_MS + LIVENESS_PING_TIMEOUT_MS + PROBE_INDIRECT_TIMEOUT_MS + LIVENESS_GRACE_MS
      if (droppedMs > LIVENESS_ABORT_MS + detectionMs) {
        throw new SimulationCheckError(`Apache dropped Tomcat VM 2 ${droppedMs} ms after the kill, beyond the crash detection (${detectionMs} ms, stretched at most to ${LIVENESS_ABORT_MS + detectionMs} ms)`)
      }
      const now = (await get(`${apacheUrl}/server-status`)).body
      if (now.pid !== firstApache?.pid || now.startedAt !== firstApache?.startedAt) {
        throw new SimulationCheckError(`Apache restarted: pid ${firstApache?.pid} started ${firstApache?.startedAt}, now pid ${now.pid} started ${now.startedAt}`)
      }
      return `dropped ${droppedMs} ms after the kill (crash detection ${detectionMs} ms: ping every ${LIVENESS_PING_INTERVAL_MS} ms, ` +
        `timeout ${LIVENESS_PING_TIMEOUT_MS} ms, helpers ${PROBE_INDIRECT_TIMEOUT_MS} ms, grace ${LIVENESS_GRACE_MS} ms); ${names.join(', ')}; Apache pid ${now.pid} never restarted`
    })
    await dockerStep('the DM sees Tomcat VM 2 silent (PROBLEM); undeployed, its dead container is removed', async () => {
      await waitForTree('Tomcat VM 2 PROBLEM', nodes => statusIs(nodes, '/Tomcat VM 2', 'PROBLEM'))
      await dmClient().changeInstanceState(application, '/Tomcat VM 2', 'NOT_DEPLOYED')
      await waitForTree('Tomcat VM 2 NOT_DEPLOYED', nodes => statusIs(nodes, '/Tomcat VM 2', 'NOT_DEPLOYED'))
      await dmClient().deleteInstance(application, '/Tomcat VM 2')
      const machines = await dockerTarget?.machines() ?? []
      const left = machines.find(m => m.containerId === crashed?.containerId)
      if (left !== undefined) throw new SimulationCheckError(`the container of Tomcat VM 2 is still there (${left.state})`)
      return `containers left: ${machines.map(m => `${m.scopedInstancePath} ${m.address ?? '?'} ${m.state}`).join(', ')}`
    })
    await processStep('remove Tomcat VM 2: only Tomcat VM 1 answers, Apache never restarted', async () => {
      await dmClient().changeInstanceState(application, TOMCAT_2, 'NOT_DEPLOYED')
      await waitForTree('Tomcat VM 2\'s Tomcat NOT_DEPLOYED', nodes => statusIs(nodes, TOMCAT_2, 'NOT_DEPLOYED'))
      await dmClient().changeInstanceState(application, '/Tomcat VM 2', 'NOT_DEPLOYED')
      await waitForTree('Tomcat VM 2 NOT_DEPLOYED', nodes => statusIs(nodes, '/Tomcat VM 2', 'NOT_DEPLOYED'))
      await dmClient().deleteInstance(application, '/Tomcat VM 2')
      // Apache skips a member that refuses connections: wait for its update to drop the member, not only for answers
      const names = await balancedOver('only Tomcat VM 1 behind Apache', [TOMCAT_1])
      const now = (await get(`${apacheUrl}/server-status`)).body
      if (now.pid !== firstApache?.pid || now.startedAt !== firstApache?.startedAt) {
        throw new SimulationCheckError(`Apache restarted: pid ${firstApache?.pid} started ${firstApache?.startedAt}, now pid ${now.pid} started ${now.startedAt}`)
      }
      return `${names.join(', ')}; Apache pid ${now.pid} since ${now.startedAt}, ${now.reloads} graceful reloads`
    })
    await processStep(`stop the DM${options.amqpUrl !== undefined ? ' and RabbitMQ' : ''}`, async () => {
      await stopDm()
      if (options.amqpUrl === undefined) return undefined
      await broker.stop()
      brokerStopped = true
      return 'RabbitMQ stopped'
    })
    let killedAgent: { argv: string[], namespace?: string } = { argv: [] }
    await processStep('kill -9 Tomcat VM 1\'s agent and its services', async () => {
      const folder = machineFolder(machinesDirectory, tomcatMachine)
      const killed = await killMachine(folder, target)
      killedAgent = killed
      return `agent pid ${killed.pid}, services ${killed.services.join(' ') || 'none'}`
    })
    await processStep('without the DM: Apache goes UNRESOLVED', async () => {
      await poll('Apache UNRESOLVED in its agent\'s state', stepWaitMs, async () => {
        const status = agentStatus(machineFolder(machinesDirectory, apacheMachine), APACHE)
        if (status !== 'UNRESOLVED') throw new SimulationCheckError(`Apache is ${status ?? 'unknown'} in its agent's state`)
        return status
      })
      return 'seen in the Apache machine\'s agent state'
    })
    await processStep('start Tomcat VM 1\'s agent again: Apache started, requests flow, no DM', async () => {
      const folder = machineFolder(machinesDirectory, tomcatMachine)
      const files = machineFiles(folder)
      const command = killedAgent.namespace !== undefined ? ['ip', 'netns', 'exec', killedAgent.namespace, ...killedAgent.argv] : killedAgent.argv
      const record = await spawnAgent(command, files.params, files)
      const names = await poll('Tomcat VM 1 behind Apache again', stepWaitMs, async () => {
        const status = agentStatus(machineFolder(machinesDirectory, apacheMachine), APACHE)
        if (status !== 'DEPLOYED_STARTED') throw new SimulationCheckError(`Apache is ${status ?? 'unknown'} in its agent's state`)
        return await servedBy(apacheUrl, [TOMCAT_1])
      })
      return `agent pid ${record.pid}; ${names.join(', ')}`
    })
    await processStep('start the DM again: it shows the true states', async () => {
      if (brokerStopped) {
        await broker.start()
        brokerStopped = false
      }
      await startDm()
      // true states: what each machine's agent holds, every instance started, the removed machine gone
      const nodes = await waitForTree('the agents\' states, every instance DEPLOYED_STARTED, no Tomcat VM 2', nodes =>
        findInstance(nodes, '/Tomcat VM 2') !== undefined ? 'Tomcat VM 2 is still listed' : disagreement(nodes) ?? allStarted(nodes))
      return flattenInstances(nodes).map(n => `${n.path} ${n.status}`).join(', ')
    })
  } finally {
    await portTaker?.release()
    // the machine folders go with the machines: keep their logs first
    if (options.keepData === true) copyLogs(join(dataDirectory, MACHINES_FOLDER), join(dataDirectory, 'logs'))
    await step('clean up', async () => {
      if (brokerStopped) await broker.start()
      if (dm === undefined) await startDm()
      // a terminated machine takes its services along: they exit once their instance folder is gone
      const services = safeReaddir(machinesDirectory).flatMap(m => servicePids(join(machinesDirectory, m)))
      await dmClient().runAction(application, { action: 'undeploy-all' })
      await waitForTree('every machine NOT_DEPLOYED', nodes =>
        nodes.map(n => statusIs([n], n.path, 'NOT_DEPLOYED')).find(c => c !== undefined))
      await poll('the services of the terminated machines gone', SERVICE_EXIT_MS, async () => {
        const left = services.filter(isRunning)
        if (left.length > 0) throw new SimulationCheckError(`services still running: ${left.join(' ')}`)
      })
      await dmClient().deleteApplication(application)
      await stopDm()
      return options.keepData === true ? `data kept in ${dataDirectory}` : undefined
    }, true)
    // whatever the DM could not do: no agent, container or service outlives the simulation
    await stopDm().catch(() => {})
    for (const machine of await dockerTarget?.machines().catch(() => []) ?? []) await dockerTarget?.terminate(machine.machineId).catch(() => {})
    await endRun(dataDirectory, dmLog, options.keepData === true)
  }
  return { ok: steps.every(s => s.ok), startedAt: new Date(runBegin).toISOString(), durationMs: Date.now() - runBegin, steps }
}

export async function get (url: string): Promise<Reply> {
  const reply = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return { status: reply.status, body: await reply.json() as Reply['body'] }
}

/**
 * Sends REQUESTS_PER_CHECK requests through Apache: each must be answered by one of `expected` with MySQL's
 * value, every expected Tomcat must answer, and with several, never the same one twice in a row (round robin).
 */
async function servedBy (apacheUrl: string, expected: string[]): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < REQUESTS_PER_CHECK; i++) {
    const { status, body } = await get(`${apacheUrl}/`)
    if (status !== 200 || body.value !== MYSQL_VALUE || body.name === undefined || !expected.includes(body.name)) {
      throw new SimulationCheckError(`request ${i + 1}: HTTP ${status} ${JSON.stringify(body)}, expected one of ${expected.join(', ')} with "${MYSQL_VALUE}"`)
    }
    names.push(body.name)
  }
  const missing = expected.filter(e => !names.includes(e))
  if (missing.length > 0) throw new SimulationCheckError(`${missing.join(', ')} did not answer (answers: ${names.join(', ')})`)
  if (expected.length > 1 && names.some((n, i) => i > 0 && names[i - 1] === n)) {
    throw new SimulationCheckError(`not in turn: ${names.join(', ')}`)
  }
  return names
}

/** Checks how many balancer members Apache has (its /server-status lists them). */
export async function membersAre (apacheUrl: string, count: number): Promise<void> {
  const { body } = await get(`${apacheUrl}/server-status`)
  const members = body.members ?? []
  if (members.length !== count) throw new SimulationCheckError(`Apache balances over ${members.length} member(s) (${members.join(', ')}), expected ${count}`)
}

/** A process holding a TCP port, so that a service started on it fails; released, the port is free again. */
interface PortTaker { release: () => Promise<void> }

/** Listens on ip:port in a process of its own (in `namespace`, when given) until released. */
async function takePort (ip: string, port: number, namespace?: string): Promise<PortTaker> {
  const script = 'const s = require("node:net").createServer(); s.listen(Number(process.argv[2]), process.argv[1], () => console.log("listening"))'
  const argv = [process.execPath, '-e', script, ip, String(port)]
  const command = namespace !== undefined ? ['ip', 'netns', 'exec', namespace, ...argv] : argv
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  let output = ''
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const listening = await new Promise<boolean>(resolve => {
    child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('listening')) resolve(true) })
    void exited.then(() => resolve(false))
  })
  const release = async (): Promise<void> => {
    child.kill('SIGKILL')
    await exited
  }
  if (!listening) {
    await release()
    throw new SimulationCheckError(`cannot take port ${ip}:${port}${namespace !== undefined ? ` in ${namespace}` : ''}: ${output.trim()}`)
  }
  return { release }
}
