import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, pageOf } from '../http/pagination.ts'
import { authProblems, pgInt, problems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import {
  CheckpointSchema,
  CheckpointVerificationSchema,
  EventSchema,
  EventsQuerySchema,
  VerificationSchema,
  VerifyCheckpointsSchema
} from './audit.schemas.ts'
import { eventsPageBody, verifyChain } from './audit.service.ts'
import { issueCheckpoint, verifyCheckpoints } from './checkpoint.service.ts'

const tags = ['audit']
const AfterSeqCursor = z.object({ seq: pgInt() })

export const auditRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/v1/partnerships/:pid/events',
    {
      schema: {
        summary: 'The audit log, oldest first (`after` a seq, or a cursor)',
        operationId: 'listEvents',
        tags,
        security: secured('audit:read'),
        params: PartnershipParamsSchema,
        querystring: EventsQuerySchema,
        response: { 200: pageOf(EventSchema), ...authProblems }
      }
    },
    async (request, reply) => {
      const fromCursor = decodeCursor(request.query.cursor, AfterSeqCursor)
      const body = await eventsPageBody(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        afterSeq: fromCursor?.seq ?? request.query.after ?? 0,
        limit: request.query.limit
      })
      // Already JSON (the items rendered by the database to the response schema), as bytes: sent as is.
      return reply
        .type('application/json; charset=utf-8')
        .send(body as unknown as z.infer<ReturnType<typeof pageOf<typeof EventSchema>>>)
    }
  )

  app.get(
    '/v1/partnerships/:pid/audit/verify',
    {
      schema: {
        summary: 'Recompute the hash chain and report the first broken link',
        operationId: 'verifyAuditChain',
        tags,
        security: secured('audit:read'),
        params: PartnershipParamsSchema,
        response: { 200: VerificationSchema, ...authProblems }
      }
    },
    async (request) => {
      return verifyChain(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
    }
  )

  app.get(
    '/v1/partnerships/:pid/audit/checkpoint',
    {
      schema: {
        summary: "The log's head signed by the service: keep it to detect a rewritten history later",
        operationId: 'getAuditCheckpoint',
        tags,
        security: secured('audit:read'),
        params: PartnershipParamsSchema,
        response: { 200: CheckpointSchema, ...authProblems }
      }
    },
    async (request) => issueCheckpoint(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
  )

  app.post(
    '/v1/partnerships/:pid/audit/verify',
    {
      schema: {
        summary: 'Check kept checkpoints against the log as it is now',
        operationId: 'verifyAuditCheckpoints',
        tags,
        security: secured('audit:read'),
        params: PartnershipParamsSchema,
        body: VerifyCheckpointsSchema,
        response: { 200: CheckpointVerificationSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request) =>
      verifyCheckpoints(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        checkpoints: request.body.checkpoints
      })
  )
}
