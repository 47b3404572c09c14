import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AgreementParamsSchema } from '../agreements/agreement.schemas.ts'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import {
  AcknowledgeSchema,
  AddAppreciationSchema,
  AppreciationParamsSchema,
  AppreciationSchema,
  DisputeSchema,
  IncidentParamsSchema,
  IncidentQuerySchema,
  IncidentSchema,
  InsightsSchema,
  ReportIncidentSchema,
  ResolveSchema,
  toAppreciation,
  toIncident
} from './incident.schemas.ts'
import {
  addAppreciation,
  answerIncident,
  getAppreciation,
  getIncident,
  listAppreciations,
  listIncidents,
  reportIncident,
  resolveIncident
} from './incident.service.ts'
import { agreementInsights } from './insights.service.ts'

const tags = ['incidents']
const IdCursor = z.object({ id: z.uuid() })

export const incidentRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  const agreement = '/v1/partnerships/:pid/agreements/:aid'
  const base = `${agreement}/incidents`
  const target = (p: z.infer<typeof IncidentParamsSchema>, userId: string) => ({
    partnershipId: p.pid,
    agreementId: p.aid,
    incidentId: p.iid,
    userId
  })

  app.post(
    base,
    {
      schema: {
        summary: 'Report that a clause of the active version was crossed (self-reports welcome)',
        description:
          'By any partner, about a partner the clause applies to (yourself included). The incident keeps the clause and its agreed consequences as the active version wrote them. 409 `agreement-not-active` unless the agreement is active.',
        operationId: 'reportIncident',
        tags,
        security: secured('incidents:write'),
        params: AgreementParamsSchema,
        body: ReportIncidentSchema,
        response: { 201: IncidentSchema, ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      const { pid, aid } = request.params
      const incident = await reportIncident(deps, {
        partnershipId: pid,
        agreementId: aid,
        userId: callerOf(request).userId,
        ...request.body
      })
      return reply
        .code(201)
        .header('location', `/v1/partnerships/${pid}/agreements/${aid}/incidents/${incident.id}`)
        .send(toIncident(incident))
    }
  )

  app.get(
    base,
    {
      schema: {
        summary: 'Incidents of an agreement, oldest first (filter by status and clause)',
        operationId: 'listIncidents',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        querystring: PageQuerySchema.extend(IncidentQuerySchema.shape),
        response: { 200: pageOf(IncidentSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, IdCursor)
      const rows = await listIncidents(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId,
        status: request.query.status,
        clauseKey: request.query.clauseKey,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (i) => ({ id: i.id }))
      return { items: page.items.map(toIncident), nextCursor: page.nextCursor }
    }
  )

  app.get(
    `${base}/:iid`,
    {
      schema: {
        summary: 'One incident, with the clause and consequence as its version wrote them',
        operationId: 'getIncident',
        tags,
        security: secured('agreements:read'),
        params: IncidentParamsSchema,
        response: { 200: IncidentSchema, ...authProblems }
      }
    },
    async (request) => toIncident(await getIncident(deps, target(request.params, callerOf(request).userId)))
  )

  const answers = [
    [
      'acknowledge',
      'acknowledged',
      AcknowledgeSchema,
      'acknowledgeIncident',
      'Acknowledge it (its subject only), with an optional note'
    ],
    ['dispute', 'disputed', DisputeSchema, 'disputeIncident', 'Dispute it (its subject only), saying how you see it']
  ] as const
  for (const [path, answer, body, operationId, summary] of answers) {
    app.post(
      `${base}/:iid/${path}`,
      {
        schema: {
          summary,
          description:
            '403 `not-the-subject` for anyone but the partner the incident is about; 409 `incident-status` (with `incidentStatus`) unless it is `reported`.',
          operationId,
          tags,
          security: secured('incidents:write'),
          params: IncidentParamsSchema,
          body,
          response: { 200: IncidentSchema, ...authProblems, ...problems(409) }
        }
      },
      async (request) =>
        toIncident(
          await answerIncident(deps, {
            ...target(request.params, callerOf(request).userId),
            answer,
            note: request.body.note ?? null
          })
        )
    )
  }

  app.post(
    `${base}/:iid/resolve`,
    {
      schema: {
        summary: 'Resolve it (any partner), naming the agreed consequence applied, or null for none',
        description:
          "Once its subject acknowledged or disputed it (or, when the subject is no longer a partner, as it is). 409 `incident-status` (with `incidentStatus`) otherwise; 400 when `consequenceIndex` is not one of the clause's consequences.",
        operationId: 'resolveIncident',
        tags,
        security: secured('incidents:write'),
        params: IncidentParamsSchema,
        body: ResolveSchema,
        response: { 200: IncidentSchema, ...authProblems, ...problems(409) }
      }
    },
    async (request) =>
      toIncident(
        await resolveIncident(deps, {
          ...target(request.params, callerOf(request).userId),
          consequenceIndex: request.body.consequenceIndex,
          note: request.body.note
        })
      )
  )

  app.post(
    `${agreement}/appreciations`,
    {
      schema: {
        summary: 'Note a kept commitment (a small win), optionally naming the clause',
        operationId: 'addAppreciation',
        tags,
        security: secured('incidents:write'),
        params: AgreementParamsSchema,
        body: AddAppreciationSchema,
        response: { 201: AppreciationSchema, ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      const { pid, aid } = request.params
      const appreciation = await addAppreciation(deps, {
        partnershipId: pid,
        agreementId: aid,
        userId: callerOf(request).userId,
        text: request.body.text,
        clauseKey: request.body.clauseKey ?? null
      })
      return reply
        .code(201)
        .header('location', `/v1/partnerships/${pid}/agreements/${aid}/appreciations/${appreciation.id}`)
        .send(toAppreciation(appreciation))
    }
  )

  app.get(
    `${agreement}/appreciations/:apid`,
    {
      schema: {
        summary: 'One appreciation',
        operationId: 'getAppreciation',
        tags,
        security: secured('agreements:read'),
        params: AppreciationParamsSchema,
        response: { 200: AppreciationSchema, ...authProblems }
      }
    },
    async (request) =>
      toAppreciation(
        await getAppreciation(deps, {
          partnershipId: request.params.pid,
          agreementId: request.params.aid,
          appreciationId: request.params.apid,
          userId: callerOf(request).userId
        })
      )
  )

  app.get(
    `${agreement}/appreciations`,
    {
      schema: {
        summary: 'Appreciations noted on an agreement, oldest first',
        operationId: 'listAppreciations',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(AppreciationSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, IdCursor)
      const rows = await listAppreciations(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (a) => ({ id: a.id }))
      return { items: page.items.map(toAppreciation), nextCursor: page.nextCursor }
    }
  )

  app.get(
    `${agreement}/insights`,
    {
      schema: {
        summary:
          "The agreement's insights: incidents and small wins by month, reviews on time, rating trend, keep streak",
        description:
          "Computed in the partnership's time zone. About the agreement, never a score of a person: nothing is counted by partner.",
        operationId: 'getInsights',
        tags,
        security: secured('agreements:read'),
        params: AgreementParamsSchema,
        response: { 200: InsightsSchema, ...authProblems }
      }
    },
    async (request, reply) => {
      const insights = await agreementInsights(deps, {
        partnershipId: request.params.pid,
        agreementId: request.params.aid,
        userId: callerOf(request).userId
      })
      // Typed by the schema at compile time, so sent as JSON without the response schema's run-time pass (a
      // third of the request's CPU); the tests check every answer against the document.
      return reply
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(insights) as unknown as z.infer<typeof InsightsSchema>)
    }
  )
}
