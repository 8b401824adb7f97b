// The seed's LAMP application with real servers (simulations/lamp-apache: Debian's apache2 and tomcat10, the host's
// MariaDB at 127.0.0.1:3306) run by meshconf itself: a DM with the local target, agent processes (the build) that
// resolve exports and imports over the libp2p mesh and run the bash recipes. Deploy and start all reaches every
// instance in the imports' order; real HTTP requests to Apache are answered by Tomcat VM 1, then, once a second
// Tomcat VM is replicated and deployed, by both in turn, each answer read from MariaDB; once it is undeployed and
// deleted, by Tomcat VM 1 alone; Apache's update recipe reloads gracefully and its parent process never changes.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { INSTANCES_FOLDER } from '../agent/constants.js'
import { instanceFolderName } from '../agent/state.js'
import { startDmService, type DmService } from '../manager/commands/dm.js'
import { killLeftovers } from '../manager/commands/simulation-machines.js'
import { DATA_IP_ADDRESS, DATA_MACHINE_ID, MACHINES_FOLDER } from '../manager/constants.js'
import type { DmEvent, InstanceView } from '../manager/dm.js'
import { machineFolder } from '../manager/targets/local.js'
import { defaultAgentCommand, machineFiles } from '../manager/targets/process.js'
import { statuses, tempDir } from './dm-helpers.js'
import {
  LAMP_APACHE_DIR, answeredBy, getJson, isAlive, mariadbQuery, missingLampApacheNeeds, processesMentioning
} from './lamp-helpers.js'
import { waitFor } from './helpers/wait.js'
import { errorMessage } from '../protocol/errors.js'

const MYSQL = '/MySQL VM/MySQL'
const TOMCAT_1 = '/Tomcat VM 1/Tomcat'
const TOMCAT_2 = '/Tomcat VM 2/Tomcat'
const APACHE = '/Apache VM/Apache'
/** The value MySQL's deploy.sh stores in the database. */
const DEPLOYED_VALUE = `Hello from MariaDB, ${MYSQL}`
/** How long deploying or starting the servers may take on a busy 2-core host (a JVM starts slowly), in ms. */
const SERVERS_MS = 300_000
/** Requests in a row that must show the expected Tomcats. */
const REQUESTS_PER_CHECK = 4

test('meshconf runs LAMP with Apache httpd, Tomcat 10 and MariaDB: two Tomcats in turn, then one, Apache never restarted', async t => {
  t.timeout(20 * 60_000)
  const missing = missingLampApacheNeeds()
  if (missing.length > 0) {
    t.fail(`the lamp-apache application cannot run here, missing: ${missing.join('; ')}. Install them (as root: scripts/test-setup.sh)`)
    return
  }
  const agentEntry = defaultAgentCommand().at(-1) ?? ''
  if (!existsSync(agentEntry)) {
    t.fail(`the agent is not built (${agentEntry} is missing): run npm run build`)
    return
  }
  await mariadbQuery('SELECT 1').catch(err => { throw new Error(`${errorMessage(err)}. Start the host's MariaDB server (mariadb-server)`) })

  const dir = tempDir('lamp-apache-dm')
  const application = `lamp-apache-${randomBytes(3).toString('hex')}`
  // a database of its own, so that runs in parallel (and lamp-apache.test.ts) do not meet
  const database = `lamp_dm_${randomBytes(4).toString('hex')}`
  const dmLog: string[] = []
  const log = (level: string) => (message: string): void => { dmLog.push(`${new Date().toISOString()} ${level} ${message}`) }
  let service: DmService | undefined
  t.teardown(async () => {
    // after a failed step: undeploy through the DM (the recipes stop the servers and drop the database), then
    // kill whatever is left (agents, servers, and the Apache workers a killed parent leaves behind)
    const dm = service?.dm
    if (dm?.listApplications().some(a => a.name === application) === true) {
      dm.action(application, { action: 'undeploy-all' })
      await waitFor('undeployed after a failure', () => Object.values(statuses(dm.instances(application))).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: 120_000 })
        .catch(() => {})
    }
    await service?.stop().catch(() => {})
    await killLeftovers(join(dir.path, MACHINES_FOLDER))
    for (const left of processesMentioning(dir.path)) {
      try { process.kill(Number(left.split(' ')[0]), 'SIGKILL') } catch { /* gone meanwhile */ }
    }
    await mariadbQuery(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => {})
    dir.remove()
  })
  service = await startDmService({
    dataDirectory: dir.path, port: 0, agentsPort: 0, target: 'local', log: { debug: () => {}, info: log('INFO'), warn: log('WARN'), error: log('ERROR') }
  })
  const { dm } = service
  const machines = join(dir.path, MACHINES_FOLDER, 'local')
  /** When each instance first reached DEPLOYED_STARTED, by path (DM events). */
  const startedAt = new Map<string, string>()
  dm.onEvent((event: DmEvent) => {
    if (event.type === 'instance' && event.status === 'DEPLOYED_STARTED' && !startedAt.has(event.path)) startedAt.set(event.path, event.at)
  })
  const tree = (): Record<string, string> => statuses(dm.instances(application))
  const waitForStatus = async (path: string, status: string): Promise<void> => {
    await waitFor(`${path} ${status}`, () => tree()[path] === status, { timeoutMs: SERVERS_MS })
  }
  /** A file of an instance's run/ folder on its machine (its servers' pid files and logs). */
  const runFile = (path: string, file: string): string => {
    const root = `/${path.split('/')[1]}`
    const folder = machineFolder(machines, dm.instance(application, root).data[DATA_MACHINE_ID] ?? '')
    return join(machineFiles(folder).state, INSTANCES_FOLDER, instanceFolderName(path), 'run', file)
  }
  const pidIn = (file: string): number => Number(readFileSync(file, 'utf8').trim())

  try {
    const loaded = await dm.loadTemplateFromPath(LAMP_APACHE_DIR)
    dm.createApplication({ name: application, template: { name: loaded.name, version: loaded.version } })
    // the operator's choice of database: the MySQL instance again, with its `database` export overridden
    dm.removeInstance(application, MYSQL)
    dm.addInstance(application, { parentPath: '/MySQL VM', name: 'MySQL', component: 'MySQL', overriddenExports: { database } })

    // the chain reaction: every machine at once; Tomcat waits for MySQL's exports, Apache for Tomcat's
    dm.action(application, { action: 'deploy-and-start-all' })
    await waitFor('every instance DEPLOYED_STARTED', () => {
      const all = tree()
      return Object.values(all).every(s => s === 'DEPLOYED_STARTED') ? all : undefined
    }, { timeoutMs: SERVERS_MS })
    t.deepEqual(Object.keys(tree()).sort(), ['/Apache VM', APACHE, '/MySQL VM', MYSQL, '/Tomcat VM 1', TOMCAT_1])
    const at = (path: string): number => Date.parse(startedAt.get(path) ?? 'unknown')
    t.true(at(MYSQL) <= at(TOMCAT_1), `Tomcat started (${startedAt.get(TOMCAT_1)}) before MySQL (${startedAt.get(MYSQL)})`)
    t.true(at(TOMCAT_1) <= at(APACHE), `Apache started (${startedAt.get(APACHE)}) before Tomcat (${startedAt.get(TOMCAT_1)})`)
    t.deepEqual((await mariadbQuery(`SELECT value FROM \`${database}\`.lamp_values`)).trim(), DEPLOYED_VALUE)

    const apacheView: InstanceView = dm.instance(application, APACHE)
    const apachePort = apacheView.overriddenExports['Apache.port'] ?? apacheView.overriddenExports.port
    const apacheIp = dm.instance(application, '/Apache VM').data[DATA_IP_ADDRESS]
    t.truthy(apachePort, 'the DM generated Apache\'s port (random[port])')
    const apacheUrl = `http://${apacheIp}:${apachePort}`
    const parentPid = pidIn(runFile(APACHE, 'httpd.pid'))
    const parentStart = processStartTime(parentPid)
    const generation = async (): Promise<number> => {
      const reply = await fetch(`${apacheUrl}/server-status?auto`, { signal: AbortSignal.timeout(10_000) })
      return Number(/^ParentServerConfigGeneration: (\d+)$/m.exec(await reply.text())?.[1])
    }

    /** REQUESTS_PER_CHECK requests through Apache: each answered by one of `expected` with `value`, all of them
     * answering, and with several, never the same one twice in a row (round robin). */
    const servedBy = async (expected: string[], value: string): Promise<string[]> => {
      const names: string[] = []
      for (let i = 0; i < REQUESTS_PER_CHECK; i++) {
        const reply = await getJson(`${apacheUrl}/`)
        if (reply.status !== 200 || reply.body.value !== value || !expected.includes(reply.body.name)) {
          throw new Error(`request ${i + 1}: HTTP ${reply.status} ${JSON.stringify(reply.body)}, expected one of ${expected.join(', ')} with "${value}"`)
        }
        names.push(reply.body.name)
      }
      const silent = expected.filter(e => !names.includes(e))
      if (silent.length > 0) throw new Error(`${silent.join(', ')} did not answer: ${names.join(', ')}`)
      if (names.some((n, i) => i > 0 && names[i - 1] === n && expected.length > 1)) throw new Error(`not in turn: ${names.join(', ')}`)
      return names
    }

    t.deepEqual(await servedBy([TOMCAT_1], DEPLOYED_VALUE), Array(REQUESTS_PER_CHECK).fill(TOMCAT_1))
    // read from MariaDB at each request: a value changed behind the application's back is served at once
    const changed = `changed in MariaDB by ${application}`
    await mariadbQuery(`UPDATE \`${database}\`.lamp_values SET value = '${changed}' WHERE name = 'message'`)
    t.deepEqual(await servedBy([TOMCAT_1], changed), Array(REQUESTS_PER_CHECK).fill(TOMCAT_1))

    // scale up: Tomcat VM 1 replicated through the DM (a port of its own), deployed; Apache's update adds it
    const beforeAdd = await generation()
    const replica = dm.replicate(application, '/Tomcat VM 1', 'Tomcat VM 2')
    const replicaTomcat = replica.children.find(c => c.path === TOMCAT_2)
    t.truthy(replicaTomcat, 'the replica carries a Tomcat')
    t.not(replicaTomcat?.overriddenExports['Tomcat.port'], dm.instance(application, TOMCAT_1).overriddenExports['Tomcat.port'])
    dm.action(application, { action: 'deploy-and-start-all', path: '/Tomcat VM 2' })
    await waitForStatus(TOMCAT_2, 'DEPLOYED_STARTED')
    const turns = await waitFor('both Tomcats in turn behind Apache', async () => await servedBy([TOMCAT_1, TOMCAT_2], changed), { timeoutMs: SERVERS_MS })
    t.deepEqual(answeredBy(turns), [TOMCAT_1, TOMCAT_2])
    t.true(await generation() > beforeAdd, 'Apache reloaded its configuration')
    t.is(pidIn(runFile(APACHE, 'httpd.pid')), parentPid)

    // scale down: Tomcat VM 2 undeployed (its agent stops and undeploys the Tomcat first), then deleted
    const tomcat2Pid = pidIn(runFile(TOMCAT_2, 'tomcat.pid'))
    const beforeRemoval = await generation()
    dm.changeState(application, '/Tomcat VM 2', 'NOT_DEPLOYED')
    await waitForStatus('/Tomcat VM 2', 'NOT_DEPLOYED')
    t.is(tree()[TOMCAT_2], 'NOT_DEPLOYED')
    dm.removeInstance(application, '/Tomcat VM 2')
    t.false('/Tomcat VM 2' in tree())
    await waitFor('Tomcat VM 2\'s Tomcat gone', () => !isAlive(tomcat2Pid))
    // Apache fails over from a member that refuses connections: wait for its reload, not only for the answers
    await waitFor('Apache reloaded without Tomcat VM 2', async () => await generation() > beforeRemoval, { timeoutMs: SERVERS_MS })
    t.deepEqual(await servedBy([TOMCAT_1], changed), Array(REQUESTS_PER_CHECK).fill(TOMCAT_1))
    t.deepEqual(balancerMembers(readFileSync(runFile(APACHE, 'httpd.conf'), 'utf8')),
      [`http://127.0.0.1:${dm.instance(application, TOMCAT_1).overriddenExports['Tomcat.port']}`])

    // Apache's parent process was never restarted: same pid, same process (its start time)
    t.is(pidIn(runFile(APACHE, 'httpd.pid')), parentPid)
    t.true(isAlive(parentPid))
    t.is(processStartTime(parentPid), parentStart)

    // undeploy all: the servers stop, the database is dropped, no agent or server is left
    const tomcat1Pid = pidIn(runFile(TOMCAT_1, 'tomcat.pid'))
    dm.action(application, { action: 'undeploy-all' })
    await waitFor('every instance NOT_DEPLOYED', () => Object.values(tree()).every(s => s === 'NOT_DEPLOYED'), { timeoutMs: SERVERS_MS })
    t.false(isAlive(parentPid))
    t.false(isAlive(tomcat1Pid))
    t.is((await mariadbQuery(`SHOW DATABASES LIKE '${database}'`)).trim(), '', 'MySQL\'s undeploy.sh dropped the database')
    await waitFor('no process of the run left', () => processesMentioning(dir.path).length === 0, { timeoutMs: 30_000 })
      .catch(() => { t.deepEqual(processesMentioning(dir.path), []) })
    dm.deleteApplication(application)
  } catch (err) {
    t.log(diagnostics(machines, dmLog))
    throw err
  }
})

/** The BalancerMember URLs of an httpd.conf written by Apache's recipe. */
function balancerMembers (conf: string): string[] {
  return [...conf.matchAll(/^\s*BalancerMember "([^"]+)"/gm)].map(m => m[1])
}

/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22): a restart gives another one. */
function processStartTime (pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

/** The DM's last warnings and each machine's agent and server logs (their last lines), for a failed run. */
function diagnostics (machines: string, dmLog: string[]): string {
  const tail = (file: string, lines: number): string => {
    try {
      return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(none)'
    }
  }
  const list = (folder: string): string[] => existsSync(folder) ? readdirSync(folder) : []
  const parts = [`DM log:\n${dmLog.filter(l => !l.includes(' INFO ')).slice(-30).join('\n')}`]
  for (const machine of list(machines)) {
    const files = machineFiles(join(machines, machine))
    parts.push(`${machine} agent.log:\n${tail(files.log, 30)}`)
    for (const instance of list(join(files.state, INSTANCES_FOLDER))) {
      const run = join(files.state, INSTANCES_FOLDER, instance, 'run')
      for (const log of list(run).filter(f => f.endsWith('.log') || f.endsWith('.out'))) parts.push(`${instance}/run/${log}:\n${tail(join(run, log), 20)}`)
    }
  }
  return parts.join('\n\n')
}
