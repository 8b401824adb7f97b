// The agent's log: plug-ins write recipe output here, tagged with the instance path.

export interface AgentLogger {
  info (message: string): void
  warn (message: string): void
  error (message: string): void
}

/** Writes to stderr with a level and an ISO timestamp (stdout is left to the process's own use). */
export const consoleLogger: AgentLogger = {
  info: message => { process.stderr.write(`${new Date().toISOString()} INFO ${message}\n`) },
  warn: message => { process.stderr.write(`${new Date().toISOString()} WARN ${message}\n`) },
  error: message => { process.stderr.write(`${new Date().toISOString()} ERROR ${message}\n`) }
}
