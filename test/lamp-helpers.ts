// Helpers of the LAMP tests: free loopback ports, JSON over HTTP, waiting, running a recipe the way the script
// plug-in does (bash, cwd = the scripts folder, Roboconf's environment of reference §4.5), the host's MariaDB,
// and the processes a run leaves behind.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { cp, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanInstancePath, cleanReversedInstancePath } from '../protocol/model/exports.js'

export const LAMP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'simulations', 'lamp')
export const LAMP_APACHE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'simulations', 'lamp-apache')


export interface JsonReply { status: number, body: any, headers: Headers }

export async function getJson (url: string, init?: RequestInit): Promise<JsonReply> {
  const reply = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })
  const text = await reply.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: reply.status, body, headers: reply.headers }
}

/** True while a process with that pid exists and has not exited (a zombie waiting for its reaper is not alive). */
/** Who answered a series of requests, each name once, sorted: ava compares sets in insertion order, and which
 * member a balancer picks first is its own business. */
export function answeredBy (names: string[]): string[] {
  return [...new Set(names)].sort()
}

export function isAlive (pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** The live processes (not zombies) whose command line contains `text`, as "pid command line". */
export function processesMentioning (text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.charAt(0)
      if (cmdline.includes(text) && state !== 'Z') found.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`)
    } catch { /* gone meanwhile */ }
  }
  return found
}

/**
 * What the lamp-apache recipes need on this host and do not find, each with the Debian package that brings it
 * (scripts/test-setup.sh installs them); empty when all is there.
 */
export function missingLampApacheNeeds (): string[] {
  const onPath = (command: string): boolean =>
    [...(process.env.PATH ?? '').split(':'), '/usr/sbin'].some(dir => dir !== '' && existsSync(join(dir, command)))
  const needs: Array<[boolean, string]> = [
    [onPath('apache2'), 'apache2 (package apache2)'],
    [existsSync('/usr/share/tomcat10/bin/catalina.sh'), '/usr/share/tomcat10/bin/catalina.sh (package tomcat10)'],
    [existsSync('/usr/share/java/mariadb-java-client.jar'), '/usr/share/java/mariadb-java-client.jar (package libmariadb-java)'],
    [onPath('javac'), 'javac (package default-jdk-headless)'],
    [onPath('curl'), 'curl (package curl)'],
    [onPath('mariadb') || onPath('mysql'), 'the MariaDB client (package mariadb-client)']
  ]
  return needs.filter(([found]) => !found).map(([, what]) => what)
}

/** Runs SQL on the host's MariaDB server as the lamp-apache template reaches it (127.0.0.1:3306, root, no
 * password); resolves with its output (tab-separated rows, no column names). */
export async function mariadbQuery (sql: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('mariadb', ['--protocol=TCP', '--host=127.0.0.1', '--port=3306', '--user=root', '--batch', '--skip-column-names', '-e', sql],
      { timeout: 30_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`MariaDB at 127.0.0.1:3306 refused ${JSON.stringify(sql)}: ${stderr.trim() || err.message}`))
        else resolve(stdout)
      })
  })
}

/** An instance laid out as the agent lays it out: `<root>/<clean path>/{scripts,files}` copied from the recipe folder. */
export interface RecipeInstance {
  path: string
  component: string
  dir: string
  /** The instance's exports by local name (`ip`, `port`). */
  exports: Record<string, string>
}

export async function layOutInstance (templateDir: string, root: string, path: string, component: string,
  exports: Record<string, string>): Promise<RecipeInstance> {
  const dir = join(root, cleanInstancePath(path))
  await mkdir(dir, { recursive: true })
  await cp(join(templateDir, 'graph', component), dir, { recursive: true })
  return { path, component, dir, exports }
}

/** Imports by prefix: each exporter's variables by local name (`{ Tomcat: [{ ip, port }] }`). */
export type RecipeImports = Record<string, Array<{ path: string, variables: Record<string, string> }>>

/** Roboconf's script environment (reference §4.5) for one instance, built by hand. */
export function recipeEnvironment (instance: RecipeInstance, imports: RecipeImports = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ROBOCONF_INSTANCE_NAME: instance.path.split('/').at(-1) ?? '',
    ROBOCONF_INSTANCE_PATH: instance.path,
    ROBOCONF_COMPONENT_NAME: instance.component,
    ROBOCONF_CLEAN_INSTANCE_PATH: cleanInstancePath(instance.path),
    ROBOCONF_CLEAN_REVERSED_INSTANCE_PATH: cleanReversedInstancePath(instance.path),
    ROBOCONF_FILES_DIR: join(instance.dir, 'files')
  }
  for (const [local, value] of Object.entries(instance.exports)) env[local.replaceAll('-', '_')] = value
  for (const [prefix, exporters] of Object.entries(imports)) {
    env[`${prefix}_size`] = String(exporters.length)
    exporters.forEach((exporter, i) => {
      env[`${prefix}_${i}_name`] = exporter.path
      for (const [local, value] of Object.entries(exporter.variables)) env[`${prefix}_${i}_${local.replaceAll('-', '_')}`] = value
    })
  }
  return env
}

export interface RecipeRun { code: number, stdout: string, stderr: string }

/** Runs `scripts/<action>.sh` with bash, cwd = the scripts folder, as the script plug-in does. */
export async function runRecipe (instance: RecipeInstance, action: string, imports: RecipeImports = {},
  extraEnv: Record<string, string> = {}): Promise<RecipeRun> {
  const scripts = join(instance.dir, 'scripts')
  return await new Promise(resolve => {
    execFile('bash', [join(scripts, `${action}.sh`)], {
      cwd: scripts,
      env: { ...recipeEnvironment(instance, imports), ...extraEnv },
      timeout: 180_000
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

