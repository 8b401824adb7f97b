// Two applications that use each other (issue 21), for the inter-application tests: a "Database" template exporting
// `Database.ip as ip, Database.port as port` under the prefix Db (and `password`, internal only), and a "Web" template
// whose Web imports `external Db.ip, Db.port` and writes what it holds (its recipes' environment) to files. A DM of the
// test's own over the embedded endpoint or RabbitMQ, with agent processes of the local target (sources through tsx).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadOrCreateToken } from '../../manager/auth.js'
import { createDeploymentManager, type DeploymentManager } from '../../manager/dm.js'
import { createAmqpMessaging } from '../../manager/messaging/amqp.js'
import { createEmbeddedMessaging } from '../../manager/messaging/embedded.js'
import { createStore, type Store } from '../../manager/store.js'
import { createLocalTarget } from '../../manager/targets/local.js'
import { readPidFile, readViewFile, VIEW_SIGNAL } from '../../agent/view.js'
import { instanceFolderName } from '../../protocol/agent-layout.js'
import { freePort } from '../../common/net.js'
import type { AgentMeshView } from '../../agent/mesh/domain.js'
import { agentCommandFromSources, tempDir, writeTemplate } from '../dm-helpers.js'
import { waitFor } from './wait.js'

export const RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672'

export function writeDatabaseTemplate (root: string): string {
  return writeTemplate(root, {
    'descriptor/application.properties': [
      'name = Database', 'version = 1.0', 'description = a database other applications use',
      'graph-entry-point = db.graph', 'instance-entry-point = db.instances',
      'exports-prefix = Db', 'exports = Database.ip as ip, Database.port as port', ''
    ].join('\n'),
    'graph/db.graph': [
      'VM {', '  installer: target;', '  children: Database, Admin;', '}',
      'Database {', '  installer: script;', '  exports: ip, port = 3306, password = s3cret;', '}',
      // an importer inside the application: internal exports keep working beside the external ones
      'Admin {', '  installer: script;', '  imports: Database.*;', '}', ''
    ].join('\n'),
    'instances/db.instances': [
      'instance of VM {', '  name: db vm;', '  instance of Database {', '    name: database;', '  }',
      '  instance of Admin {', '    name: admin;', '  }', '}', ''
    ].join('\n'),
    'graph/Database/scripts/start.sh': '#!/bin/bash\necho started > started.txt\n',
    'graph/Admin/scripts/start.sh': '#!/bin/bash\necho "password=${Database_0_password:-none}" > started.txt\n'
  })
}

/** What Web's recipes write: the environment of their Db imports, one `name=value` a line. */
const DUMP = 'env | grep -E "^Db_" | sort'

export function writeWebTemplate (root: string): string {
  return writeTemplate(root, {
    'descriptor/application.properties': [
      'name = Web', 'version = 1.0', 'description = a web application over the shared database',
      'graph-entry-point = web.graph', 'instance-entry-point = web.instances', ''
    ].join('\n'),
    'graph/web.graph': [
      'VM {', '  installer: target;', '  children: Web;', '}',
      'Web {', '  installer: script;', '  exports: ip, port = 8080;', '  imports: external Db.ip, external Db.port;', '}', ''
    ].join('\n'),
    'instances/web.instances': ['instance of VM {', '  name: web vm;', '  instance of Web {', '    name: web;', '  }', '}', ''].join('\n'),
    'graph/Web/scripts/start.sh': `#!/bin/bash\n${DUMP} > started.txt\n`,
    'graph/Web/scripts/update.sh': `#!/bin/bash\n${DUMP} > updated.txt\necho x >> updates.txt\n`
  })
}

export type MessagingKind = 'embedded' | 'amqp'

export interface InterAppDm {
  dm: DeploymentManager
  store: Store
  dataDir: string
  machines: string
  /** The RabbitMQ domain (first word of the exchanges' names), with `amqp`. */
  domain: string
  /** Stops the DM (machines keep running) and starts it again on the same store. */
  restart: () => Promise<void>
  stop: () => Promise<void>
}

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => { process.stderr.write(`${m}\n`) } }

/** A DM with the Database and Web templates loaded, agents as local processes (killed with the test). */
export async function startInterAppDm (t: { teardown: (fn: () => Promise<void> | void) => void }, kind: MessagingKind): Promise<InterAppDm> {
  const dir = tempDir(`interapp-${kind}`)
  const { token } = loadOrCreateToken(dir.path)
  const file = join(dir.path, 'dm.sqlite')
  const domain = `meshconf-interapp-${randomBytes(4).toString('hex')}`
  const machines = join(dir.path, 'machines')
  const target = createLocalTarget({ machinesDirectory: machines, agentCommand: agentCommandFromSources(), heartbeatPeriodMs: 500 })
  // a fixed port: agents reconnect to the same one after a DM restart
  const port = await freePort()
  const make = (): { dm: DeploymentManager, store: Store } => {
    const store = createStore({ file })
    const messaging = kind === 'embedded'
      ? createEmbeddedMessaging({ dmToken: token, port, logger: quiet })
      : createAmqpMessaging({ url: RABBITMQ_URL, domain, logger: quiet })
    const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet }, { dataDirectory: dir.path, defaultTargetHandler: 'local' })
    return { dm, store }
  }
  let current = make()
  await current.dm.start()
  await current.dm.loadTemplateFromPath(writeDatabaseTemplate(join(dir.path, 'database')))
  await current.dm.loadTemplateFromPath(writeWebTemplate(join(dir.path, 'web')))
  const result: InterAppDm = {
    get dm () { return current.dm },
    get store () { return current.store },
    dataDir: dir.path,
    machines,
    domain,
    restart: async () => {
      await current.dm.stop()
      current.store.close()
      current = make()
      await current.dm.start()
    },
    stop: async () => {
      await current.dm.stop()
      current.store.close()
      current = make()
    }
  }
  t.teardown(async () => {
    for (const pid of agentPids(machines)) { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }
    await current.dm.stop().catch(() => {})
    current.store.close()
    // MESHCONF_TEST_KEEP=1 keeps the DM's and the agents' folders (agent.log of each machine) to see why a test failed
    if (process.env.MESHCONF_TEST_KEEP === '1') process.stderr.write(`kept ${dir.path}\n`)
    else dir.remove()
  })
  return result
}

/** Pids of every agent started under the machines folder. */
function agentPids (machines: string): number[] {
  if (!existsSync(machines)) return []
  return readdirSync(machines).flatMap(id => {
    try {
      return [(JSON.parse(readFileSync(join(machines, id, 'pid'), 'utf8')) as { pid: number }).pid]
    } catch {
      return []
    }
  })
}

/** The state folder of the agent of a machine. */
export function stateDirOf (env: InterAppDm, application: string, machinePath: string): string {
  return join(env.machines, env.dm.instance(application, machinePath).data['machine.id'], 'state')
}

/** An agent process's mesh view, freshly written on SIGUSR2. */
export async function agentView (stateDir: string): Promise<AgentMeshView> {
  const pid = (await readPidFile(stateDir))?.pid
  if (pid === undefined) throw new Error(`no agent pid in ${stateDir}`)
  const asked = Date.now()
  process.kill(pid, VIEW_SIGNAL)
  let view: AgentMeshView | undefined
  await waitFor(`the view of ${stateDir}`, async () => {
    const document = await readViewFile(stateDir)
    if (document === undefined || document.writtenAt < asked || document.mesh === null) return false
    view = document.mesh as AgentMeshView
    return true
  }, { timeoutMs: 10_000 })
  return view as AgentMeshView
}

/** A file a recipe wrote in its scripts folder (its working directory), as `name=value` pairs (empty when absent). */
export function recipeOutput (stateDir: string, instancePath: string, file: string): Record<string, string> {
  const path = join(stateDir, 'instances', instanceFolderName(instancePath), 'scripts', file)
  if (!existsSync(path)) return {}
  return Object.fromEntries(readFileSync(path, 'utf8').split('\n').filter(l => l.includes('=')).map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

/** Starts the agent of a machine again from its params file (as its target would), detached. */
export function restartAgent (env: InterAppDm, application: string, machinePath: string): number {
  const folder = join(env.machines, env.dm.instance(application, machinePath).data['machine.id'])
  const [command, ...args] = agentCommandFromSources()
  const child = spawn(command, [...args, '--params', join(folder, 'params.json')], { detached: true, stdio: 'ignore' })
  child.unref()
  return child.pid as number
}
