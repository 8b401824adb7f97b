// Autonomic rules (`rules.autonomic/*.drl`, reference §6.4):
// `rule "<name>" [sleep period is <n>[s]] [time window is <n>[s]] when <event> then <command>[;|newline ...] end`,
// and meshconf's `[min|max instances of <Component> is <n>]` before `when`.
import { modelError } from './errors.js'
import type { AutonomicRule, ModelError } from './types.js'

const RULE = /^\s*rule\s+"([^"]*)"\s+([\s\S]*)when\s+([\s\S]+)\s+then\s+([\s\S]+)\s+end\s*$/i

/** Parses one rule file. Comments: `#`, `//` and `/* *\/`. */
export function parseRule (text: string, file: string): { rule?: AutonomicRule, errors: ModelError[] } {
  const stripped = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(\/\/|#).*$/gm, '').trim()
  const m = RULE.exec(stripped)
  if (m === null) return { errors: [modelError('RULE_INVALID_SYNTAX', file, undefined)] }
  const name = m[1].trim()
  const eventName = m[3].trim()
  const commands = m[4].split(/;|\r?\n/).map(s => s.trim()).filter(s => s !== '')
  const errors: ModelError[] = []
  if (name === '') errors.push(modelError('RULE_EMPTY_NAME', file, undefined))
  if (eventName === '') errors.push(modelError('RULE_EMPTY_WHEN', file, undefined))
  if (commands.length === 0) errors.push(modelError('RULE_EMPTY_THEN', file, undefined))
  const rule: AutonomicRule = { name, eventName, commands }
  const sleep = /\bsleep period is\s+(\d+)s?/i.exec(m[2])
  if (sleep !== null) rule.sleepPeriodSeconds = Number(sleep[1])
  const window = /\btime window is\s+(\d+)s?/i.exec(m[2])
  if (window !== null) rule.timeWindowSeconds = Number(window[1])
  // meshconf's bounds (Roboconf ignores what it does not know before 'when'): `min|max instances of <Component> is <n>`
  for (const bound of m[2].matchAll(/\b(min|max) instances of\s+(\S+)\s+is\s+(\d+)/gi)) {
    const limits = (rule.instanceLimits ??= {})
    const entry = (limits[bound[2]] ??= {})
    if (bound[1].toLowerCase() === 'min') entry.min = Number(bound[3])
    else entry.max = Number(bound[3])
  }
  return errors.length === 0 ? { rule, errors } : { errors }
}
