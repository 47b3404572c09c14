import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, pageOf, paginate } from '../http/pagination.ts'
import { authProblems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import { EventSchema, EventsQuerySchema, VerificationSchema } from './audit.schemas.ts'
import { listEvents, verifyChain } from './audit.service.ts'

const tags = ['audit']

export const auditRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/v1/partnerships/:pid/events', {
    schema: { summary: 'The audit log, oldest first (`after` a seq, or a cursor)', operationId: 'listEvents', tags, security: secured('audit:read'), params: PartnershipParamsSchema, querystring: EventsQuerySchema, response: { 200: pageOf(EventSchema), ...authProblems } }
  }, async (request) => {
    const fromCursor = decodeCursor(request.query.cursor, z.object({ seq: z.int().min(0) }))
    const afterSeq = fromCursor?.seq ?? request.query.after ?? 0
    const rows = await listEvents(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId, afterSeq, limit: request.query.limit + 1 })
    return paginate(rows, request.query.limit, (e) => ({ seq: e.seq }))
  })

  app.get('/v1/partnerships/:pid/audit/verify', {
    schema: { summary: 'Recompute the hash chain and report the first broken link', operationId: 'verifyAuditChain', tags, security: secured('audit:read'), params: PartnershipParamsSchema, response: { 200: VerificationSchema, ...authProblems } }
  }, async (request) => {
    return verifyChain(deps, { partnershipId: request.params.pid, userId: callerOf(request).userId })
  })
}
