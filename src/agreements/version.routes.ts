import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { preconditionOf, setEtag } from '../http/etag.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, IfMatchHeaders, pgInt, problems } from '../http/schemas.ts'
import {
  AgreementParamsSchema,
  DiffQuerySchema,
  ProposeVersionSchema,
  toVersion,
  UpdateDraftSchema,
  VersionParamsSchema,
  VersionSchema
} from './agreement.schemas.ts'
import { diffVersions, getVersion, listVersions } from './agreement.service.ts'
import { deleteDraft, proposeDraft, updateDraft } from './draft.service.ts'
import { proposeVersion } from './proposal.service.ts'

const tags = ['versions']
const AfterNumberCursor = z.object({ n: pgInt() })
const versionUrl = (pid: string, aid: string, n: number) => `/v1/partnerships/${pid}/agreements/${aid}/versions/${n}`
const Change = <T extends z.ZodType>(t: T) => z.object({ from: t, to: t })
const DiffSchema = z
  .object({
    from: z.int(),
    to: z.int(),
    diff: z.object({
      title: Change(z.string()).optional(),
      category: Change(z.string()).optional(),
      kind: Change(z.string()).optional(),
      clauses: z.object({
        added: z.array(z.unknown()),
        removed: z.array(z.unknown()),
        changed: z.array(z.looseObject({ key: z.string() }))
      }),
      review: z.object({ rrule: Change(z.string()).optional(), time: Change(z.string()).optional() }).optional(),
      note: Change(z.string().nullable()).optional()
    })
  })
  .meta({ id: 'VersionDiff' })

export const versionRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const base = '/v1/partnerships/:pid/agreements/:aid/versions'

  app.get(
    base,
    {
      schema: {
        summary: 'Every version of an agreement, oldest first',
        operationId: 'listVersions',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(VersionSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, AfterNumberCursor)
      const rows = await listVersions(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId,
        afterNumber: after?.n ?? 0,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (v) => ({ n: v.version.number }))
      return { items: page.items.map(toVersion), nextCursor: page.nextCursor }
    }
  )

  app.post(
    base,
    {
      schema: {
        summary: "Propose a new version (If-Match: the agreement's ETag), or draft it",
        operationId: 'proposeVersion',
        tags,
        security: secured('agreements:write'),
        params: AgreementParamsSchema,
        headers: IfMatchHeaders,
        body: ProposeVersionSchema,
        response: { 201: VersionSchema, ...authProblems, ...problems(409, 412, 413, 415, 422, 428) }
      }
    },
    async (request, reply) => {
      const { pid, aid } = request.params
      const b = request.body
      const userId = callerOf(request).userId
      const { version } = await proposeVersion(deps, {
        partnershipId: pid,
        agreementId: aid,
        userId,
        precondition: preconditionOf(request),
        basedOn: b.basedOn,
        counterTo: b.counterTo,
        kind: b.kind,
        content: b.content ?? { note: b.note ?? null },
        draft: b.draft
      })
      const view = await getVersion(deps, { partnershipId: pid, agreementId: aid, number: version.number, userId })
      return setEtag(reply, version.revision)
        .code(201)
        .header('location', versionUrl(pid, aid, version.number))
        .send(toVersion(view))
    }
  )

  app.get(
    `${base}/:n`,
    {
      schema: {
        summary: 'One version, with its live signatures',
        operationId: 'getVersion',
        tags,
        security: secured('agreements:read'),
        params: VersionParamsSchema,
        response: { 200: VersionSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const view = await getVersion(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        number: request.params.n,
        userId: callerOf(request).userId
      })
      return setEtag(reply, view.version.revision).send(toVersion(view))
    }
  )

  app.patch(
    `${base}/:n`,
    {
      schema: {
        summary: 'Edit a draft (its author; If-Match)',
        operationId: 'updateDraft',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        headers: IfMatchHeaders,
        body: UpdateDraftSchema,
        response: { 200: VersionSchema, ...authProblems, ...problems(409, 412, 413, 415, 428) }
      }
    },
    async (request, reply) => {
      const { pid, aid, n } = request.params
      const userId = callerOf(request).userId
      const updated = await updateDraft(deps, {
        partnershipId: pid,
        agreementId: aid,
        number: n,
        userId,
        precondition: preconditionOf(request),
        content: request.body.content
      })
      return setEtag(reply, updated.revision).send(toVersion({ version: updated, signatures: [] }))
    }
  )

  app.delete(
    `${base}/:n`,
    {
      schema: {
        summary: 'Discard a draft (its author)',
        operationId: 'deleteDraft',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        response: { 204: z.undefined().describe('Discarded'), ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      await deleteDraft(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        number: request.params.n,
        userId: callerOf(request).userId
      })
      return reply.code(204).send()
    }
  )

  app.post(
    `${base}/:n/propose`,
    {
      schema: {
        summary: 'Propose a draft as it stands (its author; counts as their signature)',
        operationId: 'proposeDraft',
        tags,
        security: secured('agreements:write'),
        params: VersionParamsSchema,
        response: { 200: VersionSchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request) => {
      const { pid, aid, n } = request.params
      const userId = callerOf(request).userId
      await proposeDraft(deps, { partnershipId: pid, agreementId: aid, number: n, userId })
      return toVersion(await getVersion(deps, { partnershipId: pid, agreementId: aid, number: n, userId }))
    }
  )

  app.get(
    `${base}/:n/diff`,
    {
      schema: {
        summary: 'What changed from version `against` to this one, clause by clause',
        operationId: 'diffVersions',
        tags,
        security: secured('agreements:read'),
        params: VersionParamsSchema,
        querystring: DiffQuerySchema,
        response: { 200: DiffSchema, ...authProblems }
      }
    },
    async (request) => {
      const result = await diffVersions(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        number: request.params.n,
        against: request.query.against,
        userId: callerOf(request).userId
      })
      // VersionDiff is an interface (no index signature); the response schema checks its shape on the way out.
      return result as unknown as z.infer<typeof DiffSchema>
    }
  )
}
