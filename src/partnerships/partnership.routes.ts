import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { preconditionOf, setEtag } from '../http/etag.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, IfMatchHeaders, problems } from '../http/schemas.ts'
import {
  CreatePartnershipSchema,
  MemberSchema,
  PartnershipParamsSchema,
  PartnershipSchema,
  toMember,
  toPartnership,
  UpdatePartnershipSchema
} from './partnership.schemas.ts'
import {
  createPartnership,
  getPartnership,
  listMembers,
  listPartnerships,
  updatePartnership
} from './partnership.service.ts'

const tags = ['partnerships']
const AfterIdCursor = z.object({ id: z.uuid() })

export const partnershipRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/v1/partnerships',
    {
      schema: {
        summary: 'Create a partnership (you become its first partner)',
        operationId: 'createPartnership',
        tags,
        security: secured('partnerships:write'),
        body: CreatePartnershipSchema,
        response: { 201: PartnershipSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const { partnership, members } = await createPartnership(deps, {
        userId: callerOf(request).userId,
        ...request.body
      })
      return setEtag(reply, partnership.revision)
        .code(201)
        .header('location', `/v1/partnerships/${partnership.id}`)
        .send(toPartnership(partnership, members))
    }
  )

  app.get(
    '/v1/partnerships',
    {
      schema: {
        summary: 'The partnerships you are a member of',
        operationId: 'listPartnerships',
        tags,
        security: secured('partnerships:read'),
        querystring: PageQuerySchema,
        response: { 200: pageOf(PartnershipSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, AfterIdCursor)
      const rows = await listPartnerships(deps, {
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (r) => ({ id: r.partnership.id }))
      return { items: page.items.map((r) => toPartnership(r.partnership, r.members)), nextCursor: page.nextCursor }
    }
  )

  app.get(
    '/v1/partnerships/:pid',
    {
      schema: {
        summary: 'A partnership and its members',
        operationId: 'getPartnership',
        tags,
        security: secured('partnerships:read'),
        params: PartnershipParamsSchema,
        response: { 200: PartnershipSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const { partnership, members } = await getPartnership(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId
      })
      return setEtag(reply, partnership.revision).send(toPartnership(partnership, members))
    }
  )

  app.patch(
    '/v1/partnerships/:pid',
    {
      schema: {
        summary: 'Rename a partnership or change its time zone (partners; If-Match)',
        operationId: 'updatePartnership',
        tags,
        security: secured('partnerships:write'),
        params: PartnershipParamsSchema,
        headers: IfMatchHeaders,
        body: UpdatePartnershipSchema,
        response: { 200: PartnershipSchema, ...authProblems, ...problems(409, 412, 413, 415, 428) }
      }
    },
    async (request, reply) => {
      const { partnership, members } = await updatePartnership(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        precondition: preconditionOf(request),
        patch: request.body
      })
      return setEtag(reply, partnership.revision).send(toPartnership(partnership, members))
    }
  )

  app.get(
    '/v1/partnerships/:pid/members',
    {
      schema: {
        summary: 'Current members',
        operationId: 'listMembers',
        tags,
        security: secured('partnerships:read'),
        params: PartnershipParamsSchema,
        response: { 200: pageOf(MemberSchema), ...authProblems }
      }
    },
    async (request) => {
      const members = await listMembers(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
      return { items: members.map(toMember), nextCursor: null }
    }
  )
}
