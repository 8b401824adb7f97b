// An opt-in timestamped trace of the hot path, from an owner's state change to its importers' `update`
// (docs/perf-trace.md). With MESHCONF_TRACE_DIR set, a process keeps one record per trace point (CLOCK_MONOTONIC ns,
// point, detail), and also each TCP write and read of its sockets (ports and bytes), and writes them to
// `<dir>/<pid>.trace` when it exits. CLOCK_MONOTONIC is one clock for every process of a host, so the records of an
// owner and of its importers merge into one timeline; a socket's ports pair a write with the read at the other end.
// Off (the default), `trace` is one test of a constant.
import { subscribe } from 'node:diagnostics_channel'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Socket } from 'node:net'

const dir = process.env.MESHCONF_TRACE_DIR ?? ''
/** Whether this process traces (MESHCONF_TRACE_DIR is set). */
export const tracing = dir !== ''

/** Records kept at most, in entries (about 100 bytes each): a long-running traced process must not grow without end. */
export const MAX_TRACE_RECORDS = 500_000

const records: string[] = []

/** Records `point` now, with `detail` (no spaces needed; the rest of the line). */
export function trace (point: string, detail = ''): void {
  if (!tracing || records.length >= MAX_TRACE_RECORDS) return
  records.push(`${process.hrtime.bigint()} ${point} ${detail}`)
}

/** Where a socket's records say it goes: `<local port>><remote port>`, the reverse of its other end's. */
function portsOf (socket: Socket): string {
  return `${socket.localPort ?? 0}>${socket.remotePort ?? 0}`
}

/** Records every read of a TCP socket (the bytes, not their content). */
function watchReads (socket: Socket): void {
  socket.on('data', (chunk: Buffer) => { trace('tcp.read', `${portsOf(socket)} ${chunk.byteLength}`) })
}

/**
 * Records every write of a TCP socket. On the prototype: a socket accepted by a server is announced on its diagnostics
 * channel only after the server's 'connection' handlers ran, too late to wrap its own `write`.
 */
function watchWrites (): void {
  const write = Socket.prototype.write as (...args: unknown[]) => boolean
  Socket.prototype.write = function (this: Socket, ...args: unknown[]): boolean {
    const chunk = args[0]
    if (this.remotePort !== undefined) trace('tcp.write', `${portsOf(this)} ${typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength}`)
    return write.apply(this, args)
  } as typeof Socket.prototype.write
}

if (tracing) {
  mkdirSync(dir, { recursive: true })
  watchWrites()
  subscribe('net.client.socket', message => { watchReads((message as { socket: Socket }).socket) })
  subscribe('net.server.socket', message => { watchReads((message as { socket: Socket }).socket) })
  process.on('exit', () => {
    writeFileSync(join(dir, `${process.pid}.trace`), records.join('\n') + '\n')
  })
}
