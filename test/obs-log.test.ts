// The DM's and the agents' log through pino (common/log.ts): JSON lines with level, time and component, readable
// lines on a terminal, the REST request log at info without the token; an agent's lines carry its application.
import test from 'ava'
import { join } from 'node:path'
import { createDmLog } from '../manager/log.js'
import { startDmService } from '../manager/commands/dm.js'
import { tempDir } from './dm-helpers.js'

test('JSON lines with level, time and component; fastify\'s request log at info without the token; readable lines for a terminal', async t => {
  const lines: string[] = []
  const log = createDmLog({ readable: false, write: line => { lines.push(line) } })
  const dir = tempDir('obs-log')
  const service = await startDmService({ dataDirectory: dir.path, port: 0, agentsPort: 0, target: 'in-process', log, requestLog: log.pino })
  t.teardown(async () => { await service.stop(); dir.remove() })
  const response = await fetch(`${service.url}/api/applications`, { headers: { authorization: `Bearer ${service.token}` } })
  t.is(response.status, 200)
  log.warn('a warning')
  const entries = lines.map(l => JSON.parse(l) as Record<string, any>)
  const warning = entries.find(e => e.msg === 'a warning')
  t.like(warning, { level: 40, component: 'dm' })
  t.is(typeof warning?.time, 'number')
  const request = entries.find(e => e.req?.url === '/api/applications')
  t.like(request, { level: 30, component: 'rest', req: { method: 'GET' } })
  t.true(entries.some(e => e.res?.statusCode === 200 && e.component === 'rest'))
  t.false(lines.join('').includes(service.token), 'the token is never logged')

  const readable: string[] = []
  const person = createDmLog({ readable: true, level: 'warn', write: line => { readable.push(line) } })
  person.info('not shown at warn')
  person.error('it broke')
  t.deepEqual(readable.map(l => l.replace(/^\d\d:\d\d:\d\d /, '')), ['ERROR [dm] it broke\n'])
})

test('an agent\'s params set its least log level; a wrong one is refused naming the field', async t => {
  const { createAgentProcessLogger } = await import('../agent/main.js')
  const { parseAgentParams } = await import('../protocol/agent-params.js')
  const base = { application: 'a', scopedInstancePath: '/vm', stateDir: '/tmp/x', messaging: { kind: 'embedded', url: 'ws://127.0.0.1:1/agents', token: 't' }, ipAddress: '127.0.0.1' }
  t.is(parseAgentParams({ ...base, logLevel: 'warn' }, 'p.json').logLevel, 'warn')
  t.throws(() => parseAgentParams({ ...base, logLevel: 'loud' }, 'p.json'), { message: /field "logLevel": expected one of info, warn, error, got "loud"/ })
  const dir = tempDir('obs-agent-log')
  t.teardown(() => { dir.remove() })
  const file = join(dir.path, 'agent.log')
  const stderr: string[] = []
  const logger = createAgentProcessLogger({ application: 'shop', scopedInstancePath: '/vm', logFile: file, logLevel: 'warn' }, { readable: false, write: line => { stderr.push(line) } })
  logger.info('routine')
  logger.warn('watch out', { path: '/vm/db' })
  logger.error('the machine itself')
  await logger.close()
  const { readFileSync } = await import('node:fs')
  // the same JSON line on stderr and in the params' logFile, with the application and the instance path
  t.is(stderr.join(''), readFileSync(file, 'utf8'))
  t.is(stderr.length, 2)
  t.like(JSON.parse(stderr[0]), { level: 40, component: 'agent', application: 'shop', path: '/vm/db', msg: 'watch out' })
  t.like(JSON.parse(stderr[1]), { level: 50, component: 'agent', application: 'shop', path: '/vm', msg: 'the machine itself' })
})

test('an agent\'s log ring: each line attributed to its instance and step, timed, bounded, read after a cursor or by tail', async t => {
  const { LogRing } = await import('../agent/log-ring.js')
  const ring = new LogRing(400)
  const before = Date.now()
  ring.add('info', 'agent connected')
  t.like(ring.add('warn', '[/vm1/db] start: script scripts/start.sh (stderr): slow disk'), { instance: '/vm1/db', step: 'start' })
  const running = ring.add('info', '[/vm1/db] running start')
  t.is(running.instance, '/vm1/db')
  t.is(running.step, undefined)
  const { lines, lastSeq } = ring.read()
  t.is(lastSeq, 3)
  t.like(lines[1], { seq: 2, level: 'warn', instance: '/vm1/db', step: 'start' })
  t.true(lines.every(l => Date.parse(l.at) >= before - 1 && l.at.endsWith('Z')), 'ISO times')
  t.deepEqual(ring.read({ instance: '/vm1' }).lines.map(l => l.seq), [2, 3])
  t.deepEqual(ring.read({ afterSeq: 2 }).lines.map(l => l.seq), [3])
  t.deepEqual(ring.read({ tail: 1 }).lines.map(l => l.seq), [3])
  for (let i = 0; i < 20; i++) ring.add('info', `line ${i}`)
  const kept = ring.read().lines
  t.true(kept.length < 23 && kept.at(-1)?.message === 'line 19', 'the oldest lines went')
})

test('a process\'s log lines reach its file at the end of their turn, and at once when it exits, throws or is killed a turn later', async t => {
  const { spawn } = await import('node:child_process')
  const { readFileSync } = await import('node:fs')
  const dir = tempDir('obs-log-exit')
  t.teardown(() => { dir.remove() })
  const run = async (mode: 'exit' | 'throw' | 'wait'): Promise<{ code: number | null, stderr: string, text: string }> => {
    const file = join(dir.path, `${mode}.log`)
    const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test', 'log-exit-fixture.ts'), file, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', chunk => { stderr += String(chunk) })
    const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    if (mode === 'wait') {
      // one turn after the lines were logged: a kill -9 leaves them in the file
      await new Promise<void>(resolve => { child.stdout.on('data', chunk => { if (String(chunk).includes('logged')) resolve() }) })
      child.kill('SIGKILL')
    }
    const code = await exited
    return { code, stderr, text: readFileSync(file, 'utf8') }
  }
  const messages = (text: string): string[] => text.trim().split('\n').map(l => (JSON.parse(l) as { msg: string }).msg)
  const exit = await run('exit')
  t.is(exit.code, 3)
  t.deepEqual(messages(exit.text), ['first line', 'second line'], 'process.exit in the turn that logged')
  const thrown = await run('throw')
  t.is(thrown.code, 1)
  t.regex(thrown.stderr, /boom/)
  t.deepEqual(messages(thrown.text), ['first line', 'second line'], 'an uncaught exception in that turn')
  const killed = await run('wait')
  t.deepEqual(messages(killed.text), ['first line', 'second line'], 'kill -9 a turn later')
})
