import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Deps } from '../deps.ts'
import { callerOf, secured } from '../http/auth.ts'
import { decodeCursor, PageQuerySchema, pageOf, paginate } from '../http/pagination.ts'
import { authProblems, problems } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import {
  CreatedWebhookSchema,
  CreateWebhookSchema,
  DeliveryParamsSchema,
  DeliverySchema,
  toDelivery,
  toWebhook,
  WebhookParamsSchema,
  WebhookSchema
} from './webhook.schemas.ts'
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  replayDelivery
} from './webhook.service.ts'

const tags = ['webhooks']
const security = secured('webhooks:manage')
const IdCursor = z.object({ id: z.uuid() })
const base = '/v1/partnerships/:pid/webhooks'
const target = (p: z.infer<typeof WebhookParamsSchema>, userId: string) => ({
  partnershipId: p.pid,
  webhookId: p.wid,
  userId
})

export const webhookRoutes: FastifyPluginAsyncZod<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    base,
    {
      schema: {
        summary: 'Register a webhook (partners; the signing secret is shown once)',
        description:
          'Events of the chosen types are POSTed to the URL as Standard Webhooks (signed with the secret), retried with backoff for about 27 hours. The URL must be `https:` on a public address: `400 webhook-url-not-allowed` otherwise. At most 10 per partnership (`409 too-many-webhooks`).',
        operationId: 'createWebhook',
        tags,
        security,
        params: PartnershipParamsSchema,
        body: CreateWebhookSchema,
        response: { 201: CreatedWebhookSchema, ...authProblems, ...problems(409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const { webhook, secret } = await createWebhook(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        url: request.body.url,
        eventTypes: request.body.eventTypes
      })
      return reply
        .code(201)
        .header('location', `/v1/partnerships/${request.params.pid}/webhooks/${webhook.id}`)
        .send({ ...toWebhook(webhook), secret })
    }
  )

  app.get(
    base,
    {
      schema: {
        summary: 'Webhooks of the partnership (partners; never their secrets)',
        operationId: 'listWebhooks',
        tags,
        security,
        params: PartnershipParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(WebhookSchema), ...authProblems }
      }
    },
    async (request) => {
      const after = decodeCursor(request.query.cursor, IdCursor)
      const rows = await listWebhooks(deps, {
        partnershipId: request.params.pid,
        userId: callerOf(request).userId,
        afterId: after?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (w) => ({ id: w.id }))
      return { items: page.items.map(toWebhook), nextCursor: page.nextCursor }
    }
  )

  app.get(
    `${base}/:wid`,
    {
      schema: {
        summary: 'One webhook (partners; never its secret)',
        operationId: 'getWebhook',
        tags,
        security,
        params: WebhookParamsSchema,
        response: { 200: WebhookSchema, ...authProblems }
      }
    },
    async (request) => toWebhook(await getWebhook(deps, target(request.params, callerOf(request).userId)))
  )

  app.delete(
    `${base}/:wid`,
    {
      schema: {
        summary: 'Delete a webhook: nothing more is sent to it, pending deliveries included (partners)',
        operationId: 'deleteWebhook',
        tags,
        security,
        params: WebhookParamsSchema,
        response: { 204: z.undefined().describe('Deleted'), ...authProblems, ...problems(409) }
      }
    },
    async (request, reply) => {
      await deleteWebhook(deps, target(request.params, callerOf(request).userId))
      return reply.code(204).send()
    }
  )

  app.get(
    `${base}/:wid/deliveries`,
    {
      schema: {
        summary: "A webhook's deliveries, newest first, with their attempts (partners)",
        operationId: 'listWebhookDeliveries',
        tags,
        security,
        params: WebhookParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: pageOf(DeliverySchema), ...authProblems }
      }
    },
    async (request) => {
      const before = decodeCursor(request.query.cursor, IdCursor)
      const rows = await listDeliveries(deps, {
        ...target(request.params, callerOf(request).userId),
        beforeId: before?.id ?? null,
        limit: request.query.limit + 1
      })
      const page = paginate(rows, request.query.limit, (r) => ({ id: r.delivery.id }))
      return { items: page.items.map((r) => toDelivery(r.delivery, r.attempts)), nextCursor: page.nextCursor }
    }
  )

  app.post(
    `${base}/:wid/deliveries/:did/replay`,
    {
      schema: {
        summary: 'Send a delivery once more, now, with the same `webhook-id` (partners)',
        description: 'The next worker pass sends it; 409 when the webhook is disabled.',
        operationId: 'replayWebhookDelivery',
        tags,
        security,
        params: DeliveryParamsSchema,
        response: { 202: DeliverySchema, ...authProblems, ...problems(409, 422) }
      }
    },
    async (request, reply) => {
      const { delivery, attempts } = await replayDelivery(deps, {
        ...target(request.params, callerOf(request).userId),
        deliveryId: request.params.did
      })
      return reply.code(202).send(toDelivery(delivery, attempts))
    }
  )
}
