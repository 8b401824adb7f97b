// A read-only npm registry on loopback holding exactly the packages package-lock.json installs for production, so
// that a test can `npm install` the packed meshconf as a user would, without the network. Each version's manifest
// comes from the lock; each tarball is the very file npm downloaded (npm's cache, content-addressed by the lock's
// integrity), so npm checks it against the same integrity as on the real registry.
import { execFileSync } from 'node:child_process'
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

interface LockEntry {
  name?: string
  version?: string
  integrity?: string
  dev?: boolean
  link?: boolean
  [field: string]: unknown
}

/** The manifest fields npm resolves and installs with (the rest of package.json is read from the tarball). */
const MANIFEST_FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin',
  'engines', 'os', 'cpu', 'hasInstallScript', 'deprecated', 'license']

export class NpmCacheMissError extends Error {
  constructor (missing: string[], cache: string) {
    super(`npm's cache (${cache}) lacks the tarballs of ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}: ` +
      'run npm ci in the repository first (it fills the cache)')
    this.name = 'NpmCacheMissError'
  }
}

export interface NpmMirror {
  /** The registry URL, e.g. http://127.0.0.1:41234/ */
  url: string
  close: () => Promise<void>
}

/** The file holding a tarball in npm's cache (cacache's content-v2 layout), from its integrity (`sha512-<base64>`). */
function cachedContent (cache: string, integrity: string): string {
  const [algorithm, base64] = integrity.split(' ')[0].split('-', 2)
  const hex = Buffer.from(base64, 'base64').toString('hex')
  return join(cache, '_cacache', 'content-v2', algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4))
}

/** Starts the mirror of `repoRoot`'s package-lock.json (production packages only) on 127.0.0.1, on a free port. */
export async function startNpmMirror (repoRoot: string): Promise<NpmMirror> {
  const cache = execFileSync('npm', ['config', 'get', 'cache'], { cwd: repoRoot, encoding: 'utf8' }).trim()
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const versions = new Map<string, Map<string, { manifest: Record<string, unknown>, file: string }>>()
  const missing: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true || entry.link === true || entry.version === undefined || entry.integrity === undefined) continue
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
    const file = cachedContent(cache, entry.integrity)
    if (!existsSync(file)) missing.push(`${name}@${entry.version}`)
    const manifest: Record<string, unknown> = { name, version: entry.version }
    for (const field of MANIFEST_FIELDS) if (entry[field] !== undefined) manifest[field] = entry[field]
    if (!versions.has(name)) versions.set(name, new Map())
    versions.get(name)!.set(entry.version, { manifest: { ...manifest, dist: { integrity: entry.integrity } }, file })
  }
  if (missing.length > 0) throw new NpmCacheMissError(missing, cache)

  const byTarball = new Map<string, string>()
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent((request.url ?? '/').split('?')[0])
    const tarball = byTarball.get(path)
    if (tarball !== undefined) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' })
      createReadStream(tarball).pipe(response)
      return
    }
    const known = versions.get(path.slice(1))
    if (known === undefined) {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `not in package-lock.json: ${path.slice(1)}` }))
      return
    }
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    // no `latest` tag: npm then takes the highest version a range accepts, as the lock was resolved
    const packument: Record<string, unknown> = { name: path.slice(1), 'dist-tags': {}, versions: {} }
    const all = packument.versions as Record<string, unknown>
    for (const [version, { manifest, file }] of known) {
      const tarballPath = `${path}/-/${path.split('/').at(-1)}-${version}.tgz`
      byTarball.set(tarballPath, file)
      all[version] = { ...manifest, dist: { ...(manifest.dist as object), tarball: `${base}${tarballPath}` } }
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument))
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(0, '127.0.0.1', resolve) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: async () => { await new Promise(resolve => server.close(resolve)) }
  }
}
