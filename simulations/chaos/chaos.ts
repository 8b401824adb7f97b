// `npm run chaos`: randomized fault trials on the LAMP application (two Tomcats), deployed by a real DM (its own
// process) on a private RabbitMQ node, one agent process per machine (network namespaces when root). Each trial
// injects one fault — kill an agent (-9, with its services), kill the DM (-9), restart the broker, cut a machine's
// links, restart an agent process (-9, services kept) — waits for the detection bound, then checks the invariant (invariant.ts) on what the live
// agents hold, repairs the fault and checks again once the application has recovered. Once recovered, hostile actors
// act: a rogue agent with one machine's credential speaks for another (rogue-agent.ts), and a rogue mesh peer with the
// pnet key but no ownership forges Apache's Tomcat imports (rogue-peer.ts); the DM and Apache must refuse and count
// every attempt, and the invariant must still hold.
// Usage: node dist/simulations/chaos/chaos.js [--trials N] [--seed S] [--json] [--keep-data]
import '../../agent/polyfill.js'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { INSTANCES_FOLDER, STATE_FILE_NAME } from '../../protocol/agent-layout.js'
import { createDmClient, type DmClient, type InstanceNode } from '../../manager/client.js'
import { DATA_MACHINE_ID, MACHINES_FOLDER } from '../../manager/constants.js'
import { defaultLampTemplate } from '../../manager/commands/simulation-steps.js'
import { flattenInstances } from '../../manager/commands/output.js'
import { machineFolder } from '../../manager/targets/local.js'
import { isAgentAlive, machineFiles, readAgentRecord, spawnAgent, stopAgent } from '../../manager/targets/process.js'
import { createPrivateBroker, type PrivateBroker } from '../../fixtures/broker.js'
import { seededRandom } from '../../fixtures/random.js'
import { checkInvariant, type Violation } from './invariant.js'
import { REFUSED_COMMAND_LOG, rejectedFromMetrics, rogueAgentAttempts, rogueCommandAttempts, runRogueAgent } from './rogue-agent.js'
import { readAgentParams } from '../../protocol/agent-params.js'
import { roguePeerForgeries, runRoguePeer, totalRejections } from './rogue-peer.js'
import { requestAgentView } from '../../manager/commands/agent.js'
import { readAgentState, snapshotFromAgents } from './snapshot.js'
import {
  CONSISTENCY_DEADLINE_MS, DEFAULT_TRIALS, DETECTION_BOUND_MS, DM_START_TIMEOUT_MS, POLL_INTERVAL_MS, RECOVERY_TIMEOUT_MS, ROGUE_REFUSAL_TIMEOUT_MS
} from './constants.js'
import { freePort } from '../../common/net.js'
import { errorMessage } from '../../protocol/errors.js'

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))

const APACHE = '/Apache VM/Apache'
const FAULTS = ['kill-agent', 'kill-dm', 'restart-broker', 'cut-links', 'restart-agent'] as const
export type FaultKind = typeof FAULTS[number]

/** Bad command-line input. */
export class ChaosUsageError extends Error {
  constructor (detail: string) {
    super(`${detail}\nusage: npm run chaos -- [--trials N] [--seed S] [--json] [--keep-data]`)
    this.name = 'ChaosUsageError'
  }
}

/** The application did not reach the awaited state in time (setup or recovery). */
export class ChaosTimeoutError extends Error {
  constructor (what: string, detail: string) {
    super(`${what}: not reached in time (${detail})`)
    this.name = 'ChaosTimeoutError'
  }
}

export interface TrialResult {
  trial: number
  fault: FaultKind
  /** The machine hit, for faults on one machine. */
  machine?: string
  passed: boolean
  /** What happened, with ms since the fault; the violations when the invariant did not hold. */
  trace: string[]
  /** The rogue agent's attempts after recovery: sent, refused by the broker, refused and counted by the DM. */
  rogueAgent?: RogueTally
  /** The rogue peer's forgeries after recovery: sent, refused and counted by the importer, by reason. */
  roguePeer?: RoguePeerTally
}

export interface RoguePeerTally { attempts: number, refused: number, reasons: Record<string, number> }

/** The rogue agent's attempts: refused by the broker, by the DM (counted), or (forged commands) by the victim's agent (logged). */
export interface RogueTally { attempts: number, refusedByBroker: number, refusedByDm: number, refusedByVictim: number }

export interface ChaosReport {
  seed: number
  target: string
  trials: TrialResult[]
  passed: number
  failed: number
  /** Over every trial: the rogues' attempts and how many were refused (an attempt that got through fails its trial). */
  rogues: { agent: RogueTally, peer: RoguePeerTally }
}


const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The DM as a child process (dm-process.js) that can be killed -9 and started again on the same data and port. */
class DmProcess {
  private child: ChildProcess | undefined
  client: DmClient | undefined
  /** The REST URL and token of the running DM (its /metrics is read with them). */
  rest: { url: string, token: string } | undefined
  private stderr = ''
  /** `logFile`: where the DM's warnings and errors are appended. */
  constructor (private readonly options: Record<string, unknown>, private readonly logFile: string) {}

  async start (): Promise<DmClient> {
    const child = this.child = spawn(process.execPath, [join(here, 'dm-process.js'), JSON.stringify(this.options)], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
      appendFileSync(this.logFile, chunk)
    })
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new ChaosTimeoutError('the DM listening', this.stderr.trim())) }, DM_START_TIMEOUT_MS)
      let out = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('\n')) { clearTimeout(timer); resolve(out.split('\n')[0]) }
      })
      child.once('exit', code => { clearTimeout(timer); reject(new ChaosTimeoutError('the DM listening', `it exited with ${code}: ${this.stderr.trim()}`)) })
    })
    const { url, token } = JSON.parse(line) as { url: string, token: string }
    this.client = createDmClient({ url, token })
    this.rest = { url, token }
    return this.client
  }

  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    this.client = undefined
    this.rest = undefined
  }

  /** Agent messages the running DM refused since it started (its /metrics). */
  async rejected (): Promise<number> {
    if (this.rest === undefined) throw new Error('the DM is not running')
    const response = await fetch(`${this.rest.url}/metrics`, { headers: { authorization: `Bearer ${this.rest.token}` } })
    if (!response.ok) throw new Error(`GET ${this.rest.url}/metrics: ${response.status}`)
    return rejectedFromMetrics(await response.text())
  }

  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
    this.client = undefined
  }
}

interface Machine { name: string, folder: string }

/** Pids of the services (run/*.pid) a machine's recipes started. */
function servicePids (folder: string): number[] {
  const instances = join(machineFiles(folder).state, INSTANCES_FOLDER)
  const pids: number[] = []
  for (const instance of existsSync(instances) ? readdirSync(instances) : []) {
    const runDir = join(instances, instance, 'run')
    for (const file of existsSync(runDir) ? readdirSync(runDir).filter(f => f.endsWith('.pid')) : []) {
      const pid = Number(readFileSync(join(runDir, file), 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0) pids.push(pid)
    }
  }
  return pids
}

/** The network namespace of a machine's agent, or undefined on the local target. */
async function namespaceOf (pid: number): Promise<string | undefined> {
  const { stdout } = await run('ip', ['netns', 'identify', String(pid)]).catch(() => ({ stdout: '' }))
  return stdout.trim() === '' ? undefined : stdout.trim()
}

/** Every interface of a namespace but loopback: cutting them cuts the machine off from everyone. */
async function namespaceLinks (namespace: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', namespace, '-o', 'link', 'show'])
  return stdout.split('\n').map(l => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined && n !== 'lo')
}

async function setLinks (namespace: string, state: 'up' | 'down'): Promise<void> {
  for (const link of await namespaceLinks(namespace)) await run('ip', ['-n', namespace, 'link', 'set', link, state])
}

export interface ChaosOptions {
  trials: number
  seed: number
  /** Keep the data folders (DM database, machines' agent logs and states) for a look afterwards; default false. */
  keepData?: boolean
  log: (line: string) => void
}

export async function runChaos (options: ChaosOptions): Promise<ChaosReport> {
  const root = process.getuid?.() === 0
  const target = root ? 'netns' : 'local'
  const faults = FAULTS.filter(f => root || f !== 'cut-links')
  const next = seededRandom(options.seed)
  const dataDirectory = await mkdtemp(join(tmpdir(), 'meshconf-chaos-'))
  const application = `lamp-chaos-${randomBytes(3).toString('hex')}`
  const machinesDirectory = join(dataDirectory, MACHINES_FOLDER, target)
  let broker: PrivateBroker | undefined
  let brokerDirectory: string | undefined
  let dm: DmProcess | undefined
  const trials: TrialResult[] = []
  /** Machines cut off right now (excluded from the live set). */
  const cut = new Set<string>()
  let machines: Machine[] = []

  const client = (): DmClient => {
    if (dm?.client === undefined) throw new Error('the DM is not running')
    return dm.client
  }
  const agentAlive = (m: Machine): boolean => {
    const record = readAgentRecord(machineFiles(m.folder).pid)
    return record !== undefined && isAgentAlive(record)
  }
  const liveStateDirs = (): string[] => machines.filter(m => agentAlive(m) && !cut.has(m.name)).map(m => machineFiles(m.folder).state)
  const violations = (): Violation[] => checkInvariant(snapshotFromAgents(liveStateDirs(), APACHE))
  /** Every instance of every machine DEPLOYED_STARTED in its agent's own state. */
  const notStarted = (): string[] => machines.flatMap(m => {
    const state = readAgentState(machineFiles(m.folder).state)
    if (state === undefined || !agentAlive(m)) return [`${m.name}: no running agent with a state`]
    const pending: string[] = []
    const visit = (i: typeof state.model.instance): void => {
      if (i.status !== 'DEPLOYED_STARTED') pending.push(`${i.path} ${i.status}`)
      i.children.forEach(visit)
    }
    visit(state.model.instance)
    return pending
  })
  const waitFor = async (what: string, timeoutMs: number, check: () => string[]): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    let last: string[] = []
    while (Date.now() < deadline) {
      last = check()
      if (last.length === 0) return
      await sleep(POLL_INTERVAL_MS)
    }
    throw new ChaosTimeoutError(what, last.join('; '))
  }

  /**
   * A rogue agent with the credential of one machine (drawn at random) speaks for another: every attempt must be
   * refused by the broker or refused and counted by the DM, and the victim must stay started.
   */
  const rogueAgentActs = async (note: (line: string) => void): Promise<RogueTally> => {
    const holder = machines[Math.floor(next() * machines.length)]
    const others = machines.filter(m => m !== holder)
    const victim = others[Math.floor(next() * others.length)]
    const params = readAgentParams(machineFiles(holder.folder).params)
    if (params.messaging.kind !== 'amqp') throw new Error(`${holder.name}'s endpoint is ${params.messaging.kind}, not amqp`)
    const victimState = readAgentState(machineFiles(victim.folder).state)
    const instancePath = victimState?.model.instance.children[0]?.path ?? victim.name
    const stolen = { application, scopedInstancePath: holder.name, endpoint: params.messaging }
    const attempts = rogueAgentAttempts(stolen, { scopedInstancePath: victim.name, instancePath })
    const commands = rogueCommandAttempts({ scopedInstancePath: victim.name, instancePath })
    const dmProcess = dm as DmProcess
    const before = await dmProcess.rejected()
    const victimLog = machineFiles(victim.folder).log
    const refusedCommands = (): number => { try { return [...readFileSync(victimLog, 'utf8').matchAll(REFUSED_COMMAND_LOG)].length } catch { return 0 } }
    const commandsBefore = refusedCommands()
    const taken = await runRogueAgent(broker?.url ?? '', application, stolen, attempts)
    const commandsTaken = await runRogueAgent(broker?.url ?? '', application, stolen, commands)
    const deadline = Date.now() + ROGUE_REFUSAL_TIMEOUT_MS
    let refused = await dmProcess.rejected() - before
    let refusedByVictim = refusedCommands() - commandsBefore
    while ((refused < taken || refusedByVictim < commandsTaken) && Date.now() < deadline) {
      await sleep(POLL_INTERVAL_MS)
      refused = await dmProcess.rejected() - before
      refusedByVictim = refusedCommands() - commandsBefore
    }
    const tally = {
      attempts: attempts.length + commands.length,
      refusedByBroker: attempts.length - taken + commands.length - commandsTaken,
      refusedByDm: Math.min(refused, taken),
      refusedByVictim: Math.min(refusedByVictim, commandsTaken)
    }
    const notRefused = refused < taken || refusedByVictim < commandsTaken
    note(`rogue agent with ${holder.name}'s credential spoke for ${victim.name}: ${tally.attempts} attempts, ${tally.refusedByBroker} refused by the broker, ${tally.refusedByDm} refused and counted by the DM, ${tally.refusedByVictim} forged commands refused by ${victim.name}'s agent${notRefused ? ' — NOT ALL REFUSED' : ''}`)
    // A machineDown or instanceRemoved taken by the DM would terminate or remove the victim's instances for good; the
    // application may still be settling from the fault (an import flapping), so it gets the recovery time to be started.
    await waitFor(`every instance started after the rogue agent (${victim.name} unharmed)`, RECOVERY_TIMEOUT_MS, notStarted)
    return tally
  }

  /**
   * A rogue mesh peer with the pnet key and another peer's ownership (both from a machine's saved state, drawn at
   * random) forges Apache's imports of a Tomcat: Apache must refuse and count every forgery, and keep its Tomcats.
   */
  const roguePeerActs = async (note: (line: string) => void): Promise<RoguePeerTally> => {
    const apache = machines.find(m => m.name === dirname(APACHE))
    if (apache === undefined) throw new Error(`no machine ${dirname(APACHE)}`)
    const others = machines.filter(m => m !== apache)
    const holder = others[Math.floor(next() * others.length)]
    const tomcats = machines.filter(m => m.name.startsWith('/Tomcat VM'))
    const victim = tomcats[Math.floor(next() * tomcats.length)]
    const holderState = readAgentState(machineFiles(holder.folder).state)
    const victimInstance = readAgentState(machineFiles(victim.folder).state)?.model.instance.children[0]?.path
    if (holderState === undefined || victimInstance === undefined) throw new Error(`no saved state of ${holder.name} or no instance on ${victim.name}`)
    const importerState = machineFiles(apache.folder).state
    const view = async (): Promise<NonNullable<Awaited<ReturnType<typeof requestAgentView>>['mesh']>> => {
      const mesh = (await requestAgentView(importerState)).mesh
      if (mesh === null) throw new Error(`${apache.name}'s agent has no mesh`)
      return mesh
    }
    // A restarted Apache runs on the imports of its saved state until the owners announce again: the rogue waits until
    // Apache holds the victim from the mesh, so that its withdraw hits a held export.
    let before = await view()
    const holdUntil = Date.now() + CONSISTENCY_DEADLINE_MS
    while (!before.held.some(h => h.instancePath === victimInstance) && Date.now() < holdUntil) {
      await sleep(POLL_INTERVAL_MS)
      before = await view()
    }
    if (!before.held.some(h => h.instancePath === victimInstance)) note(`${apache.name} does not hold ${victimInstance} from the mesh yet`)
    // From the host, an agent in a namespace is reached on its namespace's address, not on loopback.
    const reachable = before.addresses.filter(a => !a.startsWith('/ip4/127.'))
    const target = { application, peerId: before.peerId, addresses: reachable.length > 0 ? reachable : before.addresses }
    let attempts = 0
    let after = before
    await runRoguePeer(holderState.mesh.pnetKey, target,
      roguePeerId => roguePeerForgeries({ application, roguePeerId, stolenOwnership: holderState.mesh.ownership }, victim.name, victimInstance, 1_000_000),
      async sent => {
        attempts = sent
        const deadline = Date.now() + ROGUE_REFUSAL_TIMEOUT_MS
        while (totalRejections(after.rejections) - totalRejections(before.rejections) < sent && Date.now() < deadline) {
          await sleep(POLL_INTERVAL_MS)
          after = await view()
        }
      })
    const reasons: Record<string, number> = {}
    for (const [reason, count] of Object.entries(after.rejections)) {
      const delta = (count ?? 0) - (before.rejections[reason as keyof typeof before.rejections] ?? 0)
      if (delta > 0) reasons[reason] = delta
    }
    const refused = Math.min(attempts, totalRejections(reasons))
    note(`rogue peer with the pnet key and ${holder.name}'s ownership forged ${victimInstance} to ${apache.name}: ${attempts} forgeries, ${refused} refused and counted (${Object.entries(reasons).map(([r, n]) => `${r} ${n}`).join(', ')})${refused < attempts ? ' — NOT ALL REFUSED' : ''}`)
    const forged = after.held.filter(h => Object.values(h.variables).includes('192.0.2.66'))
    if (forged.length > 0) throw new Error(`${apache.name} holds a forged export: ${forged.map(h => h.instancePath).join(', ')}`)
    return { attempts, refused, reasons }
  }

  try {
    // A folder of its own: the broker runs as the rabbitmq user, who cannot enter the DM's data folder (mode 0700).
    brokerDirectory = await mkdtemp(join(tmpdir(), 'meshconf-chaos-broker-'))
    broker = await createPrivateBroker({ directory: brokerDirectory, listenAddress: root ? '0.0.0.0' : '127.0.0.1' })
    options.log(`starting a private RabbitMQ node on port ${broker.port}`)
    await broker.start()
    dm = new DmProcess({
      dataDirectory, port: await freePort(), amqpUrl: broker.url, amqpDomain: application, target,
      // A subnet of its own, so that a concurrent `meshconf simulate --target netns` never shares the bridge.
      netnsSubnet: `10.214.${process.pid % 250}`, machineSilenceMs: 10_000
    }, join(dataDirectory, 'dm.log'))
    await dm.start()
    const loaded = await client().loadTemplateFromPath(defaultLampTemplate())
    await client().createApplication({ name: application, template: { name: loaded.name, version: loaded.version } })
    await client().replicateInstance(application, '/Tomcat VM 1', 'Tomcat VM 2')
    options.log(`deploying ${application} on the ${target} target, one machine after the other`)
    // One machine after the other, each started before the next: every agent then gets every earlier one as a
    // bootstrap peer. (Machines started at once were seen to leave Apache without the second Tomcat for good: see
    // the report of issue 7.)
    for (const root of ['/MySQL VM', '/Tomcat VM 1', '/Tomcat VM 2', '/Apache VM']) {
      await client().runAction(application, { action: 'deploy-and-start-all', path: root })
      const deadline = Date.now() + RECOVERY_TIMEOUT_MS
      for (;;) {
        const nodes: InstanceNode[] = await client().getInstances(application)
        machines = nodes.filter(n => n.data?.[DATA_MACHINE_ID] !== undefined)
          .map(n => ({ name: n.path, folder: machineFolder(machinesDirectory, n.data[DATA_MACHINE_ID]) }))
        const pending = flattenInstances(nodes.filter(n => n.path === root)).filter(n => n.status !== 'DEPLOYED_STARTED')
        if (pending.length === 0) break
        if (Date.now() > deadline) throw new ChaosTimeoutError(`${root} deployed and started`, pending.map(n => `${n.path} ${n.status}`).join(', '))
        await sleep(POLL_INTERVAL_MS)
      }
    }
    await waitFor('the LAMP application consistent', RECOVERY_TIMEOUT_MS, () => violations().map(v => v.message))
    options.log(`deployed: ${machines.map(m => m.name).join(', ')}; ${options.trials} trials, seed ${options.seed}`)

    for (let trial = 1; trial <= options.trials; trial++) {
      const fault = faults[Math.floor(next() * faults.length)]
      const machine = machines[Math.floor(next() * machines.length)]
      const t0 = Date.now()
      const trace: string[] = []
      const note = (line: string): void => { trace.push(`+${Date.now() - t0} ms ${line}`) }
      let passed = true
      let rogueAgent: RogueTally | undefined
      let roguePeer: RoguePeerTally | undefined
      /** Checks the invariant until it holds or the consistency deadline passes; records the outcome. */
      const check = async (when: string): Promise<void> => {
        const until = Date.now() + CONSISTENCY_DEADLINE_MS
        let found = violations()
        while (found.length > 0 && Date.now() < until) {
          await sleep(POLL_INTERVAL_MS)
          found = violations()
        }
        if (found.length === 0) {
          note(`invariant holds ${when}`)
        } else {
          passed = false
          note(`invariant BROKEN ${when}:`)
          for (const v of found) trace.push(`    ${v.rule}: ${v.message}`)
        }
      }
      try {
        const record = readAgentRecord(machineFiles(machine.folder).pid)
        switch (fault) {
          case 'kill-agent':
          case 'restart-agent': {
            if (record === undefined || !isAgentAlive(record)) throw new Error(`${machine.name} has no running agent`)
            const argv = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0').filter(a => a !== '')
            const command = argv.slice(0, Math.max(0, argv.lastIndexOf('--params')))
            const namespace = await namespaceOf(record.pid)
            if (fault === 'kill-agent') {
              // A machine crash: the agent, its running recipes (its process group) and its services, all at once.
              for (const pid of [-record.pid, record.pid, ...servicePids(machine.folder)]) {
                try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
              }
              note(`killed -9 the agent of ${machine.name} (pid ${record.pid}) and its services`)
              await sleep(DETECTION_BOUND_MS)
              await check('with the machine down')
            } else {
              // The agent process alone dies and comes back; its services keep running. (A graceful stop is not a
              // restart: the agent then reports its machine down, and the DM terminates the machine.)
              try { process.kill(record.pid, 'SIGKILL') } catch { /* already gone */ }
              while (isAgentAlive(record)) await sleep(POLL_INTERVAL_MS / 10)
              note(`killed -9 the agent process of ${machine.name} (pid ${record.pid}); its services keep running`)
            }
            const files = machineFiles(machine.folder)
            const restartedAt = Date.now()
            const restarted = await spawnAgent(namespace !== undefined ? ['ip', 'netns', 'exec', namespace, ...command] : command, files.params, files)
            note(`started the agent of ${machine.name} again (pid ${restarted.pid})`)
            // Until the restarted agent saves its state, the file shows the states from before the kill.
            const stateFile = join(files.state, STATE_FILE_NAME)
            await waitFor(`${machine.name}'s restarted agent saving its state`, RECOVERY_TIMEOUT_MS,
              () => existsSync(stateFile) && statSync(stateFile).mtimeMs >= restartedAt ? [] : [`${stateFile} not rewritten yet`])
            break
          }
          case 'kill-dm':
            await dm.kill()
            note('killed -9 the DM')
            await sleep(DETECTION_BOUND_MS)
            await check('without the DM')
            await dm.start()
            note('started the DM again')
            break
          case 'restart-broker':
            await broker.restart()
            note('restarted the RabbitMQ node')
            break
          case 'cut-links': {
            const namespace = record === undefined ? undefined : await namespaceOf(record.pid)
            if (namespace === undefined) throw new Error(`${machine.name}'s agent is not in a network namespace`)
            await setLinks(namespace, 'down')
            cut.add(machine.name)
            note(`cut ${machine.name} off (links of ${namespace} down)`)
            await sleep(DETECTION_BOUND_MS)
            await check('with the machine cut off')
            await setLinks(namespace, 'up')
            cut.delete(machine.name)
            note(`healed ${machine.name}'s links`)
            break
          }
        }
        await waitFor('every instance started again', RECOVERY_TIMEOUT_MS, notStarted)
        note('every instance DEPLOYED_STARTED again')
        rogueAgent = await rogueAgentActs(note)
        if (rogueAgent.refusedByBroker + rogueAgent.refusedByDm + rogueAgent.refusedByVictim < rogueAgent.attempts) passed = false
        roguePeer = await roguePeerActs(note)
        if (roguePeer.refused < roguePeer.attempts) passed = false
        await check('after recovery and the rogues')
      } catch (err) {
        passed = false
        note(`trial aborted: ${errorMessage(err)}`)
      }
      trials.push({ trial, fault, ...(fault === 'kill-dm' || fault === 'restart-broker' ? {} : { machine: machine.name }), passed, trace, ...(rogueAgent !== undefined ? { rogueAgent } : {}), ...(roguePeer !== undefined ? { roguePeer } : {}) })
      options.log(`trial ${trial}/${options.trials} ${fault}${fault === 'kill-dm' || fault === 'restart-broker' ? '' : ` ${machine.name}`}: ${passed ? 'passed' : 'FAILED'} (${Date.now() - t0} ms)`)
    }
  } finally {
    for (const name of cut) {
      const m = machines.find(x => x.name === name)
      const record = m === undefined ? undefined : readAgentRecord(machineFiles(m.folder).pid)
      const namespace = record === undefined ? undefined : await namespaceOf(record.pid)
      if (namespace !== undefined) await setLinks(namespace, 'up').catch(() => {})
    }
    if (options.keepData === true) {
      // Terminating a machine deletes its folder: keep the agents' logs first.
      for (const m of machines) {
        const logs = join(dataDirectory, 'logs', m.name.replace(/\W/g, '_'))
        mkdirSync(logs, { recursive: true })
        try { copyFileSync(machineFiles(m.folder).log, join(logs, 'agent.log')) } catch { /* no log yet */ }
      }
    }
    // Undeploy through the DM (it terminates machines: agents, services, namespaces); whatever remains is killed.
    try {
      if (dm !== undefined && dm.client === undefined) await dm.start()
      await client().runAction(application, { action: 'undeploy-all' })
      const until = Date.now() + RECOVERY_TIMEOUT_MS
      while (Date.now() < until) {
        const nodes = await client().getInstances(application)
        if (nodes.every(n => n.status === 'NOT_DEPLOYED')) break
        await sleep(POLL_INTERVAL_MS)
      }
      await client().deleteApplication(application)
    } catch (err) {
      options.log(`cleanup through the DM failed: ${errorMessage(err)}; killing what is left`)
    }
    await dm?.stop().catch(() => {})
    for (const m of machines) {
      const record = readAgentRecord(machineFiles(m.folder).pid)
      if (record !== undefined) await stopAgent(record).catch(() => {})
      for (const pid of existsSync(m.folder) ? servicePids(m.folder) : []) {
        try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
      }
    }
    await broker?.stop().catch(() => {})
    if (options.keepData === true) {
      options.log(`data kept in ${dataDirectory} (dm.log, logs/<machine>/agent.log) and ${brokerDirectory}`)
    } else {
      await rm(dataDirectory, { recursive: true, force: true })
      if (brokerDirectory !== undefined) await rm(brokerDirectory, { recursive: true, force: true })
    }
  }
  const passedCount = trials.filter(t => t.passed).length
  const agent = { attempts: 0, refusedByBroker: 0, refusedByDm: 0, refusedByVictim: 0 }
  for (const t of trials) {
    agent.attempts += t.rogueAgent?.attempts ?? 0
    agent.refusedByBroker += t.rogueAgent?.refusedByBroker ?? 0
    agent.refusedByDm += t.rogueAgent?.refusedByDm ?? 0
    agent.refusedByVictim += t.rogueAgent?.refusedByVictim ?? 0
  }
  const peer: RoguePeerTally = { attempts: 0, refused: 0, reasons: {} }
  for (const t of trials) {
    peer.attempts += t.roguePeer?.attempts ?? 0
    peer.refused += t.roguePeer?.refused ?? 0
    for (const [reason, n] of Object.entries(t.roguePeer?.reasons ?? {})) peer.reasons[reason] = (peer.reasons[reason] ?? 0) + n
  }
  return { seed: options.seed, target, trials, passed: passedCount, failed: trials.length - passedCount, rogues: { agent, peer } }
}

export function parseChaosArgs (argv: string[]): { trials: number, seed: number, json: boolean, keepData: boolean } {
  let values: { trials?: string, seed?: string, json?: boolean, 'keep-data'?: boolean }
  try {
    values = parseArgs({ args: argv, options: { trials: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' }, 'keep-data': { type: 'boolean' } }, strict: true }).values
  } catch (err) {
    throw new ChaosUsageError(errorMessage(err))
  }
  const trials = values.trials === undefined ? DEFAULT_TRIALS : Number(values.trials)
  if (!Number.isInteger(trials) || trials < 1) throw new ChaosUsageError(`--trials ${values.trials}: expected a whole number >= 1`)
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
  if (!Number.isInteger(seed)) throw new ChaosUsageError(`--seed ${values.seed}: expected a whole number`)
  return { trials, seed, json: values.json === true, keepData: values['keep-data'] === true }
}

/** Trials passed and failed, then the trace of every failed trial. */
export function formatChaosReport (report: ChaosReport): string {
  const lines = [`chaos on LAMP (${report.target} target, seed ${report.seed}): ${report.passed}/${report.trials.length} trials passed, ${report.failed} failed`]
  const agent = report.rogues.agent
  lines.push(`rogue agent (another machine's credential): ${agent.attempts} attempts, ${agent.refusedByBroker} refused by the broker, ${agent.refusedByDm} refused and counted by the DM, ${agent.refusedByVictim} forged commands refused by the victim's agent, ${agent.attempts - agent.refusedByBroker - agent.refusedByDm - agent.refusedByVictim} not refused`)
  const peer = report.rogues.peer
  lines.push(`rogue peer (pnet key, no ownership): ${peer.attempts} forgeries, ${peer.refused} refused and counted by the importer (${Object.entries(peer.reasons).map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}), ${peer.attempts - peer.refused} not refused`)
  for (const t of report.trials) lines.push(`  trial ${t.trial}: ${t.fault}${t.machine !== undefined ? ` ${t.machine}` : ''} ${t.passed ? 'passed' : 'FAILED'}`)
  for (const t of report.trials.filter(t => !t.passed)) {
    lines.push('', `trace of trial ${t.trial} (${t.fault}${t.machine !== undefined ? ` ${t.machine}` : ''}):`, ...t.trace.map(l => `  ${l}`))
  }
  return lines.join('\n')
}

async function main (): Promise<number> {
  let args: ReturnType<typeof parseChaosArgs>
  try {
    args = parseChaosArgs(process.argv.slice(2))
  } catch (err) {
    console.error(errorMessage(err))
    return 2
  }
  try {
    const report = await runChaos({ trials: args.trials, seed: args.seed, keepData: args.keepData, log: line => { process.stderr.write(`[chaos] ${line}\n`) } })
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatChaosReport(report)}\n`)
    return report.failed === 0 && report.trials.length === args.trials ? 0 : 1
  } catch (err) {
    console.error(`chaos failed before its trials could run: ${(err as Error).stack ?? String(err)}`)
    return 1
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main()
}
