import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { AcceptedInvitationSchema, AcceptInvitationSchema } from '../invitations/invitation.schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import { joinPartnership } from './join.service.ts'
import { leavePartnership, removeObserver } from './leave.service.ts'

/** Joining and leaving: the membership changes that reach into every capability of a partnership. */
export const membershipRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/v1/invitations/accept',
    {
      schema: {
        summary: 'Join a partnership with an invitation token',
        operationId: 'acceptInvitation',
        tags: ['invitations'],
        security: secured('partnerships:write'),
        body: AcceptInvitationSchema,
        response: { 201: AcceptedInvitationSchema, ...authProblems, ...problems(409, 410, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const joined = await joinPartnership(deps, { token: request.body.token, userId: callerOf(request).userId })
      return reply.code(201).header('location', `/v1/partnerships/${joined.partnershipId}`).send(joined)
    }
  )

  app.delete(
    '/v1/partnerships/:pid/members/me',
    {
      schema: {
        summary: 'Leave the partnership (always allowed; access ends at once)',
        operationId: 'leavePartnership',
        tags: ['partnerships'],
        security: secured('partnerships:write'),
        params: PartnershipParamsSchema,
        response: { 204: z.undefined().describe('You left'), ...authProblems }
      }
    },
    async (request, reply) => {
      await leavePartnership(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
      return reply.code(204).send()
    }
  )

  app.delete(
    '/v1/partnerships/:pid/members/:userId',
    {
      schema: {
        summary:
          "Withdraw your consent to an observer: their access ends at once (a partner's own leave is members/me)",
        description:
          "Any one partner may end an observer's membership: every partner approved the observer, and each may " +
          'withdraw that consent. Appends `member.left` with the partner as its actor and `data.reason` ' +
          '`consent-withdrawn`. Partners cannot be removed (403): they leave on their own.',
        operationId: 'removeObserver',
        tags: ['partnerships'],
        security: secured('partnerships:write'),
        params: MemberParamsSchema,
        response: { 204: z.undefined().describe('The observer was removed'), ...authProblems }
      }
    },
    async (request, reply) => {
      await removeObserver(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        observerId: request.params.userId
      })
      return reply.code(204).send()
    }
  )
}

const MemberParamsSchema = z.object({ pid: z.uuid(), userId: z.uuid() })
