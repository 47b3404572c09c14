import { z } from 'zod'
import { DateTimeSchema, isoOrNull } from '../http/schemas.ts'
import { PartnershipParamsSchema } from '../partnerships/partnership.schemas.ts'
import { EVENT_TYPES, MAX_WEBHOOKS } from './webhook.rules.ts'
import type { AttemptRow, DeliveryRow, WebhookRow } from './webhook.sql.ts'

export const WebhookParamsSchema = PartnershipParamsSchema.extend({ wid: z.uuid() })
export const DeliveryParamsSchema = WebhookParamsSchema.extend({ did: z.uuid() })

const EventTypeSchema = z.enum([...EVENT_TYPES, '*'])

export const CreateWebhookSchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .max(2000)
      .meta({
        description:
          'Where to POST the events: `https:`, on a public address (checked now and again before each delivery)',
        examples: ['https://example.com/accord/webhooks']
      }),
    eventTypes: z
      .array(EventTypeSchema)
      .min(1)
      .max(EVENT_TYPES.length)
      .refine((types) => new Set(types).size === types.length, 'each event type at most once')
      .refine((types) => !types.includes('*') || types.length === 1, '"*" stands alone')
      .meta({ description: 'The event types to deliver, or `["*"]` for every one' })
  })
  .meta({ id: 'CreateWebhook', description: `A partnership has at most ${MAX_WEBHOOKS} webhooks` })

export const WebhookSchema = z
  .object({
    id: z.uuid(),
    partnershipId: z.uuid(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    status: z.enum(['active', 'disabled']).meta({
      description: '`disabled` after 5 days of failed deliveries without one success: it gets nothing more'
    }),
    createdBy: z.uuid(),
    createdAt: DateTimeSchema,
    failingSince: DateTimeSchema.nullable().meta({ description: 'Failing without a success since then' }),
    disabledAt: DateTimeSchema.nullable()
  })
  .meta({ id: 'Webhook' })

export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().meta({
    description:
      'The signing secret (`whsec_…`, Standard Webhooks): shown in this answer only. Verify each delivery with it.'
  })
}).meta({ id: 'CreatedWebhook' })

export const AttemptSchema = z
  .object({
    at: DateTimeSchema,
    statusCode: z.int().nullable().meta({ description: "The receiver's HTTP status, or null when none came" }),
    latencyMs: z.int(),
    error: z.string().nullable().meta({ description: 'Why it failed when no status tells (timeout, refused, …)' })
  })
  .meta({ id: 'WebhookAttempt' })

export const DeliverySchema = z
  .object({
    id: z.uuid().meta({ description: 'The message: its `webhook-id` is `msg_` + this id, on every attempt' }),
    eventSeq: z.int(),
    eventType: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.array(AttemptSchema),
    nextAttemptAt: DateTimeSchema.nullable(),
    createdAt: DateTimeSchema
  })
  .meta({ id: 'WebhookDelivery' })

export function toWebhook(w: WebhookRow): z.infer<typeof WebhookSchema> {
  return {
    id: w.id,
    partnershipId: w.partnershipId,
    url: w.url,
    eventTypes: w.eventTypes,
    status: w.disabledAt === null ? 'active' : 'disabled',
    createdBy: w.createdBy,
    createdAt: w.createdAt.toISOString(),
    failingSince: isoOrNull(w.failingSince),
    disabledAt: isoOrNull(w.disabledAt)
  }
}

export function toDelivery(d: DeliveryRow, attempts: readonly AttemptRow[]): z.infer<typeof DeliverySchema> {
  return {
    id: d.id,
    eventSeq: d.eventSeq,
    eventType: d.eventType,
    status: d.status as 'pending' | 'delivered' | 'failed',
    attempts: attempts.map((a) => ({
      at: a.at.toISOString(),
      statusCode: a.statusCode,
      latencyMs: a.latencyMs,
      error: a.error
    })),
    nextAttemptAt: isoOrNull(d.nextAttemptAt),
    createdAt: d.createdAt.toISOString()
  }
}
