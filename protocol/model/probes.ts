// Probes (reference §6.4): `probes/<Component>.measures`, with values from `<Component>.measures.properties`, as
// Roboconf's MonitoringRunnable reads them: sections `[EVENT <handler> <eventName>]`, `#` comment lines, `{{ key }}`
// replaced by the properties, else (meshconf) by the instance's own exported variable of that name, full (`Tomcat.port`)
// or local (`port`): a probe can reach the instance's own service at its generated port. Handlers: `file` (`Delete if exists <path>`, `Notify if not exists <path>`, or a path
// that notifies while it exists), `rest` (`Check <url> THAT <field> <op> <number>`) and meshconf's `script`
// (`Check <program> [args...] THAT value <op> <number>`: the first number the program prints). Pure code.
import { parseProperties } from './properties.js'

/** Default period of the agents' probes, in milliseconds (Roboconf: 20 s). */
export const DEFAULT_PROBE_PERIOD_MS = 5_000
/** Shortest probe period, in milliseconds. */
export const MIN_PROBE_PERIOD_MS = 1_000
/** Longest probe period, in milliseconds (1 h): beyond it a timer would overflow, and no rule could react. */
export const MAX_PROBE_PERIOD_MS = 3_600_000

/** Why a probe period cannot be used, or undefined when it can (a whole number of ms within the bounds). */
export function probePeriodProblem (ms: number): string | undefined {
  if (!Number.isSafeInteger(ms) || ms < MIN_PROBE_PERIOD_MS || ms > MAX_PROBE_PERIOD_MS) {
    return `a probe period is a whole number of milliseconds from ${MIN_PROBE_PERIOD_MS} (1 s) to ${MAX_PROBE_PERIOD_MS} (1 h), got ${ms}`
  }
  return undefined
}

/** The period a probe loop uses: the one given, brought within the bounds; the default when there is none. */
export function effectiveProbePeriodMs (ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_PROBE_PERIOD_MS
  return Math.min(MAX_PROBE_PERIOD_MS, Math.max(MIN_PROBE_PERIOD_MS, Math.round(ms)))
}

export type ComparisonOperator = '=' | '==' | '<' | '>' | '<=' | '>='

export type ProbeCheck =
  | { handler: 'file', eventName: string, path: string, mode: 'delete-if-exists' | 'notify-if-not-exists' | 'notify-if-exists' }
  | { handler: 'rest', eventName: string, url: string, field: string, operator: ComparisonOperator, threshold: number }
  | { handler: 'script', eventName: string, program: string, args: string[], operator: ComparisonOperator, threshold: number }

export interface ParsedProbes { checks: ProbeCheck[], problems: string[] }

/** The files of a component's probes under probes/. */
export function probeFilesOf (component: string): string[] {
  return [`${component}.measures`, `${component}.measures.properties`]
}

const SECTION = /^\[event\s+(\S+)\s+(\S+)\s*\]/i
const CONDITION = /^(\S+)\s+(==|=|>=|>|<=|<)\s+(\S+)$/

/** Most sections read from one measures file: a huge file must not make an agent run thousands of checks. */
export const MAX_PROBE_SECTIONS = 50

export function compare (value: number, operator: ComparisonOperator, threshold: number): boolean {
  switch (operator) {
    case '=': case '==': return value === threshold
    case '<': return value < threshold
    case '>': return value > threshold
    case '<=': return value <= threshold
    case '>=': return value >= threshold
  }
}

/**
 * Parses a measures file; what cannot be understood is reported, not thrown. `variables`: the instance's exported
 * variables by full name (`Tomcat.port`), also found by their local name (`port`) when no property has that name.
 */
export function parseMeasures (text: string, propertiesText?: string, variables: Record<string, string | null> = {}): ParsedProbes {
  const properties = new Map<string, string>()
  for (const [name, value] of Object.entries(variables)) {
    if (value === null) continue
    properties.set(name, value)
    const local = name.slice(name.lastIndexOf('.') + 1)
    if (!properties.has(local)) properties.set(local, value)
  }
  if (propertiesText !== undefined) for (const [k, v] of parseProperties(propertiesText)) properties.set(k, v.value)
  const expand = (line: string): string => line.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (all, key: string) => properties.get(key) ?? all)
  const sections: Array<{ handler: string, eventName: string, lines: string[] }> = []
  const problems: string[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const header = SECTION.exec(line)
    if (header !== null) {
      if (sections.length >= MAX_PROBE_SECTIONS) { problems.push(`more than ${MAX_PROBE_SECTIONS} sections: the rest is ignored`); break }
      sections.push({ handler: header[1].toLowerCase(), eventName: header[2], lines: [] })
    } else if (sections.length > 0) sections[sections.length - 1].lines.push(expand(line))
  }
  const checks: ProbeCheck[] = []
  for (const { handler, eventName, lines } of sections) {
    const body = lines.join(' ').trim()
    const where = `[EVENT ${handler} ${eventName}]`
    if (handler === 'file') {
      if (lines.length !== 1) { problems.push(`${where}: a file probe is one line (Delete if exists <path>, Notify if not exists <path>, or a path)`); continue }
      const lower = body.toLowerCase()
      if (lower.startsWith('delete if exists')) checks.push({ handler, eventName, path: body.slice(16).trim(), mode: 'delete-if-exists' })
      else if (lower.startsWith('notify if not exists')) checks.push({ handler, eventName, path: body.slice(20).trim(), mode: 'notify-if-not-exists' })
      else checks.push({ handler, eventName, path: body, mode: 'notify-if-exists' })
      continue
    }
    if (handler === 'rest' || handler === 'script') {
      const m = /^check\s+(.+?)\s+that\s+(.+)$/is.exec(body)
      const condition = m === null ? null : CONDITION.exec(m[2].trim())
      const threshold = condition === null ? NaN : Number(condition[3])
      if (m === null || condition === null || !Number.isFinite(threshold)) {
        problems.push(`${where}: write Check ${handler === 'rest' ? '<url> THAT <field>' : '<program> [args...] THAT value'} <op> <number> (op: = == < > <= >=)`)
        continue
      }
      const operator = condition[2] as ComparisonOperator
      if (handler === 'rest') checks.push({ handler, eventName, url: m[1].trim(), field: condition[1], operator, threshold })
      else {
        const [program, ...args] = m[1].trim().split(/\s+/)
        checks.push({ handler, eventName, program, args, operator, threshold })
      }
      continue
    }
    problems.push(`${where}: unknown handler ${handler} (file, rest or script)`)
  }
  return { checks, problems }
}
