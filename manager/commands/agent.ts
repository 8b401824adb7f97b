// `meshconf agent --params FILE`: runs the agent of one machine until SIGTERM or SIGINT (what a VM image starts at
// boot: deploy/meshconf-agent.service). The params file is described in agent/params.ts.
// `meshconf agent view --state-dir DIR` (or `--params FILE`): asks the agent running there for its mesh view.
import type { Command } from 'commander'
import type { DomainView } from '../../agent/index.js'
import { readAgentParams } from '../../protocol/agent-params.js'
import { readPidFile, readViewFile, VIEW_SIGNAL, viewFileOf, type AgentViewDocument } from '../../agent/view.js'
import { isAgentAlive } from '../targets/process.js'
import { isDocument, isoTime, printDocument, withOutputOptions, type OutputOptions } from './format.js'
import { usageError } from './output.js'

/** How long `meshconf agent view` waits for the agent to write its view once signalled, in ms. */
export const AGENT_VIEW_TIMEOUT_MS = 5000

export function registerAgentCommand (program: Command): void {
  const agent = program.command('agent')
    .description('run the agent of this machine (connects to the DM, deploys its instances, joins the mesh)')
    // Not required here: `agent view` takes it too (commander gives it to this command), or --state-dir instead.
    .option('--params <file>', 'the agent params JSON file (application, scoped instance, state folder, DM endpoint …)')
    .action(async (options: { params?: string }, command: Command) => {
      if (options.params === undefined) usageError(command, 'required option \'--params <file>\' not specified')
      // loaded on demand: libp2p is heavy, and no other command needs it
      const { runAgentProcess } = await import('../../agent/index.js')
      process.exitCode = await runAgentProcess(options.params)
    })
  withOutputOptions(agent.command('view')
    .description('print the mesh view of the agent running on this machine: the exports it holds, from which peer, since when')
    .option('--state-dir <dir>', 'the agent\'s state folder (or give its --params file)'))
    .configureHelp({ showGlobalOptions: true })
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<{ stateDir?: string, params?: string } & OutputOptions>()
      if ((options.stateDir === undefined) === (options.params === undefined)) usageError(command, 'give either --state-dir <dir> or --params <file>')
      const stateDir = options.stateDir ?? readAgentParams(options.params as string).stateDir
      const document = await requestAgentView(stateDir)
      if (isDocument(options)) await printDocument(options, agentViewDocument(document))
      else process.stdout.write(formatAgentView(document).join('\n') + '\n')
    })
}

/**
 * The view in the CLI's JSON convention: times the agent writes as ms since 1970 become ISO-8601 (`writtenAt`,
 * `ownershipExpiresAt`, a held export's `since` as `firstHeldAt`); durations stay `…Ms`.
 */
export function agentViewDocument (document: AgentViewDocument): object {
  const { mesh } = document
  return {
    ...document,
    writtenAt: isoTime(document.writtenAt),
    mesh: mesh === null
      ? null
      : {
          ...mesh,
          ownershipExpiresAt: isoTime(mesh.ownershipExpiresAt),
          held: mesh.held.map(({ since, ...held }) => ({ ...held, firstHeldAt: isoTime(since) })),
          ...(mesh.domain === undefined
            ? {}
            : {
                domain: {
                  ...mesh.domain,
                  ownershipExpiresAt: isoTime(mesh.domain.ownershipExpiresAt),
                  held: mesh.domain.held.map(({ since, ...held }) => ({ ...held, firstHeldAt: isoTime(since) }))
                }
              })
        }
  }
}

/** Signals the agent running on `stateDir` and returns the view it writes; throws a clear error when none runs. */
export async function requestAgentView (stateDir: string): Promise<AgentViewDocument> {
  const record = await readPidFile(stateDir)
  if (record === undefined || !isAgentAlive(record)) {
    throw new Error(`no agent runs on state folder ${stateDir} (${record === undefined ? 'no agent.pid in it' : `process ${record.pid} of its agent.pid is gone`}): ` +
      'start it with `meshconf agent --params FILE`')
  }
  // A view written after the signal differs from the one before it (compared as written: no clock involved).
  const previous = (await readViewFile(stateDir))?.writtenAt
  process.kill(record.pid, VIEW_SIGNAL)
  const deadline = Date.now() + AGENT_VIEW_TIMEOUT_MS
  while (Date.now() < deadline) {
    const document = await readViewFile(stateDir)
    if (document !== undefined && document.pid === record.pid && document.writtenAt !== previous) return document
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`the agent (pid ${record.pid}) did not write ${viewFileOf(stateDir)} within ${AGENT_VIEW_TIMEOUT_MS} ms of ${VIEW_SIGNAL}: see its log`)
}

const list = (items: string[]): string => items.length === 0 ? 'none' : items.join(', ')
const counts = (rejections: Partial<Record<string, number>>): string[] => Object.entries(rejections).map(([reason, count]) => `${reason} ${count ?? 0}`)

/** Rows as a table: each column as wide as its widest cell. */
function table (rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(row => row[i].length)))
  return rows.map(row => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd())
}

/**
 * The domain exchange's part of the view (agents that export or import across applications): its peer and peers,
 * what it exports to other applications, its bindings, the external imports it holds (from which application and
 * instance), lost owners and rejected messages.
 */
function formatDomainView (domain: DomainView): string[] {
  const rows = [['PREFIX', 'FROM APPLICATION', 'INSTANCE', 'FROM PEER', 'HELD SINCE']]
  for (const h of domain.held) rows.push([h.prefix, h.application, h.instancePath, h.peerId, new Date(h.since).toISOString()])
  const expiry = domain.ownershipExpiresAt === undefined ? '' : ` (external ownership expires ${new Date(domain.ownershipExpiresAt).toISOString()})`
  return [
    `domain exchange: peer ${domain.peerId}, connected peers: ${domain.connectedPeers.length}; lost owners: ${list(domain.suspects)}; rejected messages: ${list(counts(domain.rejections))}`,
    `exports to other applications: ${list(domain.announced.map(a => `${a.prefix} of ${a.instancePath}`))}${expiry}`,
    `external imports: ${list(domain.interests)}; bindings: ${list(domain.bindings.map(b => `${b.prefix} from ${b.exporters.length === 0 ? 'no application' : b.exporters.join(', ')} (version ${b.version})`))}`,
    ...(domain.held.length === 0 ? ['holds no external export'] : table(rows))
  ]
}

/** The view as lines for a terminal: a summary, then one row per held export; then the domain exchange's part. */
export function formatAgentView (document: AgentViewDocument, now = Date.now()): string[] {
  const head = `agent ${document.scopedInstancePath} (${document.application}), pid ${document.pid}`
  const mesh = document.mesh
  if (mesh === null) return [head, 'no mesh yet: the agent waits for its model from the DM']
  const rejections = counts(mesh.rejections)
  const rows = [['PREFIX', 'INSTANCE', 'FROM PEER', 'EPOCH/SEQ', 'HELD SINCE', 'LAST ANNOUNCE']]
  for (const h of mesh.held) {
    rows.push([h.prefix, h.instancePath, h.peerId === mesh.peerId ? `${h.peerId} (this agent)` : h.peerId, `${h.epoch}/${h.seq}`,
      new Date(h.since).toISOString(), `${((h.ageMs + now - document.writtenAt) / 1000).toFixed(1)} s ago`])
  }
  return [
    `${head}, peer ${mesh.peerId}, epoch ${mesh.epoch}`,
    `listening on: ${list(mesh.addresses)}`,
    `connected peers: ${mesh.connectedPeers.length}; imports: ${list(mesh.interests)}; lost owners: ${list(mesh.suspects)}; rejected messages: ${list(rejections)}`,
    `announces: ${list(mesh.announced.map(a => `${a.prefix} of ${a.instancePath}`))}`,
    ...(mesh.held.length === 0 ? ['holds no export'] : table(rows)),
    ...(mesh.domain === undefined ? [] : formatDomainView(mesh.domain))
  ]
}
