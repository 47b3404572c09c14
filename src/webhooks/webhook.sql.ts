import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, smallint, text, uuid } from 'drizzle-orm/pg-core'
import { at, idColumn } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
import { users } from '../users/user.sql.ts'

/**
 * A partnership's webhook: where its events are delivered, signed with the secret shown once at creation.
 * Deleted and disabled webhooks stay (their deliveries and attempts refer to them) but get nothing new:
 * the outbox trigger on `events` (migrations) reads only live ones, through `webhooks_partnership_live_idx`.
 * The secret is stored as `secret_ciphertext` under `secret_scheme`: `kek-v1`, sealed under the KEK;
 * `plain-v0` rows (from before sealing) are sealed at start (webhook.secret.ts).
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    url: text().notNull(),
    eventTypes: text().array().notNull(),
    secretScheme: text().notNull(),
    secretCiphertext: text().notNull(),
    createdBy: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    createdAt: at().notNull(),
    /** When its deliveries started failing without a success since; null while healthy. */
    failingSince: at(),
    disabledAt: at(),
    deletedAt: at()
  },
  (t) => [
    check('webhooks_secret_scheme_check', sql`${t.secretScheme} in ('plain-v0', 'kek-v1')`),
    check('webhooks_event_types_check', sql`cardinality(${t.eventTypes}) between 1 and 64`),
    index('webhooks_partnership_idx').on(t.partnershipId, t.id),
    // The trigger's one probe per event: live webhooks of the event's partnership (none: an empty index range).
    index('webhooks_partnership_live_idx')
      .on(t.partnershipId)
      .where(sql`${t.deletedAt} is null and ${t.disabledAt} is null`)
  ]
)

/**
 * One message to one webhook: an event, written by the outbox trigger in the event's own transaction.
 * `id` is the message's `webhook-id` (`msg_` + id) on every attempt and replay. Pending deliveries are
 * claimed by a worker with a lease (`lease_until`); `attempt_count` counts the claims, so the backoff
 * schedule survives a worker killed between sending and recording.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    // Filled by the trigger (a UUIDv7 made in SQL, see the migration), never by the application.
    id: uuid().primaryKey(),
    webhookId: uuid()
      .notNull()
      .references(() => webhooks.id, { onDelete: 'restrict' }),
    partnershipId: uuid().notNull(),
    eventSeq: integer().notNull(),
    eventType: text().notNull(),
    subjectType: text().notNull(),
    subjectId: text().notNull(),
    actorId: uuid(),
    eventAt: at().notNull(),
    status: text().notNull(),
    attemptCount: smallint().notNull().default(0),
    nextAttemptAt: at(),
    leaseUntil: at(),
    createdAt: at().notNull()
  },
  (t) => [
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'delivered', 'failed')`),
    check('webhook_deliveries_next_attempt_check', sql`(${t.status} = 'pending') = (${t.nextAttemptAt} is not null)`),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.id),
    // The workers' claim and the queue depth read only what is pending: a small index whatever the history.
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`)
  ]
)

/** One try at sending a delivery: what came back (a status, or an error) and how long it took. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: idColumn(),
    deliveryId: uuid()
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'restrict' }),
    at: at().notNull(),
    statusCode: smallint(),
    latencyMs: integer().notNull(),
    error: text()
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId, t.at)]
)

export type WebhookRow = typeof webhooks.$inferSelect
export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type AttemptRow = typeof webhookAttempts.$inferSelect
