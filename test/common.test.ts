// The shared utilities of common/: atomic writes, retry delays, DER integers.
import test from 'ava'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { backoffMs, exponentialMs, jittered } from '../common/backoff.js'
import { writeAtomically } from '../common/fs.js'
import { freePort } from '../common/net.js'
import { createCertificate, derInteger } from '../common/x509.js'
import { X509Certificate } from 'node:crypto'

test('writeAtomically: overlapping writes of one file leave one whole content and no temporary file; a key gets mode 0600', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'meshconf-common-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'a', 'b', 'peers.json')
  const contents = Array.from({ length: 20 }, (_, i) => JSON.stringify({ write: i, padding: 'x'.repeat(10_000) }))
  await Promise.all(contents.map(async c => { await writeAtomically(file, c) }))
  t.true(contents.includes(await readFile(file, 'utf8')))
  t.deepEqual(await readdir(join(dir, 'a', 'b')), ['peers.json'])

  const key = join(dir, 'peer.key')
  await writeAtomically(key, new Uint8Array([1, 2, 3]), { mode: 0o600 })
  t.deepEqual([...await readFile(key)], [1, 2, 3])
  t.is((await stat(key)).mode & 0o777, 0o600)
})

test('backoff: doubles from initialMs up to maxMs, spread by the jitter asked for, never negative nor infinite', t => {
  const options = { initialMs: 100, maxMs: 2_000 }
  t.deepEqual([0, 1, 2, 3, 4, 5, 50, 5_000].map(a => exponentialMs(a, options)), [100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000])
  t.is(exponentialMs(-3, options), 100)
  for (let i = 0; i < 500; i++) {
    const delay = backoffMs(2, { ...options, jitter: 0.25 })
    t.true(Number.isInteger(delay) && delay >= 300 && delay <= 500, String(delay))
    const spread = jittered(1_000)
    t.true(spread >= 800 && spread <= 1_200, String(spread))
  }
  t.is(backoffMs(1_000_000, { ...options, jitter: 0 }), 2_000)
})

test('freePort: a port below the ephemeral range that a server can bind at once', async t => {
  const port = await freePort()
  t.true(port >= 20_000 && port < 32_000, String(port))
  const server = createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(port, '127.0.0.1', resolve) })
  t.is((server.address() as AddressInfo).port, port)
  await new Promise(resolve => server.close(resolve))
})

test('derInteger: the shortest DER form; a serial starting with zero bytes still makes a certificate Node reads', t => {
  const hex = (bytes: number[]): string => derInteger(Buffer.from(bytes)).toString('hex')
  t.is(hex([0x00, 0x12, 0x34]), '02021234')
  t.is(hex([0x00, 0x00, 0x85]), '02020085')
  t.is(hex([0x85]), '02020085')
  t.is(hex([0x00]), '020100')
  t.is(hex([0x02]), '020102')
  // before: a random serial whose first byte was 0x00 (1 in 256) gave `illegal padding` at the DM's first start
  const { cert } = createCertificate({ commonName: 'meshconf test', validityMs: 60_000, authority: true, serial: Buffer.from([0, 1, 2, 3]) })
  t.is(new X509Certificate(cert).serialNumber, '010203')
})
