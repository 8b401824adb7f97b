// GET /api/applications/:app/console/log?path=&tail=: the tail of a machine's agent log, for the web console's
// drawer. Only what the DM host itself holds: the log file of a machine of the local or netns target
// (<machines folder>/<handler>/<machine id>/agent.log). For a machine elsewhere, or none yet, the answer says why
// (`available: false` and `reason`: the page asks for every drawer it opens, and a 404 would be a console error).
// Reads at most the file's last MAX_LOG_READ_BYTES.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyRequest } from 'fastify'
import { DATA_MACHINE_ID, DATA_TARGET_HANDLER } from '../constants.js'
import type { DeploymentManager } from '../dm.js'
import { machineFiles } from '../targets/process.js'
import { machineFolder } from '../targets/local.js'
import { applicationParams, instancePath } from './schemas.js'
import type { RouteSpec } from './server.js'

/** Most bytes read from the end of a log file. */
export const MAX_LOG_READ_BYTES = 64 * 1024
/** Lines answered by default, and at most. */
export const DEFAULT_LOG_LINES = 40
export const MAX_LOG_LINES = 500
/** Targets whose machines' folders are on the DM host. */
const HOST_TARGETS = new Set(['local', 'netns'])

/** The last `lines` lines of at most the last MAX_LOG_READ_BYTES of `file` (a first partial line dropped). */
export function tailOf (file: string, lines: number): string[] {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, MAX_LOG_READ_BYTES)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    const all = buffer.toString('utf8').split('\n')
    if (length < size) all.shift()
    if (all.at(-1) === '') all.pop()
    return all.slice(-lines)
  } finally {
    closeSync(fd)
  }
}

export function consoleLogRoutes (dm: DeploymentManager, machinesDirectory: string | undefined): RouteSpec[] {
  if (machinesDirectory === undefined) return []
  return [{
    method: 'GET', url: '/api/applications/:app/console/log',
    summary: 'the tail of the agent log of the machine carrying an instance, when the machine runs on the DM host (local, netns targets)',
    params: applicationParams,
    querystring: {
      type: 'object', additionalProperties: false, required: ['path'],
      properties: { path: instancePath, tail: { type: 'string', pattern: '^\\d{1,3}$', description: `lines, 1 to ${MAX_LOG_LINES} (default ${DEFAULT_LOG_LINES})` } }
    },
    responses: { 200: { type: 'object', properties: { machine: { type: 'string' }, available: { type: 'boolean' }, reason: { type: 'string' }, lines: { type: 'array', items: { type: 'string' } } } } },
    handler: async (request: FastifyRequest) => {
      const { app } = request.params as { app: string }
      const query = request.query as { path: string, tail?: string }
      const machine = '/' + query.path.split('/')[1]
      const { data } = dm.instance(app, machine)
      const handler = data[DATA_TARGET_HANDLER]
      const machineId = data[DATA_MACHINE_ID]
      const unavailable = (reason: string): object => ({ machine, available: false, reason, lines: [] })
      if (machineId === undefined || handler === undefined) return unavailable(`${machine} has no machine (not deployed)`)
      if (!HOST_TARGETS.has(handler)) return unavailable(`the target of ${machine} (${handler}) runs it away from the DM host`)
      const file = machineFiles(machineFolder(join(machinesDirectory, handler), machineId)).log
      if (!existsSync(file)) return unavailable(`the agent of ${machine} has written no log yet`)
      const lines = Math.max(1, Math.min(MAX_LOG_LINES, Number(query.tail ?? DEFAULT_LOG_LINES)))
      return { machine, available: true, lines: tailOf(file, lines) }
    }
  }]
}
