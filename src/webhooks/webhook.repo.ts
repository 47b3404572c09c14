import { and, asc, count, desc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm'
import { groupedWriter } from '../db/batch.ts'
import type { DbOrTx } from '../db/client.ts'
import { execute } from '../db/driver.ts'
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

/** A claimed delivery with what sending it needs: its webhook's URL, secret and health. */
export interface ClaimedDelivery {
  delivery: DeliveryRow
  url: string
  secretScheme: string
  secretCiphertext: string
  failingSince: Date | null
}

/**
 * Claims up to `limit` due deliveries for this sender until `leaseUntil`: pending, due at `now`, not
 * leased (or the lease ran out: its sender died). SKIP LOCKED lets every instance claim at once without
 * waiting for or taking each other's; the lease keeps a claimed delivery one sender's while it is sent
 * outside any transaction. Each claim counts as an attempt (`attempt_count`).
 */
export async function claimDue(db: DbOrTx, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
  const d = webhookDeliveries
  const due = db
    .select({ id: d.id })
    .from(d)
    .where(and(eq(d.status, 'pending'), lte(d.nextAttemptAt, now), or(isNull(d.leaseUntil), lt(d.leaseUntil, now))))
    .orderBy(asc(d.nextAttemptAt))
    .limit(limit)
    .for('update', { skipLocked: true })
  const rows = await db
    .update(d)
    .set({ leaseUntil: leaseUntil, attemptCount: sql`${d.attemptCount} + 1` })
    .from(webhooks)
    .where(
      and(eq(webhooks.id, d.webhookId), isNull(webhooks.deletedAt), isNull(webhooks.disabledAt), inArray(d.id, due))
    )
    .returning({
      delivery: {
        id: d.id,
        webhookId: d.webhookId,
        partnershipId: d.partnershipId,
        eventSeq: d.eventSeq,
        eventType: d.eventType,
        subjectType: d.subjectType,
        subjectId: d.subjectId,
        actorId: d.actorId,
        eventAt: d.eventAt,
        status: d.status,
        attemptCount: d.attemptCount,
        nextAttemptAt: d.nextAttemptAt,
        leaseUntil: d.leaseUntil,
        createdAt: d.createdAt
      },
      url: webhooks.url,
      secretScheme: webhooks.secretScheme,
      secretCiphertext: webhooks.secretCiphertext,
      failingSince: webhooks.failingSince
    })
  return rows
}

export async function insertAttempt(db: DbOrTx, row: typeof webhookAttempts.$inferInsert): Promise<void> {
  await db.insert(webhookAttempts).values(row)
}

/** A successful attempt, to be recorded with its delivery marked delivered (if the sender's claim still stands). */
export interface DeliveredAttempt {
  /** The attempt row's id, made once by the sender: a group written again after its commit was lost adds no second row. */
  id: string
  deliveryId: string
  at: Date
  statusCode: number
  latencyMs: number
  /** The lease the sender claimed the delivery with (see updateDelivery). */
  claimedUntil: Date
}

// One statement for any number of successful attempts: their attempt rows, and their deliveries marked delivered
// under the same condition as updateDelivery's (still pending, under the sender's own lease). One implicit
// transaction: all of it or nothing. The deliveries are locked first, in id order, as abandonPending locks them:
// two writers locking the same rows in different orders could deadlock.
const RECORD_DELIVERED = `with x as (
    select * from jsonb_to_recordset($1::jsonb)
      as x(id uuid, delivery_id uuid, at timestamptz, status_code smallint, latency_ms integer, lease_until timestamptz)),
  locked as (select d.id from webhook_deliveries d where d.id in (select delivery_id from x) order by d.id for no key update),
  attempt as (insert into webhook_attempts (id, delivery_id, at, status_code, latency_ms)
    select id, delivery_id, at, status_code, latency_ms from x on conflict (id) do nothing)
  update webhook_deliveries d set status = 'delivered', next_attempt_at = null, lease_until = null
    from x where d.id = x.delivery_id and d.status = 'pending' and d.lease_until = x.lease_until
      and (select count(*) from locked) >= 0`

export async function recordDelivered(db: DbOrTx, attempts: readonly DeliveredAttempt[]): Promise<void> {
  const rows = attempts.map((a) => ({
    id: a.id,
    delivery_id: a.deliveryId,
    at: a.at.toISOString(),
    status_code: a.statusCode,
    latency_ms: a.latencyMs,
    lease_until: a.claimedUntil.toISOString()
  }))
  await execute(db, RECORD_DELIVERED, [JSON.stringify(rows)])
}

/**
 * recordDelivered for one attempt, grouped with the others that finish while a group is being written (db/batch.ts):
 * one statement and one commit for the lot, where each alone was a transaction of four round trips. Under load
 * the worker's socket writes to the database, not the deliveries, were its cost (bench/README.md). A group that
 * fails is written again one attempt at a time, so that each succeeds or fails as it would have alone.
 */
export const recordDeliveredGrouped = groupedWriter<DeliveredAttempt>({ writeAll: recordDelivered, maxBatch: 256 })

/** Deliveries waiting to be sent, in every instance (the queue's depth). */
export async function countPending(db: DbOrTx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.status, 'pending'))
  return row?.n ?? 0
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
