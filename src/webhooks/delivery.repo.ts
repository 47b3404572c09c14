import { and, asc, count, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm'
import { groupedWriter } from '../db/batch.ts'
import type { DbOrTx } from '../db/client.ts'
import { execute } from '../db/driver.ts'
import { type DeliveryRow, webhookAttempts, webhookDeliveries, webhooks } from './webhook.sql.ts'

// The delivery worker's queries: claiming due deliveries, recording attempts, the queue's depth. The webhook
// resource's own queries (and the deliveries' reads for its routes) are in webhook.repo.ts.

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
  /** The lease the sender claimed the delivery with (see webhook.repo.ts's updateDelivery). */
  claimedUntil: Date
}

// One statement for any number of successful attempts: their attempt rows, and their deliveries marked delivered
// under the same condition as webhook.repo.ts's updateDelivery (still pending, under the sender's own lease). One implicit
// transaction: all of it or nothing. The deliveries are locked first, in id order, as webhook.repo.ts's abandonPending locks them:
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
