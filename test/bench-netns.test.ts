// The benchmarks' network namespace link (needs root, as the benchmarks do): a server inside the namespace is
// reachable from the host end, unreachable once the link is cut, reachable again once healed, and gone afterwards.
import test from 'ava'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { canUseNetns, createNetnsLink } from '../fixtures/netns.js'

async function reachable (host: string, port: number, waitMs: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, waitMs)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(true) })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

test('a namespace link carries traffic, is cut, heals, and is removed', async t => {
  t.true(canUseNetns(), 'the benchmarks and this test run as root')
  const tag = `mct${process.pid % 100000}`
  const link = await createNetnsLink(tag, (process.pid + 7) % 16384)
  t.teardown(async () => { await link.destroy() })
  const port = 20000 + (process.pid % 20000)
  const server = spawn('ip', ['netns', 'exec', link.netns, process.execPath, '-e',
    `require('net').createServer(s => s.end()).listen(${port}, '${link.nsAddress}', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { server.kill('SIGKILL') })
  await new Promise<void>(resolve => server.stdout.once('data', () => { resolve() }))

  t.true(await reachable(link.nsAddress, port, 5000))
  await link.cut()
  t.false(await reachable(link.nsAddress, port, 1000))
  await link.heal()
  let healed = false
  for (let i = 0; i < 20 && !healed; i++) healed = await reachable(link.nsAddress, port, 1000)
  t.true(healed)

  server.kill('SIGKILL')
  await link.destroy()
  t.false(existsSync(`/run/netns/${tag}`))
})
