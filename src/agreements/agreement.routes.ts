import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { setEtag } from '../http/etag.ts'
import { decodeCursor, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import {
  AgreementDetailSchema,
  AgreementListQuerySchema,
  AgreementParamsSchema,
  AgreementSchema,
  CreateAgreementSchema,
  toAgreement,
  toAgreementDetail
} from './agreement.schemas.ts'
import { getAgreement, getAgreementJson, listAgreements } from './agreement.service.ts'
import { createAgreement } from './proposal.service.ts'

const tags = ['agreements']
const AfterIdCursor = z.object({ id: z.uuid() })

export const agreementRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/v1/partnerships/:pid/agreements',
    {
      schema: {
        summary: 'Propose a new agreement (version 1; your proposal is your signature), or save it as a draft',
        operationId: 'createAgreement',
        tags,
        security: secured('agreements:write'),
        params: PartnershipParamsSchema,
        body: CreateAgreementSchema,
        response: { 201: AgreementDetailSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const userId = callerOf(request).userId
      const { agreement } = await createAgreement(deps, {
        partnershipId: request.params.pid,
        userId,
        content: request.body.content,
        draft: request.body.draft
      })
      const detail = await getAgreement(deps, { partnershipId: request.params.pid, agreementId: agreement.id, userId })
      return setEtag(reply, detail.agreement.revision)
        .code(201)
        .header('location', `/v1/partnerships/${request.params.pid}/agreements/${agreement.id}`)
        .send(toAgreementDetail(detail))
    }
  )

  app.get(
    '/v1/partnerships/:pid/agreements',
    {
      schema: {
        summary: 'Agreements of the partnership, filtered by status and category',
        operationId: 'listAgreements',
        tags,
        security: secured('agreements:read'),
        params: PartnershipParamsSchema,
        querystring: AgreementListQuerySchema,
        response: { 200: pageOf(AgreementSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, AfterIdCursor)
      const rows = await listAgreements(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        status: request.query.status,
        category: request.query.category,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (a) => ({ id: a.id }))
      return { items: page.items.map(toAgreement), nextCursor: page.nextCursor }
    }
  )

  app.get(
    '/v1/partnerships/:pid/agreements/:aid',
    {
      schema: {
        summary: 'An agreement with its active version, open proposal and next review',
        operationId: 'getAgreement',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        response: { 200: AgreementDetailSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const { revision, body } = await getAgreementJson(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId
      })
      // Already JSON (rendered by the database to the response schema): a string with a JSON type is sent as is.
      return setEtag(reply, revision)
        .type('application/json; charset=utf-8')
        .send(body as unknown as z.infer<typeof AgreementDetailSchema>)
    }
  )
}
