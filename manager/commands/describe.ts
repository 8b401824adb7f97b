// `meshconf describe <app> [path]`: why an instance is where it is (every instance of the application without a
// path): its state and since when, the problem that holds and the last one, the machine carrying it, its exports,
// the imports it holds (from which instance, since when) and those it misses, its last events.
import type { Command } from 'commander'
import type { InstanceDescription } from '../client.js'
import type { CommandRegistration } from '../cli.js'
import { eventLine } from './events.js'
import { isDocument, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { connect, flattenInstances, formatProblem, formatStatus, parseInstancePath, useColor, withDmOptions, type DmOptions } from './output.js'

/** An instance described for people, one fact a line. */
export function describeLines (d: InstanceDescription, color: boolean): string[] {
  const lines = [`${d.path} (${d.component})  ${formatStatus(d.status, color)}${d.since !== undefined ? ` since ${d.since}` : ''}`]
  if (d.currentProblem !== undefined) lines.push(`  problem: ${d.currentProblem}`)
  if (d.lastProblem !== undefined) lines.push('  last problem:', ...formatProblem(d.lastProblem).map(l => `    ${l}`))
  const m = d.machine
  const facts = [
    `${m.path} ${m.status}`,
    ...(m.target !== undefined ? [`target ${m.target}${m.handler !== undefined ? ` (${m.handler})` : ''}`] : []),
    ...(m.machineId !== undefined ? [`id ${m.machineId}`] : []),
    ...(m.ipAddress !== undefined ? [`ip ${m.ipAddress}`] : [])
  ]
  lines.push(`  machine: ${facts.join(', ')}`)
  if (m.peerId !== undefined || m.lastHeartbeat !== undefined) {
    lines.push(`  agent: peer ${m.peerId ?? 'unknown'}, version ${m.agentVersion ?? 'unknown'}, last heartbeat ${m.lastHeartbeat ?? 'never'}`)
  }
  const exports = Object.entries(d.exports)
  lines.push(exports.length === 0 ? '  exports: none' : '  exports:', ...exports.map(([k, v]) => `    ${k} = ${v ?? '(no value)'}`))
  lines.push(d.imports.held.length === 0 ? '  imports held: none' : '  imports held:',
    ...d.imports.held.map(h => `    ${h.prefix}.* from ${h.from} (${h.component})${h.since !== undefined ? ` since ${h.since}` : ''}: ` +
      Object.entries(h.variables).map(([k, v]) => `${k}=${v ?? ''}`).join(', ')))
  lines.push(d.imports.missing.length === 0 ? '  imports missing: none' : `  imports missing: ${d.imports.missing.map(p => `${p}.* (no exporter yet)`).join(', ')}`)
  lines.push(d.events.length === 0 ? '  events: none' : `  last ${d.events.length} events:`, ...d.events.map(e => `    ${eventLine(e)}`))
  return lines
}

async function describe (app: string, path: string | undefined, options: DmOptions & OutputOptions): Promise<void> {
  const client = connect(options)
  const paths = path !== undefined ? [path] : flattenInstances(await client.getInstances(app)).map(n => n.path)
  const described: InstanceDescription[] = []
  for (const p of paths) described.push(await client.describeInstance(app, p))
  if (isDocument(options)) {
    await printDocument(options, path !== undefined ? { instance: described[0] } : { instances: described })
    return
  }
  const color = useColor()
  process.stdout.write(described.map(d => describeLines(d, color).join('\n')).join('\n\n') + '\n')
}

export const registerDescribeCommand: CommandRegistration = (program: Command) => {
  withOutputOptions(withDmOptions(program.command('describe')
    .description('why an instance is where it is: state, problems, machine, exports, imports held and missing, last events')
    .argument('<app>', 'application name')
    .argument('[path]', 'instance path, e.g. "/Apache VM/Apache" (default: every instance)', parseInstancePath)))
    .action(async (app: string, path: string | undefined, options: DmOptions & OutputOptions) => { await describe(app, path, options) })
}
