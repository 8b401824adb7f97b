// GET /api/events: the event history, or with a WebSocket upgrade the live events, after replaying the stored ones
// the query asks for (`after` an id, `since` a time).
import type { FastifyInstance } from 'fastify'
import { errorMessage } from '../../protocol/errors.js'
import { MAX_EVENTS_PER_QUERY } from '../constants.js'
import type { DeploymentManager, PublishedEvent } from '../dm.js'
import { parseSince } from '../events.js'
import * as s from './schemas.js'

/** WebSocket close code of an events stream whose query is wrong (a bad `since`). */
const EVENTS_BAD_QUERY_CLOSE_CODE = 4400

interface EventsQuery { application?: string, app?: string, path?: string, since?: string, limit?: string, after?: string }

/** Registers the route; each live stream is added to `sockets` (closed when the server stops) until it closes. */
export function registerEventsRoute (app: FastifyInstance, dm: DeploymentManager, sockets: Set<{ close: () => void }>): void {
  app.route({
    method: 'GET',
    url: '/api/events',
    schema: { querystring: s.eventsQuery },
    handler: async (request) => {
      const query = request.query as EventsQuery
      const limit = query.limit === undefined ? MAX_EVENTS_PER_QUERY : Math.min(Number(query.limit), MAX_EVENTS_PER_QUERY)
      return dm.history({
        application: query.app ?? query.application, path: query.path, limit,
        ...(query.since === undefined ? {} : { sinceMs: parseSince(query.since) }),
        ...(query.after === undefined ? {} : { afterId: Number(query.after) })
      })
    },
    wsHandler: (socket, request) => {
      const query = request.query as EventsQuery
      const only = query.app ?? query.application
      const wanted = (event: { type: string, application?: string }): boolean =>
        only === undefined || (event.type !== 'template' && event.application === only)
      // The replay and the subscription happen in one turn of the event loop: no event falls between them, and
      // every live one has a greater id than the replayed ones.
      if (query.after !== undefined || query.since !== undefined) {
        let sinceMs: number | undefined
        try {
          sinceMs = query.since === undefined ? undefined : parseSince(query.since)
        } catch (err) {
          socket.close(EVENTS_BAD_QUERY_CLOSE_CODE, errorMessage(err).slice(0, 120))
          return
        }
        const replay = dm.history({
          application: only,
          ...(query.after === undefined ? {} : { afterId: Number(query.after) }),
          ...(sinceMs === undefined ? {} : { sinceMs })
        })
        for (const stored of replay) socket.send(JSON.stringify({ ...stored.body, id: stored.id }))
      }
      const unsubscribe = dm.onEvent((event: PublishedEvent) => {
        if (wanted(event as { type: string, application?: string })) socket.send(JSON.stringify(event))
      })
      const entry = { close: () => socket.close() }
      sockets.add(entry)
      socket.on('close', () => { unsubscribe(); sockets.delete(entry) })
      socket.on('error', () => { unsubscribe(); sockets.delete(entry) })
    }
  })
}
