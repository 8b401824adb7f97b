// Counts the timer callbacks a process runs, by where they were armed, for the idle measure (idle.ts --timers): loaded
// before a process's code with `--import`, it wraps the global setTimeout, setInterval and setImmediate, and writes its
// counts to `$MESHCONF_TIMER_COUNT_DIR/<pid>.json` every TIMER_COUNT_WRITE_MS (an unref'd timer of its own, not counted).
// Each arming takes a stack trace: the counts are what a process does, its CPU under this module is not what it costs.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** How often the counts are written, in ms. */
const TIMER_COUNT_WRITE_MS = 5000
/** Stack frames kept to name where a timer was armed (the wrapper's own frame is dropped). */
const SITE_FRAMES = 3

const dir = process.env.MESHCONF_TIMER_COUNT_DIR
if (dir !== undefined && dir !== '') {
  const fired = new Map<string, number>()
  const site = (kind: string, delay: unknown): string => {
    const frames = (new Error().stack ?? '').split('\n').slice(3, 3 + SITE_FRAMES).map(l => l.trim().replace(/^at /, ''))
    return `${kind} ${typeof delay === 'number' ? Math.round(delay) : 0} ms | ${frames.join(' < ')}`
  }
  const counted = <A extends unknown[]>(where: string, callback: (...args: A) => void) => (...args: A): void => {
    fired.set(where, (fired.get(where) ?? 0) + 1)
    callback(...args)
  }
  const { setTimeout: timeout, setInterval: interval, setImmediate: immediate } = globalThis
  const wrap = (name: 'setTimeout' | 'setInterval' | 'setImmediate', original: (...a: any[]) => any): void => {
    const wrapped = (callback: unknown, ...rest: unknown[]): unknown => typeof callback === 'function'
      ? original(counted(site(name, name === 'setImmediate' ? 0 : rest[0]), callback as (...a: unknown[]) => void), ...rest)
      : original(callback, ...rest)
    Object.assign(wrapped, original)
    ;(globalThis as any)[name] = wrapped
  }
  wrap('setTimeout', timeout)
  wrap('setInterval', interval)
  wrap('setImmediate', immediate)
  const file = join(dir, `${process.pid}.json`)
  const write = (): void => { writeFileSync(file, JSON.stringify(Object.fromEntries(fired))) }
  interval(write, TIMER_COUNT_WRITE_MS).unref()
  process.on('exit', write)
}
