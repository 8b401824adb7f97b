// The local target's launcher (launcher.ts starts it once, beside the DM): a small Node process that starts agent
// processes for the DM. Forking is cheap here and dear in the DM: a fork copies the forking process's page tables,
// and every page the forking process writes until its child has exec'd faults, and a DM holds far more memory than
// this process. Requests come on stdin, a JSON line each: { id, command, log, env, cwd }; each answer is a line on
// stdout: { id, pid } once the process runs, or { id, error, code } when it could not start. The agents are detached
// (their own process group) and outlive this process; it exits when the DM closes its stdin (the DM stopped or died).
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'

interface LaunchRequest {
  id: number
  command: string[]
  log: string
  env: Record<string, string>
  cwd?: string
}

function answer (reply: object): void {
  process.stdout.write(JSON.stringify(reply) + '\n')
}

function launch (request: LaunchRequest): void {
  let log: number | undefined
  try {
    log = openSync(request.log, 'a')
    const child = spawn(request.command[0], request.command.slice(1), {
      cwd: request.cwd, env: request.env, detached: true, stdio: ['ignore', log, log]
    })
    child.once('spawn', () => { answer({ id: request.id, pid: child.pid }); child.unref() })
    child.once('error', (err: NodeJS.ErrnoException) => answer({ id: request.id, error: err.message, code: err.code }))
  } catch (err) {
    answer({ id: request.id, error: (err as Error).message, code: (err as NodeJS.ErrnoException).code })
  } finally {
    if (log !== undefined) closeSync(log)
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  let request: LaunchRequest
  try {
    request = JSON.parse(line) as LaunchRequest
  } catch {
    return // only the DM writes here
  }
  launch(request)
})
lines.on('close', () => process.exit(0))
