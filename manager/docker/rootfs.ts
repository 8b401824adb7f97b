// The agent image's root filesystem, made from what the host has installed: the files of a few Debian packages
// (dpkg), single commands, the shared libraries all their executables need (ldd), the agent bundle and a few files
// of our own. No base image: the result is a list of entries, sorted, that archive.ts writes as one layer.
import { errorMessage } from '../../protocol/errors.js'
import { execFile } from 'node:child_process'
import { closeSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, type Stats } from 'node:fs'
import { basename, dirname, join, posix, resolve } from 'node:path'
import { promisify } from 'node:util'
import {
  IMAGE_BASE_COMMANDS, IMAGE_BASE_PACKAGES, IMAGE_EXCLUDED_FOLDERS, IMAGE_ROOT_LINKS, LDD_BATCH_FILES
} from './constants.js'

const run = promisify(execFile)
/** Largest output read from dpkg-query or ldd, in bytes. */
const TOOL_OUTPUT_MAX_BYTES = 64 * 1024 * 1024

/** One entry of the root filesystem; `path` is relative to the image's root (`usr/bin/node`). */
export type RootfsEntry =
  | { kind: 'dir', path: string, mode: number }
  | { kind: 'symlink', path: string, target: string }
  /** A host file copied as is. `size` and `mtimeMs` are the host's, for the build cache's fingerprint. */
  | { kind: 'file', path: string, mode: number, source: string, size: number, mtimeMs: number }
  | { kind: 'content', path: string, mode: number, content: Buffer }

/** The host lacks something the image is made from. */
export class ImageInputError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ImageInputError'
  }
}

export interface RootfsInputs {
  /** Extra Debian packages, installed on the host, carried with their dependencies; default none. */
  extraPackages?: string[]
  /** Files of our own (agent bundle, entrypoint, /etc files): host files or contents, at image paths. */
  files: RootfsEntry[]
}

export interface Rootfs {
  /** Sorted by path; parents before their children. */
  entries: RootfsEntry[]
  /** Packages whose files it carries (base, extra and their dependencies), sorted. */
  packages: string[]
  /** Libraries ldd could not find for some file (the file is carried anyway; it fails only if run). */
  warnings: string[]
}

interface InstalledPackage { name: string, installed: boolean, provides: string[], depends: string[][] }

/** Every package dpkg knows, with what it provides and depends on (alternatives as inner lists). */
async function installedPackages (): Promise<Map<string, InstalledPackage>> {
  let stdout: string
  try {
    ({ stdout } = await run('dpkg-query', ['-W', '-f=${Package}\t${db:Status-Abbrev}\t${Provides}\t${Depends}\t${Pre-Depends}\n'],
      { maxBuffer: TOOL_OUTPUT_MAX_BYTES }))
  } catch (err) {
    throw new ImageInputError(`cannot list the host's Debian packages with dpkg-query (${errorMessage(err)}): the image is made from a Debian host's installed files`)
  }
  const names = (field: string): string[][] => field.split(',').map(s => s.trim()).filter(s => s !== '')
    .map(group => group.split('|').map(alt => alt.trim().split(/[\s(:]/)[0]).filter(n => n !== ''))
  const packages = new Map<string, InstalledPackage>()
  for (const line of stdout.split('\n')) {
    const [name, status, provides, depends, preDepends] = line.split('\t')
    if (name === undefined || name === '' || status === undefined) continue
    packages.set(name, {
      name, installed: status.startsWith('ii'), provides: names(provides ?? '').flat(),
      depends: [...names(preDepends ?? ''), ...names(depends ?? '')]
    })
  }
  return packages
}

/** The installed package that satisfies `name` (itself, or one providing it). */
function satisfying (name: string, packages: Map<string, InstalledPackage>): InstalledPackage | undefined {
  const own = packages.get(name)
  if (own?.installed === true) return own
  for (const p of packages.values()) if (p.installed && p.provides.includes(name)) return p
  return undefined
}

/** `extra` and everything they depend on (first installed alternative of each dependency), plus `base`. */
async function packageClosure (base: readonly string[], extra: readonly string[]): Promise<string[]> {
  const packages = await installedPackages()
  const chosen = new Set<string>()
  for (const name of base) {
    if (packages.get(name)?.installed !== true) throw new ImageInputError(`the host lacks the Debian package ${name} the image is made from: apt-get install ${name}`)
    chosen.add(name)
  }
  const pending = [...extra]
  for (const name of extra) {
    if (satisfying(name, packages) === undefined) {
      throw new ImageInputError(`--with-packages ${name}: not installed on this host; the image carries the host's installed files: apt-get install ${name} first`)
    }
  }
  const closure = new Set<string>()
  while (pending.length > 0) {
    const name = pending.pop() as string
    const p = satisfying(name, packages)
    if (p === undefined || closure.has(p.name)) continue
    closure.add(p.name)
    for (const alternatives of p.depends) {
      const found = alternatives.map(a => satisfying(a, packages)).find(a => a !== undefined)
      if (found !== undefined) pending.push(found.name)
    }
  }
  return [...new Set([...chosen, ...closure])].sort()
}

async function packageFiles (name: string): Promise<string[]> {
  const { stdout } = await run('dpkg-query', ['-L', name], { maxBuffer: TOOL_OUTPUT_MAX_BYTES })
  return stdout.split('\n').filter(line => line.startsWith('/') && line !== '/.')
}

/** The host's path of `command` on PATH. */
export function findCommand (command: string): string {
  for (const folder of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const candidate = join(folder, command)
    try {
      if (lstatSync(candidate).isFile() || lstatSync(candidate).isSymbolicLink()) return candidate
    } catch { /* not there */ }
  }
  throw new ImageInputError(`the host has no ${command} on PATH; the image is made from the host's ${command}: install it`)
}

function isElf (file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const magic = Buffer.alloc(4)
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
  } finally {
    closeSync(fd)
  }
}

/** Libraries the dynamic files need, as ldd lists them (transitively); `not found` ones are returned apart. */
async function sharedLibraries (files: string[]): Promise<{ libraries: Set<string>, missing: string[] }> {
  const libraries = new Set<string>()
  const missing: string[] = []
  for (let i = 0; i < files.length; i += LDD_BATCH_FILES) {
    const batch = files.slice(i, i + LDD_BATCH_FILES)
    let stdout: string
    try {
      ({ stdout } = await run('ldd', batch, { maxBuffer: TOOL_OUTPUT_MAX_BYTES }))
    } catch (err) {
      // ldd exits non-zero when one file is static or not an executable; its output still lists the others
      const e = err as { stdout?: string, code?: string }
      if (e.code === 'ENOENT') throw new ImageInputError('the host has no ldd (Debian: libc-bin): the image\'s shared libraries are found with it')
      stdout = e.stdout ?? ''
    }
    let current = batch.length === 1 ? batch[0] : ''
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('\t') && line.endsWith(':')) { current = line.slice(0, -1); continue }
      const linked = /=>\s+(\/\S+)\s+\(0x/.exec(line) ?? /^\s+(\/\S+)\s+\(0x/.exec(line)
      if (linked !== null) libraries.add(linked[1])
      else if (line.includes('=> not found')) missing.push(`${current}: ${line.trim()}`)
    }
  }
  return { libraries, missing }
}

/** Collects host paths into image entries, following symlinks so that what a link names is carried too. */
function createCollector (excluded: readonly string[]): {
  addHostPath: (hostPath: string) => void
  add: (entry: RootfsEntry) => void
  entries: Map<string, RootfsEntry>
  elfFiles: string[]
} {
  const entries = new Map<string, RootfsEntry>()
  const elfFiles: string[] = []
  const isExcluded = (rel: string): boolean => excluded.some(folder => rel === folder || rel.startsWith(`${folder}/`))

  const addParents = (rel: string, hostDir: string): void => {
    const parent = posix.dirname(rel)
    if (parent === '.' || entries.has(parent)) return
    addParents(parent, dirname(hostDir))
    entries.set(parent, { kind: 'dir', path: parent, mode: statMode(lstatSync(hostDir)) })
  }

  const addHostPath = (hostPath: string, depth = 0): void => {
    // the folder is resolved (/lib/x -> /usr/lib/x on a merged-/usr host), the last name is kept: a link stays a link
    let canonical: string
    try {
      canonical = join(realpathSync(dirname(hostPath)), basename(hostPath))
    } catch {
      return
    }
    const rel = canonical.slice(1)
    if (rel === '' || entries.has(rel) || isExcluded(rel) || depth > 40) return
    let stats: Stats
    try {
      stats = lstatSync(canonical)
    } catch {
      return // a dangling link's target, or a file dpkg lists that was removed
    }
    addParents(rel, dirname(canonical))
    if (stats.isDirectory()) {
      entries.set(rel, { kind: 'dir', path: rel, mode: statMode(stats) })
    } else if (stats.isSymbolicLink()) {
      const target = readlinkSync(canonical)
      entries.set(rel, { kind: 'symlink', path: rel, target })
      addHostPath(resolve(dirname(canonical), target), depth + 1)
    } else if (stats.isFile()) {
      entries.set(rel, { kind: 'file', path: rel, mode: statMode(stats), source: canonical, size: stats.size, mtimeMs: stats.mtimeMs })
      if (isElf(canonical)) elfFiles.push(canonical)
    } // sockets, fifos and devices are left out
  }

  const add = (entry: RootfsEntry): void => {
    const parent = posix.dirname(entry.path)
    if (parent !== '.' && !entries.has(parent)) {
      // parents of our own files (/opt/meshconf/agent) may not exist on the host: plain folders
      const parts = parent.split('/')
      for (let i = 1; i <= parts.length; i++) {
        const folder = parts.slice(0, i).join('/')
        if (!entries.has(folder)) entries.set(folder, { kind: 'dir', path: folder, mode: 0o755 })
      }
    }
    entries.set(entry.path, entry)
  }

  return { addHostPath, add, entries, elfFiles }
}

function statMode (stats: Stats): number {
  return stats.mode & 0o7777
}

/** Collects the root filesystem: base packages and commands, extra packages with their dependencies, libraries, our files. */
export async function collectRootfs (inputs: RootfsInputs): Promise<Rootfs> {
  const packages = await packageClosure(IMAGE_BASE_PACKAGES, inputs.extraPackages ?? [])
  const collector = createCollector(IMAGE_EXCLUDED_FOLDERS)
  for (const name of IMAGE_ROOT_LINKS) {
    try {
      if (lstatSync(`/${name}`).isSymbolicLink()) collector.add({ kind: 'symlink', path: name, target: readlinkSync(`/${name}`) })
    } catch { /* the host has no such folder */ }
  }
  for (const name of packages) for (const file of await packageFiles(name)) collector.addHostPath(file)
  for (const command of IMAGE_BASE_COMMANDS) collector.addHostPath(findCommand(command))
  const { libraries, missing } = await sharedLibraries([...new Set(collector.elfFiles)].sort())
  for (const library of [...libraries].sort()) collector.addHostPath(library)
  for (const entry of inputs.files) collector.add(entry)
  const entries = [...collector.entries.values()].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  return { entries, packages, warnings: missing }
}
