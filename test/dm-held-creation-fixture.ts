// A DM in its own process whose local target never starts creating the machine of one scoped instance, so that a
// test can kill -9 the DM exactly between "DEPLOYING stored" and "machine created":
// `node --import tsx test/dm-held-creation-fixture.ts '<options JSON>'`. It lays out its data folder as
// `meshconf dm start` does (store, token, signing key, TLS files, machines/local), so that the DM service restarted on that
// folder takes over. It loads the template, creates the application, asks for deploy-and-start-all, and prints one
// JSON line { url: '', token } (it serves no REST API) once the held creation is reached.
import '../agent/polyfill.js'
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { DATABASE_FILE, MACHINES_FOLDER } from '../manager/constants.js'
import { createDeploymentManager } from '../manager/dm.js'
import { loadSigningKey } from '../manager/dm/core.js'
import { createDmMessaging } from '../manager/messaging/index.js'
import { loadOrCreateEndpointTls } from '../manager/messaging/tls.js'
import { createStore } from '../manager/store.js'
import { createLocalTarget } from '../manager/targets/local.js'
import type { TargetHandler } from '../manager/targets/types.js'

interface Options {
  dataDirectory: string
  agentsPort: number
  agentCommand: string[]
  templatePath: string
  application: string
  /** The scoped instance whose machine is never created. */
  heldPath: string
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options
const log = { debug: () => {}, info: (m: string) => console.error(m), warn: (m: string) => console.error(m), error: (m: string) => console.error(m) }
const { token } = loadOrCreateToken(options.dataDirectory)
const local = createLocalTarget({ machinesDirectory: join(options.dataDirectory, MACHINES_FOLDER, 'local'), agentCommand: options.agentCommand })
const holding: TargetHandler = {
  ...local,
  async create (params) {
    if (params.agent.scopedInstancePath !== options.heldPath) return await local.create(params)
    console.log(JSON.stringify({ url: '', token }))
    return await new Promise<string>(() => {})
  }
}
const store = createStore({ file: join(options.dataDirectory, DATABASE_FILE) })
const dm = createDeploymentManager({
  store,
  // as `meshconf dm start`: TLS with the DM's own authority, machines' credentials in the store, commands signed with
  // the DM's key
  messaging: createDmMessaging({ kind: 'embedded', dmToken: token, port: options.agentsPort, host: '127.0.0.1', tls: loadOrCreateEndpointTls(options.dataDirectory, ['127.0.0.1']) },
    { logger: log, credentials: store, signingKey: loadSigningKey(options.dataDirectory) }),
  targets: [holding],
  log
}, { dataDirectory: options.dataDirectory, defaultTargetHandler: 'local' })
await dm.start()
const template = await dm.loadTemplateFromPath(options.templatePath)
dm.createApplication({ name: options.application, template: { name: template.name, version: template.version } })
dm.action(options.application, { action: 'deploy-and-start-all' })
