import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AgreementParamsSchema } from '../agreements/agreement.schemas.ts'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { RespondSchema, ReviewParamsSchema, ReviewSchema, toReview } from './review.schemas.ts'
import { openEarlyReview, respondToReview } from './review.service.ts'
import { getReview, listMyOpenReviewsJson, listReviews } from './review-read.service.ts'

const tags = ['reviews']
const IdCursor = z.object({ id: z.uuid() })

export const reviewRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const base = '/v1/partnerships/:pid/agreements/:aid/reviews'

  app.post(
    base,
    {
      schema: {
        summary: 'Open an early review of an active agreement (one open review at a time)',
        operationId: 'openReview',
        tags,
        security: secured('reviews:write'),
        params: AgreementParamsSchema,
        response: { 201: ReviewSchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request, reply) => {
      const { pid, aid } = request.params
      const view = await openEarlyReview(deps, {
        partnershipId: pid,
        agreementId: aid,
        userId: callerOf(request).userId
      })
      return reply
        .code(201)
        .header('location', `/v1/partnerships/${pid}/agreements/${aid}/reviews/${view.review.id}`)
        .send(toReview(view))
    }
  )

  app.get(
    base,
    {
      schema: {
        summary: 'Reviews of an agreement',
        operationId: 'listReviews',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(ReviewSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, IdCursor)
      const rows = await listReviews(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (v) => ({ id: v.review.id }))
      return { items: page.items.map(toReview), nextCursor: page.nextCursor }
    }
  )

  app.get(
    `${base}/:rid`,
    {
      schema: {
        summary: 'One review with its answers',
        operationId: 'getReview',
        tags,
        security: secured('agreements:read'),
        params: ReviewParamsSchema,
        response: { 200: ReviewSchema, ...authProblems }
      }
    },
    async (request) => {
      return toReview(
        await getReview(deps, {
          partnershipId: request.params.pid,
          agreementId: request.params.aid,
          reviewId: request.params.rid,
          userId: callerOf(request).userId
        })
      )
    }
  )

  app.put(
    `${base}/:rid/responses/me`,
    {
      schema: {
        summary: 'Answer keep, revise or retire with a rating (changeable while the review is open)',
        operationId: 'respondToReview',
        tags,
        security: secured('reviews:write'),
        params: ReviewParamsSchema,
        body: RespondSchema,
        response: { 200: ReviewSchema, ...authProblems, ...problems(409, 413, 415) }
      }
    },
    async (request) => {
      const { pid, aid, rid } = request.params
      return toReview(
        await respondToReview(deps, {
          partnershipId: pid,
          agreementId: aid,
          reviewId: rid,
          userId: callerOf(request).userId,
          outcome: request.body.outcome,
          rating: request.body.rating,
          note: request.body.note ?? null
        })
      )
    }
  )

  app.get(
    '/v1/me/reviews',
    {
      schema: {
        summary: 'Open reviews across all your partnerships',
        operationId: 'listMyReviews',
        tags,
        security: secured('agreements:read'),
        querystring: PageQuerySchema.extend({ status: z.enum(['open']).default('open') }),
        response: { 200: pageOf(ReviewSchema), ...authProblems }
      }
    },
    async (request, reply) => {
      const after = decodeCursor(request.query.cursor, IdCursor)
      const body = await listMyOpenReviewsJson(deps, {
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit
      })
      // Already JSON in the schema's shape and key order (review.render.ts; a test holds it equal): sent as is.
      return reply
        .type('application/json; charset=utf-8')
        .send(body as unknown as z.infer<ReturnType<typeof pageOf<typeof ReviewSchema>>>)
    }
  )
}
