import { and, asc, count, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import {
  type AttemptRow,
  type DeliveryRow,
  type WebhookRow,
  webhookAttempts,
  webhookDeliveries,
  webhooks
} from './webhook.sql.ts'

const live = and(isNull(webhooks.deletedAt))

export async function insertWebhook(db: DbOrTx, row: typeof webhooks.$inferInsert): Promise<WebhookRow> {
  const [created] = await db.insert(webhooks).values(row).returning()
  return created!
}

/** Webhooks of a partnership not deleted (disabled ones too: they still count against the cap). */
export async function countWebhooks(db: DbOrTx, partnershipId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(webhooks)
    .where(and(eq(webhooks.partnershipId, partnershipId), live))
  return row?.n ?? 0
}

export async function findWebhook(
  db: DbOrTx,
  partnershipId: string,
  id: string,
  lock = false
): Promise<WebhookRow | undefined> {
  const q = db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.partnershipId, partnershipId), eq(webhooks.id, id), live))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function listWebhooks(
  db: DbOrTx,
  partnershipId: string,
  afterId: string | null,
  limit: number
): Promise<WebhookRow[]> {
  return db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.partnershipId, partnershipId), live, afterId ? sql`${webhooks.id} > ${afterId}` : undefined))
    .orderBy(asc(webhooks.id))
    .limit(limit)
}

/** The live webhooks a person registered in a partnership, locked (they leave or are erased). */
export async function lockWebhooksCreatedBy(db: DbOrTx, partnershipId: string, userId: string): Promise<WebhookRow[]> {
  return db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.partnershipId, partnershipId), eq(webhooks.createdBy, userId), live))
    .orderBy(asc(webhooks.id))
    .for('update')
}

/** The partnerships where a person still has live webhooks (erasure: also those they left earlier). */
export async function partnershipsWithWebhooksOf(db: DbOrTx, userId: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ partnershipId: webhooks.partnershipId })
    .from(webhooks)
    .where(and(eq(webhooks.createdBy, userId), live))
    .orderBy(asc(webhooks.partnershipId))
  return rows.map((r) => r.partnershipId)
}

export async function updateWebhook(
  db: DbOrTx,
  id: string,
  patch: Partial<Pick<WebhookRow, 'deletedAt' | 'disabledAt' | 'failingSince'>>
): Promise<void> {
  await db.update(webhooks).set(patch).where(eq(webhooks.id, id))
}

/** Ends every pending delivery of a webhook that was deleted or disabled: nothing of it is sent any more. */
export async function abandonPending(db: DbOrTx, webhookId: string): Promise<void> {
  const pending = and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.status, 'pending'))
  // Locked in id order first, as the worker's grouped record of successes locks them (RECORD_DELIVERED).
  await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(pending)
    .orderBy(asc(webhookDeliveries.id))
    .for('no key update')
  await db.update(webhookDeliveries).set({ status: 'failed', nextAttemptAt: null, leaseUntil: null }).where(pending)
}

/** A webhook's deliveries, newest first (ids are UUIDv7: time-ordered). */
export async function listDeliveries(
  db: DbOrTx,
  webhookId: string,
  beforeId: string | null,
  limit: number
): Promise<DeliveryRow[]> {
  return db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, webhookId), beforeId ? lt(webhookDeliveries.id, beforeId) : undefined))
    .orderBy(desc(webhookDeliveries.id))
    .limit(limit)
}

export async function listAttempts(db: DbOrTx, deliveryIds: readonly string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return []
  return db
    .select()
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, [...deliveryIds]))
    .orderBy(asc(webhookAttempts.at), asc(webhookAttempts.id))
}

export async function findDelivery(
  db: DbOrTx,
  webhookId: string,
  id: string,
  lock = false
): Promise<DeliveryRow | undefined> {
  const q = db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.id, id)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function updateDelivery(
  db: DbOrTx,
  id: string,
  patch: Partial<Pick<DeliveryRow, 'status' | 'nextAttemptAt' | 'leaseUntil'>>,
  claimedUntil?: Date
): Promise<boolean> {
  const rows = await db
    .update(webhookDeliveries)
    .set(patch)
    .where(
      and(
        eq(webhookDeliveries.id, id),
        // Only while the sender's claim stands: a delivery abandoned meanwhile (its webhook deleted or disabled)
        // stays so, one replayed meanwhile stays due, one whose lease ran out is the newer claimant's. The
        // sender records its attempt all the same.
        claimedUntil === undefined ? undefined : eq(webhookDeliveries.status, 'pending'),
        claimedUntil === undefined ? undefined : eq(webhookDeliveries.leaseUntil, claimedUntil)
      )
    )
    .returning({ id: webhookDeliveries.id })
  return rows.length > 0
}

/** A webhook by id alone, locked (the worker's disabling, which knows no caller). */
export async function lockWebhookById(db: DbOrTx, id: string): Promise<WebhookRow | undefined> {
  const [row] = await db.select().from(webhooks).where(eq(webhooks.id, id)).limit(1).for('update')
  return row
}

/** Marks a webhook failing from `at` unless it already was; returns since when it has been failing. */
export async function markFailing(db: DbOrTx, id: string, at: Date): Promise<Date | null> {
  const [row] = await db
    .update(webhooks)
    .set({ failingSince: sql`coalesce(${webhooks.failingSince}, ${at.toISOString()}::timestamptz)` })
    .where(eq(webhooks.id, id))
    .returning({ failingSince: webhooks.failingSince })
  return row?.failingSince ?? null
}

/** The stored secrets of every webhook (deleted ones too), or of one scheme, locked until the transaction ends. */
export async function lockSecrets(
  db: DbOrTx,
  scheme?: string
): Promise<{ id: string; secretScheme: string; secretCiphertext: string }[]> {
  return db
    .select({ id: webhooks.id, secretScheme: webhooks.secretScheme, secretCiphertext: webhooks.secretCiphertext })
    .from(webhooks)
    .where(scheme === undefined ? undefined : eq(webhooks.secretScheme, scheme))
    .orderBy(webhooks.id)
    .for('update')
}

export async function updateSecret(
  db: DbOrTx,
  id: string,
  sealed: { secretScheme: string; secretCiphertext: string }
): Promise<void> {
  await db.update(webhooks).set(sealed).where(eq(webhooks.id, id))
}
