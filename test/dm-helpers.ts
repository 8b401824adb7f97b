// Helpers of the DM tests: a small template written to a temp folder, polling, temp dirs.
import type { Logger } from '../common/log.js'
import type { MeshFactory } from '../agent/index.js'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createDeploymentManager, type DeploymentManagerOptions, type DeploymentManager } from '../manager/dm.js'
import { createMemoryMessaging } from '../manager/messaging/memory.js'
import { createStore, type Store } from '../manager/store.js'
import { createInProcessTarget, type InProcessTarget } from '../manager/targets/in-process.js'

export function tempDir (prefix: string): { path: string, remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `meshconf-${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/**
 * Writes the "Shop" template: machines (VM) hold a DB and Apps; App imports DB.ip and DB.port. The start scripts
 * write `started.txt` (with the imported DB port for App) in their working folder.
 */
/** `externalExports`: the DB's ip and port exported to other applications too, under the prefix Shop. */
export function writeShopTemplate (root: string, options: { version?: string, instances?: string, externalExports?: boolean } = {}): string {
  const files: Record<string, string> = {
    'descriptor/application.properties': [
      'name = Shop', `version = ${options.version ?? '1.0'}`, 'description = a database and its clients',
      'graph-entry-point = main.graph', 'instance-entry-point = initial.instances',
      ...(options.externalExports === true ? ['exports-prefix = Shop', 'exports = DB.ip as ip, DB.port as port'] : []), ''
    ].join('\n'),
    'graph/main.graph': [
      'VM {', '  installer: target;', '  children: DB, App;', '}',
      'DB {', '  installer: script;', '  exports: ip, port = 5432;', '}',
      'App {', '  installer: script;', '  exports: ip, random[port] port;', '  imports: DB.ip, DB.port;', '}', ''
    ].join('\n'),
    'instances/initial.instances': options.instances ?? [
      'instance of VM {', '  name: vm1;', '  instance of DB {', '    name: db;', '  }', '}',
      'instance of VM {', '  name: vm2;', '  instance of App {', '    name: app;', '  }', '}', ''
    ].join('\n'),
    'graph/DB/scripts/start.sh': '#!/bin/bash\necho started > started.txt\n',
    'graph/App/scripts/start.sh': '#!/bin/bash\necho "started with DB port ${DB_0_port:-unknown}" > started.txt\n'
  }
  return writeTemplate(root, files)
}

/** Writes a template's files (paths relative to `root`; scripts made executable); returns `root`. */
export function writeTemplate (root: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    if (path.endsWith('.sh')) chmodSync(file, 0o755)
  }
  return root
}

/** The status of every instance of a tree, by path. */
export function statuses (trees: Array<{ path: string, status: string, children: any[] }>): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (i: { path: string, status: string, children: any[] }): void => { out[i.path] = i.status; i.children.forEach(walk) }
  trees.forEach(walk)
  return out
}


/** Runs the agent's sources through tsx (no build needed): the local and netns targets' agent command in tests. */
export function agentCommandFromSources (): string[] {
  return [process.execPath, '--import', 'tsx', join(process.cwd(), 'agent', 'main.ts')]
}

/** A started DM with in-process agents over the in-memory messaging, in a temporary folder, stopped with the test. */
export async function startInProcessDm (t: { teardown: (fn: () => Promise<void> | void) => void }, name: string,
  options: { log?: Logger, meshFactory?: MeshFactory } & Partial<DeploymentManagerOptions> = {}):
  Promise<{ dir: { path: string, remove: () => void }, store: Store, dm: DeploymentManager, target: InProcessTarget }> {
  const { log, meshFactory, ...dmOptions } = options
  const dir = tempDir(name)
  const store = createStore({ file: join(dir.path, 'dm.sqlite') })
  const messaging = createMemoryMessaging({})
  const target = createInProcessTarget({ machinesDirectory: join(dir.path, 'machines'), heartbeatIntervalMs: 200, ...(meshFactory === undefined ? {} : { meshFactory }) })
  const dm = createDeploymentManager({ store, messaging, targets: [target], log },
    { dataDirectory: dir.path, defaultTargetHandler: 'in-process', ...dmOptions })
  await dm.start()
  t.teardown(async () => {
    await target.close?.()
    await dm.stop()
    store.close()
    dir.remove()
  })
  return { dir, store, dm, target }
}
