// The DM's link to the Docker Engine API, on its unix socket (dockerode): one place that says what to install and
// start when no daemon answers, for the docker target and `meshconf image build` alike.
import Docker from 'dockerode'
import { DEFAULT_DOCKER_SOCKET } from './constants.js'

/** No Docker Engine answers on the socket (not installed, not started, or no permission). */
export class DockerUnavailableError extends Error {
  constructor (readonly socketPath: string, cause: string) {
    super(`no Docker Engine answers at ${socketPath} (${cause}): install Docker (Debian: apt-get install docker.io) ` +
      'and start it (systemctl start docker, or run dockerd in the background), run as root or a member of the docker ' +
      'group, or point meshconf at the right socket (the docker target\'s docker.socket property, or --socket)')
    this.name = 'DockerUnavailableError'
  }
}

/** The Engine refused a request (a name already taken, a bad subnet, …): what it said and what was asked. */
export class DockerRequestError extends Error {
  constructor (what: string, cause: string) {
    super(`Docker Engine: ${what} failed: ${cause}`)
    this.name = 'DockerRequestError'
  }
}

export interface DockerEngine {
  readonly docker: Docker
  readonly socketPath: string
  /**
   * Runs one Engine request: a socket that is missing or refuses becomes DockerUnavailableError, an error answer
   * DockerRequestError naming `what`.
   */
  request<T> (what: string, call: (docker: Docker) => Promise<T>): Promise<T>
  /** The same, but a 404 answer (no such container, network or image) resolves undefined. */
  requestOrMissing<T> (what: string, call: (docker: Docker) => Promise<T>): Promise<T | undefined>
}

const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'ECONNRESET'])

/** The status code and message of an Engine error answer (dockerode puts them on the error). */
function engineAnswer (err: unknown): { statusCode?: number, message: string, code?: string } {
  const e = err as { statusCode?: number, json?: { message?: string }, message?: string, code?: string }
  return { statusCode: e.statusCode, message: e.json?.message ?? e.message ?? String(err), code: e.code }
}

/** A client of the Engine at `socketPath` (default /var/run/docker.sock); nothing is dialled until a request. */
export function createDockerEngine (socketPath: string = DEFAULT_DOCKER_SOCKET): DockerEngine {
  const docker = new Docker({ socketPath })
  const wrap = (what: string, err: unknown): Error => {
    const answer = engineAnswer(err)
    if (answer.code !== undefined && UNREACHABLE_CODES.has(answer.code)) return new DockerUnavailableError(socketPath, `${answer.code}: ${answer.message}`)
    return new DockerRequestError(what, answer.message.trim())
  }
  return {
    docker,
    socketPath,
    async request<T> (what: string, call: (d: Docker) => Promise<T>): Promise<T> {
      try {
        return await call(docker)
      } catch (err) {
        throw wrap(what, err)
      }
    },
    async requestOrMissing<T> (what: string, call: (d: Docker) => Promise<T>): Promise<T | undefined> {
      try {
        return await call(docker)
      } catch (err) {
        if (engineAnswer(err).statusCode === 404) return undefined
        throw wrap(what, err)
      }
    }
  }
}

/** Reads an Engine progress stream (image load) to its end; an error line in it rejects. */
export async function followProgress (engine: DockerEngine, what: string, stream: NodeJS.ReadableStream): Promise<Array<Record<string, unknown>>> {
  return await new Promise((resolve, reject) => {
    engine.docker.modem.followProgress(stream, (err: Error | null, output: Array<Record<string, unknown>>) => {
      if (err !== null) { reject(new DockerRequestError(what, err.message)); return }
      const failed = output.find(line => line.error !== undefined)
      if (failed !== undefined) { reject(new DockerRequestError(what, String(failed.error))); return }
      resolve(output)
    })
  })
}
