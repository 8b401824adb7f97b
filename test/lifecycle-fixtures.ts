// Shared fixtures of the life-cycle, plug-in and agent tests: components and instances built directly, a DM
// notifier and an export publisher that record every call, scripts that record what ran, with which environment.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import type { InstanceStatus } from '../protocol/lifecycle.js'
import type { Import, MeshParameters, RecipeFiles, ScopedModel } from '../protocol/messages.js'
import type { Component, ImportedVariable, Instance } from '../protocol/model/types.js'
import { createAgent, type Agent, type AgentOptions } from '../agent/agent.js'
import type { Logger } from '../common/log.js'
import type { Plugin } from '../agent/plugins/types.js'
import type { DmNotifier, ExportPublisher, MeshFactory } from '../agent/ports.js'
import type { StateFileWriter } from '../agent/state.js'

export function component (name: string, spec: {
  installer?: string
  exports?: Record<string, string | null>
  imports?: Array<string | Partial<ImportedVariable> & { name: string }>
  children?: string[]
} = {}): Component {
  return {
    name,
    installer: spec.installer ?? 'script',
    exports: spec.exports ?? {},
    randomExports: [],
    imports: (spec.imports ?? []).map(i => typeof i === 'string'
      ? { name: i, optional: false, external: false }
      : { optional: false, external: false, ...i }),
    facets: [],
    extendsChain: [],
    children: spec.children ?? []
  }
}

export function instance (path: string, componentName: string, children: Instance[] = [],
  overriddenExports: Record<string, string> = {}): Instance {
  return {
    name: path.slice(path.lastIndexOf('/') + 1),
    component: componentName,
    path,
    overriddenExports,
    data: {},
    channels: [],
    status: 'NOT_DEPLOYED',
    children
  }
}

/** LAMP-like graph: VM (target) holds MySQL, Tomcat (imports MySQL, holds War) and Apache (imports Tomcat). */
export function lampComponents (installer = 'script'): Record<string, Component> {
  return {
    VM: component('VM', { installer: 'target', exports: { 'VM.ip': null }, children: ['MySQL', 'Tomcat', 'Apache'] }),
    MySQL: component('MySQL', { installer, exports: { 'MySQL.ip': null, 'MySQL.port': '3306' } }),
    Tomcat: component('Tomcat', {
      installer,
      exports: { 'Tomcat.ip': null, 'Tomcat.portAJP': '8009' },
      imports: ['MySQL.ip', 'MySQL.port'],
      children: ['War']
    }),
    War: component('War', { installer, exports: { 'War.context': 'app' } }),
    Apache: component('Apache', { installer, exports: { 'Apache.ip': null }, imports: ['Tomcat.ip', 'Tomcat.portAJP'] })
  }
}

/** `/VM` with `/VM/MySQL`, `/VM/Tomcat` (with `/VM/Tomcat/War`) and `/VM/Apache`. */
export function lampInstances (): Instance {
  return instance('/VM', 'VM', [
    instance('/VM/MySQL', 'MySQL'),
    instance('/VM/Tomcat', 'Tomcat', [instance('/VM/Tomcat/War', 'War')]),
    instance('/VM/Apache', 'Apache')
  ])
}

export const MESH_PARAMETERS: MeshParameters = {
  bootstrapPeers: [],
  pnetKey: '',
  ownership: { peerId: 'test', application: 'app', scopedInstancePath: '/VM', dmPublicKey: '', signature: '' },
  trustedDmKeys: []
}

export function scopedModel (root: Instance, components: Record<string, Component>, application = 'app'): ScopedModel {
  return { application, scopedInstancePath: root.path, components, instance: root, externalExports: {} }
}

export function base64Files (files: Record<string, string>): RecipeFiles {
  return Object.fromEntries(Object.entries(files).map(([name, text]) => [name, Buffer.from(text).toString('base64')]))
}

export interface Notification { path: string, status: InstanceStatus, imports: Record<string, Import[]>, problem?: string }

/** A DmNotifier that keeps every call. */
export class RecordingNotifier implements DmNotifier {
  readonly changes: Notification[] = []
  readonly removed: string[] = []
  instanceChanged (path: string, status: InstanceStatus, imports: Record<string, Import[]>, problem?: string): void {
    this.changes.push({ path, status, imports: structuredClone(imports), problem })
  }

  instanceRemoved (path: string): void {
    this.removed.push(path)
  }

  /** The statuses reported for an instance, in order. */
  statuses (path: string): InstanceStatus[] {
    return this.changes.filter(c => c.path === path).map(c => c.status)
  }

  problems (path: string): string[] {
    return this.changes.filter(c => c.path === path && c.problem !== undefined).map(c => c.problem as string)
  }

  last (path: string): Notification | undefined {
    return this.changes.filter(c => c.path === path).at(-1)
  }

  clear (): void {
    this.changes.length = 0
    this.removed.length = 0
  }
}

export type PublisherCall =
  | { call: 'setInterests', prefixes: string[] }
  | { call: 'announce', path: string, component: string, variables: Record<string, string | null> }
  | { call: 'withdraw', path: string }
  | { call: 'request', prefixes: string[] }

/** An ExportPublisher that keeps every call. */
export class RecordingPublisher implements ExportPublisher {
  readonly calls: PublisherCall[] = []
  setInterests (prefixes: ReadonlySet<string>): void { this.calls.push({ call: 'setInterests', prefixes: [...prefixes].sort() }) }
  announce (path: string, component: string, variables: Record<string, string | null>): void {
    this.calls.push({ call: 'announce', path, component, variables: { ...variables } })
  }

  withdraw (path: string): void { this.calls.push({ call: 'withdraw', path }) }
  request (prefixes: Iterable<string>): void { this.calls.push({ call: 'request', prefixes: [...prefixes].sort() }) }
  of<K extends PublisherCall['call']> (kind: K): Array<Extract<PublisherCall, { call: K }>> {
    return this.calls.filter((c): c is Extract<PublisherCall, { call: K }> => c.call === kind)
  }
}

/** A logger that keeps every line (and prints nothing). */
export class RecordingLogger implements Logger {
  readonly lines: string[] = []
  debug (message: string): void { this.lines.push(`DEBUG ${message}`) }
  info (message: string): void { this.lines.push(`INFO ${message}`) }
  warn (message: string): void { this.lines.push(`WARN ${message}`) }
  error (message: string): void { this.lines.push(`ERROR ${message}`) }
}

export async function temporaryDir (t: ExecutionContext, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `meshconf-${label}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * A script for `action` that appends `<action> <instance path>` to `<recordDir>/record.log` and saves its whole
 * environment and working directory to `<recordDir>/env/<action>-<clean path>-<time>`; `extra` runs afterwards.
 */
export function recordingScript (recordDir: string, action: string, extra = ''): string {
  return `#!/bin/bash
echo "${action} $ROBOCONF_INSTANCE_PATH" >> "${recordDir}/record.log"
mkdir -p "${recordDir}/env"
{ echo "PWD=$(pwd)"; env; } > "${recordDir}/env/${action}-$ROBOCONF_CLEAN_INSTANCE_PATH-$(date +%s%N)"
${extra}
`
}

/** Recipe files for every script component: one recording script per action. */
export function recordingRecipes (recordDir: string, components: string[],
  extra: Record<string, string> = {}): Record<string, RecipeFiles> {
  const recipes: Record<string, RecipeFiles> = {}
  for (const name of components) {
    const files: Record<string, string> = {}
    for (const action of ['deploy', 'start', 'update', 'stop', 'undeploy']) {
      files[`scripts/${action}.sh`] = recordingScript(recordDir, action, extra[`${name}.${action}`] ?? '')
    }
    recipes[name] = base64Files(files)
  }
  return recipes
}

/** The lines of record.log (`<action> <path>`), in order. */
export async function recorded (recordDir: string): Promise<string[]> {
  try {
    return (await readFile(join(recordDir, 'record.log'), 'utf8')).split('\n').filter(l => l !== '')
  } catch {
    return []
  }
}

/** The environments saved by recording scripts for `action` on `cleanPath`, oldest first. */
export async function recordedEnvironments (recordDir: string, action: string, cleanPath: string): Promise<Array<Record<string, string>>> {
  const names = (await readdir(join(recordDir, 'env')).catch(() => [] as string[]))
    .filter(n => n.startsWith(`${action}-${cleanPath}-`))
    .sort((a, b) => Number(BigInt(a.slice(a.lastIndexOf('-') + 1)) - BigInt(b.slice(b.lastIndexOf('-') + 1))))
  const out: Array<Record<string, string>> = []
  for (const name of names) {
    const env: Record<string, string> = {}
    for (const line of (await readFile(join(recordDir, 'env', name), 'utf8')).split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1)
    }
    out.push(env)
  }
  return out
}

export interface TestAgent {
  agent: Agent
  notifier: RecordingNotifier
  publisher: RecordingPublisher
  log: RecordingLogger
  stateDir: string
  recordDir: string
  /** Sends changeState and waits for every resulting action. */
  request: (path: string, state: InstanceStatus) => Promise<void>
  /** Sends an import from another agent and waits for the reactions. */
  addImport: (prefix: string, exported: Import) => Promise<void>
  removeImport: (prefix: string, exporterPath: string) => Promise<void>
}

/** An agent with recording edges, given its model (setScopedInstance) and recording scripts for every component. */
export async function startTestAgent (t: ExecutionContext, spec: {
  components?: Record<string, Component>
  /** The scoped instance and its subtree (may depend on the folder where scripts record). Default: lampInstances(). */
  root?: Instance | ((recordDir: string) => Instance)
  recipes?: (recordDir: string) => Record<string, RecipeFiles>
  plugins?: Plugin[]
  options?: AgentOptions
  meshFactory?: MeshFactory
  /** Writes the state folder's files (AgentComponents.stateWriter); default writeAtomically. */
  stateWriter?: StateFileWriter
} = {}): Promise<TestAgent> {
  const stateDir = await temporaryDir(t, 'state')
  const recordDir = await temporaryDir(t, 'record')
  const components = spec.components ?? lampComponents()
  const notifier = new RecordingNotifier()
  const publisher = new RecordingPublisher()
  const log = new RecordingLogger()
  const agent = createAgent({ stateDir, notifier, publisher, log, plugins: spec.plugins, meshFactory: spec.meshFactory, stateWriter: spec.stateWriter },
    { ipAddress: '10.0.0.1', ...spec.options })
  await agent.start()
  t.teardown(async () => { await agent.stop() })
  const recipes = spec.recipes?.(recordDir) ??
    recordingRecipes(recordDir, Object.values(components).filter(c => c.installer === 'script').map(c => c.name))
  await agent.handle({
    v: 1, kind: 'setScopedInstance', model: scopedModel(typeof spec.root === 'function' ? spec.root(recordDir) : spec.root ?? lampInstances(), components), mesh: MESH_PARAMETERS, recipes
  })
  await agent.settled()
  return {
    agent, notifier, publisher, log, stateDir, recordDir,
    request: async (path, state) => {
      await agent.handle({ v: 1, kind: 'changeState', instancePath: path, newState: state })
      await agent.settled()
    },
    addImport: async (prefix, exported) => {
      agent.importAdded(prefix, exported)
      await agent.settled()
    },
    removeImport: async (prefix, exporterPath) => {
      agent.importRemoved(prefix, exporterPath)
      await agent.settled()
    }
  }
}

/** A MySQL import from another machine. */
export function mysqlImport (path = '/VM 2/MySQL', ip = '10.0.0.2', port = '3306'): Import {
  return { instancePath: path, component: 'MySQL', variables: { 'MySQL.ip': ip, 'MySQL.port': port } }
}

/** A Tomcat import from another machine. */
export function tomcatImport (path: string, ip: string, portAJP = '8009'): Import {
  return { instancePath: path, component: 'Tomcat', variables: { 'Tomcat.ip': ip, 'Tomcat.portAJP': portAJP } }
}

