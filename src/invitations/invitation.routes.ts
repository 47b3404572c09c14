import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import {
  CreatedInvitationSchema,
  CreateInvitationSchema,
  InvitationParamsSchema,
  InvitationSchema,
  toInvitation
} from './invitation.schemas.ts'
import {
  approveInvitation,
  createInvitation,
  getInvitation,
  listInvitations,
  revokeInvitation
} from './invitation.service.ts'

const tags = ['invitations']
const AfterIdCursor = z.object({ id: z.uuid() })
const at = (pid: string, iid: string) => `/v1/partnerships/${pid}/invitations/${iid}`

export const invitationRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/v1/partnerships/:pid/invitations',
    {
      schema: {
        summary: 'Invite a partner or an observer (partners; the token is shown once)',
        operationId: 'createInvitation',
        tags,
        security: secured('partnerships:write'),
        params: PartnershipParamsSchema,
        body: CreateInvitationSchema,
        response: { 201: CreatedInvitationSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const { view, token } = await createInvitation(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        role: request.body.role,
        expiresAt: request.body.expiresAt
      })
      return reply
        .code(201)
        .header('location', at(request.params.pid, view.invitation.id))
        .send({ ...toInvitation(view), token })
    }
  )

  app.get(
    '/v1/partnerships/:pid/invitations',
    {
      schema: {
        summary: 'Invitations of the partnership (never their tokens)',
        operationId: 'listInvitations',
        tags,
        security: secured('partnerships:read'),
        params: PartnershipParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(InvitationSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, AfterIdCursor)
      const rows = await listInvitations(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (v) => ({ id: v.invitation.id }))
      return { items: page.items.map(toInvitation), nextCursor: page.nextCursor }
    }
  )

  app.get(
    '/v1/partnerships/:pid/invitations/:iid',
    {
      schema: {
        summary: 'One invitation',
        operationId: 'getInvitation',
        tags,
        security: secured('partnerships:read'),
        params: InvitationParamsSchema,
        response: { 200: InvitationSchema, ...authProblems }
      }
    },
    async (request) => {
      return toInvitation(
        await getInvitation(deps, {
          partnershipId: request.params.pid,
          invitationId: request.params.iid,
          userId: callerOf(request).userId
        })
      )
    }
  )

  app.delete(
    '/v1/partnerships/:pid/invitations/:iid',
    {
      schema: {
        summary: 'Revoke a pending invitation (partners)',
        operationId: 'revokeInvitation',
        tags,
        security: secured('partnerships:write'),
        params: InvitationParamsSchema,
        response: { 204: z.undefined().describe('Revoked'), ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      await revokeInvitation(deps, {
        partnershipId: request.params.pid,
        invitationId: request.params.iid,
        userId: callerOf(request).userId
      })
      return reply.code(204).send()
    }
  )

  app.post(
    '/v1/partnerships/:pid/invitations/:iid/approvals',
    {
      schema: {
        summary: 'Approve an observer invitation (each partner must)',
        operationId: 'approveInvitation',
        tags,
        security: secured('partnerships:write'),
        params: InvitationParamsSchema,
        response: { 201: InvitationSchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request, reply) => {
      const view = await approveInvitation(deps, {
        partnershipId: request.params.pid,
        invitationId: request.params.iid,
        userId: callerOf(request).userId
      })
      return reply.code(201).header('location', at(request.params.pid, view.invitation.id)).send(toInvitation(view))
    }
  )
}
