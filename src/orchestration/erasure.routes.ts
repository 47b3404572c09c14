import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, forgetCallerIdentity, secured } from '../http/auth.ts'
import { preconditionOf } from '../http/etag.ts'
import { authProblems, IfMatchHeaders, problems } from '../http/schemas.ts'
import { eraseUser } from './erasure.service.ts'

/** Erasure: the one use case that reaches into every capability a person touched. */
export const erasureRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.delete(
    '/v1/me',
    {
      schema: {
        summary: 'Erase me: leave every partnership and be forgotten (If-Match: the profile ETag)',
        description:
          'Leaves every partnership (as DELETE …/members/me), discards your drafts, stops your webhooks, invitations and calendar feeds, and destroys the key of every text only you wrote (review notes, decline reasons, incident descriptions and notes, appreciations): they read `null` with `erased: true` from now on, in backups too. Agreement versions others signed stay: they belong to the partnership. Your profile is blanked and your identity replaced by a random one: this token and every token issued before now are refused, and signing in again later starts a new account. Take your data first: GET /v1/me/export.',
        operationId: 'eraseMe',
        tags: ['me'],
        security: secured('profile:write'),
        headers: IfMatchHeaders,
        response: { 204: z.undefined().describe('You were erased'), ...authProblems, ...problems(412, 428) }
      }
    },
    async (request, reply) => {
      const { userId, principal } = callerOf(request)
      await eraseUser(deps, {
        userId,
        issuer: principal.issuer,
        subject: principal.subject,
        precondition: preconditionOf(request)
      })
      forgetCallerIdentity(request)
      return reply.code(204).send()
    }
  )
}
