// What the tests of `meshconf simulate <scenario>` share: running the built CLI as a user does, reading its one JSON
// document against the shipped schema, and finding the processes a run left behind.
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { execa } from 'execa'
import { validateCliDocument as validate } from './helpers/cli-schema.js'
import { LAMP_DIR, processesMentioning } from './lamp-helpers.js'

export const ROOT = join(LAMP_DIR, '..', '..')
export const BIN = join(ROOT, 'bin', 'meshconf.js')

export interface Report { ok: boolean, startedAt: string, durationMs: number, steps: Array<{ name: string, ok: boolean, startedAt: string, durationMs: number, detail?: string }> }

/** `node bin/meshconf.js simulate <scenario> --wait=4m <args>` from the build, without throwing on a failure. */
export async function simulate (scenario: string, args: string[], options: { env?: Record<string, string> } = {}) {
  return await execa(process.execPath, [BIN, 'simulate', scenario, '--wait=4m', ...args], {
    cwd: ROOT, reject: false, timeout: 10 * 60_000, stdin: 'ignore', env: options.env
  })
}

/**
 * stdout must be exactly one JSON document of the report's shape, in the CLI's JSON convention (the shipped schema);
 * `extra`: the fields a scenario adds after the steps.
 */
export function parseReport<R extends Report = Report> (t: ExecutionContext, stdout: string, extra: string[] = []): R {
  const report = JSON.parse(stdout) as R
  t.true(validate(report), JSON.stringify(validate.errors))
  t.deepEqual(Object.keys(report), ['ok', 'startedAt', 'durationMs', 'steps', ...extra])
  t.is(typeof report.ok, 'boolean')
  let previous = Date.parse(report.startedAt)
  for (const s of report.steps) {
    t.is(typeof s.name, 'string')
    t.is(typeof s.ok, 'boolean')
    t.true(Number.isInteger(s.durationMs) && s.durationMs >= 0, JSON.stringify(s))
    // steps run one after the other, within the run
    t.true(Date.parse(s.startedAt) >= previous, JSON.stringify(s))
    previous = Date.parse(s.startedAt) + s.durationMs
  }
  t.true(previous <= Date.parse(report.startedAt) + report.durationMs + 1, JSON.stringify(report))
  return report
}

/**
 * The processes left of this run: those mentioning its data folder (its first step says where), not the ones of other
 * simulations running on the host meanwhile.
 */
export function leftOf (t: ExecutionContext, firstStep: string): string[] {
  const folder = /data in (\S*\/meshconf-simulate-[^\s,/]+)/.exec(firstStep)?.[1]
  if (folder === undefined) {
    t.fail(`no data folder in ${JSON.stringify(firstStep)}`)
    return []
  }
  return processesMentioning(folder + '/')
}

export function table (report: Report): string {
  return report.steps.map(s => `${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.durationMs} ms) ${s.detail ?? ''}`).join('\n')
}
