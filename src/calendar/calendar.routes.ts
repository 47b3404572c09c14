import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, publicRoute, secured } from '../http/auth.ts'
import { pageOf } from '../http/pagination.ts'
import { authProblems, DateTimeSchema, problems } from '../http/schemas.ts'
import { CalendarFeedSchema, toCalendarFeed } from './calendar.schemas.ts'
import { calendarFeed, createCalendarToken, listCalendarTokens, revokeCalendarToken } from './calendar.service.ts'

const tags = ['calendar']
const CalendarTokenSchema = z
  .object({
    id: z.uuid(),
    token: z.string().meta({ description: 'Shown only in this response; Accord keeps only its hash' }),
    url: z.string().meta({ description: 'The feed to subscribe to in any calendar app' }),
    createdAt: DateTimeSchema
  })
  .meta({ id: 'CalendarToken' })

export const calendarRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/v1/me/calendar-tokens',
    {
      schema: {
        summary: 'Create a secret calendar feed of your upcoming reviews',
        operationId: 'createCalendarToken',
        tags,
        security: secured('profile:write'),
        response: { 201: CalendarTokenSchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request, reply) => {
      const created = await createCalendarToken(deps, callerOf(request).userId)
      return reply
        .code(201)
        .header('location', `/v1/me/calendar-tokens/${created.id}`)
        .send({ ...created, createdAt: created.createdAt.toISOString() })
    }
  )

  app.get(
    '/v1/me/calendar-tokens',
    {
      schema: {
        summary: 'Your working calendar feeds (never their secrets), oldest first',
        operationId: 'listCalendarTokens',
        tags,
        security: secured('profile:write'),
        response: { 200: pageOf(CalendarFeedSchema), ...authProblems }
      }
    },
    async (request) => {
      const feeds = await listCalendarTokens(deps, callerOf(request).userId)
      return {
        items: feeds.map(toCalendarFeed),
        nextCursor: null
      }
    }
  )

  app.delete(
    '/v1/me/calendar-tokens/:id',
    {
      schema: {
        summary: 'Revoke a calendar feed',
        operationId: 'revokeCalendarToken',
        tags,
        security: secured('profile:write'),
        params: z.object({ id: z.uuid() }),
        response: { 204: z.undefined().describe('Revoked'), ...authProblems }
      }
    },
    async (request, reply) => {
      await revokeCalendarToken(deps, { userId: callerOf(request).userId, id: request.params.id })
      return reply.code(204).send()
    }
  )

  app.get(
    '/v1/calendar/:file',
    {
      schema: {
        summary: 'The iCalendar feed (the secret in the URL is the credential)',
        operationId: 'getCalendarFeed',
        tags,
        security: publicRoute,
        params: z.object({ file: z.string().regex(/^acc_cal_[A-Za-z0-9_-]{43}\.ics$/, 'a calendar URL') }),
        response: {
          200: { description: 'An RFC 5545 calendar', content: { 'text/calendar': { schema: z.string() } } },
          ...problems(400, 404, 429)
        }
      }
    },
    async (request, reply) => {
      const body = await calendarFeed(deps, request.params.file.slice(0, -'.ics'.length))
      return reply
        .type('text/calendar; charset=utf-8')
        .header('cache-control', 'private, max-age=300')
        .serializer((s) => s as string)
        .send(body)
    }
  )
}
