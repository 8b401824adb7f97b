// A bare HTTP server answering GET /metrics (Prometheus' text format) with no token: the agents' metrics, and the
// DM's on --metrics-port.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface MetricsEndpoint {
  port: number
  close (): Promise<void>
}

/** An HTTP server answering GET /metrics alone, with no token (the agents', and the DM's --metrics-port). */
export async function serveMetricsEndpoint (read: () => Promise<string>, contentType: string, host: string, port: number): Promise<MetricsEndpoint> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end('only GET /metrics here\n')
      return
    }
    read().then(text => { response.writeHead(200, { 'content-type': contentType }).end(text) },
      (err: Error) => { response.writeHead(500).end(`${err.message}\n`) })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(port, host, resolve) })
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => { await new Promise(resolve => server.close(resolve)) }
  }
}
