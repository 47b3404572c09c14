import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { eventStreamSink } from '../http/event-stream-sink.ts'
import { authProblems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import { EventStreamHeadersSchema, EventStreamQuerySchema } from './audit.schemas.ts'
import { resumeAfter } from './event-stream.rules.ts'
import { createEventStreams } from './event-stream.service.ts'

const STREAM_DESCRIPTION = [
  'Server-Sent Events (`text/event-stream`), one message per event of the log as it commits, in seq order,',
  'each exactly once: `id:` the seq, `event:` the type, `data:` the event JSON exactly as `GET …/events`',
  'shows it. The stream opens with `retry: 1000` and a comment line (`: heartbeat`) comes at least every',
  '30 seconds. It resumes after `Last-Event-ID` (what EventSource sends when it reconnects) or `?after=`:',
  'the events missed are sent first, then the live ones. A member who leaves has the stream ended at once;',
  'the stream ends when the token it was opened with expires (reconnect with a fresh one).'
].join(' ')

/** setTimeout's longest delay (about 24.8 days): a token valid for longer has its stream ended then. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The live log: Server-Sent Events written straight to the connection (the answer never ends on its own). */
export const eventStreamRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const streams = createEventStreams(deps)
  deps.metrics.gauge({
    name: 'accord_sse_subscribers',
    help: 'Event streams open (or admitted and opening) on this instance',
    collect: (gauge) => gauge.set(streams.size)
  })
  // Before the server stops accepting and waits for connections: an open stream would hold shutdown up.
  app.addHook('preClose', (done) => {
    streams.close()
    done()
  })

  app.get(
    '/v1/partnerships/:pid/events/stream',
    {
      // A HEAD would hold a place among the streams for a body it never sends.
      exposeHeadRoute: false,
      schema: {
        summary: 'Follow the audit log live (Server-Sent Events; `Last-Event-ID` resumes)',
        operationId: 'streamEvents',
        tags: ['audit'],
        security: secured('audit:read'),
        params: PartnershipParamsSchema,
        querystring: EventStreamQuerySchema,
        headers: EventStreamHeadersSchema,
        response: {
          200: { description: STREAM_DESCRIPTION, content: { 'text/event-stream': { schema: z.string() } } },
          ...authProblems
        }
      }
    },
    async (request, reply) => {
      const ticket = await streams.admit({
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        afterSeq: resumeAfter(request.headers['last-event-id'], request.query.after)
      })
      // Connection: close, so that a stream ended on shutdown takes its connection with it (an idle keep-alive one
      // left behind would hold app.close() until it timed out).
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('x-accel-buffering', 'no')
        .header('connection', 'close')
      reply.hijack() // the request's deadline bounds its handling, not how long a client follows the log
      clearTimeout(request.deadline ?? undefined)
      reply.raw.writeHead(200, reply.getHeaders() as OutgoingHttpHeaders)
      const sink = eventStreamSink(reply.raw)
      // The stream lasts as long as the token it was opened with: a stolen or revoked-by-expiry token does not keep
      // reading the log. The client reconnects (Last-Event-ID) with its fresh token and misses nothing.
      const left = callerOf(request).principal.expiresAt * 1000 - deps.now().getTime()
      const expiry = setTimeout(
        () => {
          sink.write(': the token expired\n\n')
          sink.end()
        },
        Math.min(Math.max(left, 0), MAX_TIMER_MS)
      )
      expiry.unref()
      sink.onClose(() => clearTimeout(expiry))
      ticket.start(sink)
    }
  )
}
