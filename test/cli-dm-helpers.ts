// A real DM for the CLI tests: REST server, embedded WebSocket messaging and in-process agents running the
// template's bash recipes, all in the test's process; HOME is a temp folder (the user's ~/.meshconf plays no part).
import { join } from 'node:path'
import { loadOrCreateToken } from '../manager/auth.js'
import { createDeploymentManager } from '../manager/dm.js'
import { createEmbeddedMessaging } from '../manager/messaging/embedded.js'
import { createRestServer } from '../manager/rest/server.js'
import { createStore } from '../manager/store.js'
import { createInProcessTarget } from '../manager/targets/in-process.js'
import { runCliInProcess } from './cli-helpers.js'
import { tempDir, writeShopTemplate } from './dm-helpers.js'

export async function startDm (t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const dir = tempDir('cli-dm')
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const { token } = loadOrCreateToken(dir.path)
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
  const messaging = createEmbeddedMessaging({ port: 0, dmToken: token, logger: quiet })
  const target = createInProcessTarget({ machinesDirectory: join(dir.path, 'machines'), heartbeatIntervalMs: 200, logger: quiet })
  const dm = createDeploymentManager({ store, messaging, targets: [target], log: quiet },
    { dataDirectory: dir.path, defaultTargetHandler: 'in-process' })
  await dm.start()
  const server = createRestServer({ dm, token }, { port: 0 })
  const url = await server.start()
  t.teardown(async () => {
    await server.stop()
    await target.close?.()
    await dm.stop()
    store.close()
    dir.remove()
  })
  const home = join(dir.path, 'home')
  const env = { MESHCONF_DM: url, MESHCONF_TOKEN: token }
  const cli = async (...args: string[]) => await runCliInProcess(args, { home, env })
  return { dir, dm, url, token, home, env, cli, template: writeShopTemplate(join(dir.path, 'shop')) }
}
