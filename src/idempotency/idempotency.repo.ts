import { and, eq, inArray, lt, lte, notExists, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type IdempotencyKeyRow, idempotencyKeys } from './idempotency.sql.ts'

export type Scope = Pick<IdempotencyKeyRow, 'userId' | 'method' | 'path' | 'key'>

/**
 * Claims the scope's key (state `running`); undefined when a row for it exists already, or one of scheme 1 for
 * the same key (`legacyKey`: its digest as the previous version stored it) does.
 */
export async function claimKey(
  db: DbOrTx,
  row: typeof idempotencyKeys.$inferInsert,
  legacyKey: string
): Promise<string | undefined> {
  const legacy = db
    .select({ id: idempotencyKeys.id })
    .from(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.userId, row.userId),
        eq(idempotencyKeys.method, row.method),
        eq(idempotencyKeys.path, row.path),
        eq(idempotencyKeys.key, legacyKey)
      )
    )
  const [claimed] = await db
    .insert(idempotencyKeys)
    .select(
      db
        .select({
          id: sql`${row.id}::uuid`.as('id'),
          userId: sql`${row.userId}::uuid`.as('user_id'),
          method: sql`${row.method}`.as('method'),
          path: sql`${row.path}`.as('path'),
          key: sql`${row.key}`.as('key'),
          fingerprint: sql`${row.fingerprint}`.as('fingerprint'),
          scheme: sql`${row.scheme ?? 2}::smallint`.as('scheme'),
          state: sql`${row.state}`.as('state'),
          leaseUntil: sql`${row.leaseUntil.toISOString()}::timestamptz`.as('lease_until'),
          statusCode: sql`null::integer`.as('status_code'),
          headers: sql`null::jsonb`.as('headers'),
          body: sql`null::text`.as('body'),
          createdAt: sql`${row.createdAt.toISOString()}::timestamptz`.as('created_at'),
          expiresAt: sql`${row.expiresAt.toISOString()}::timestamptz`.as('expires_at')
        })
        .from(sql`(select 1) as one`)
        .where(notExists(legacy))
    )
    .onConflictDoNothing()
    .returning({ id: idempotencyKeys.id })
  return claimed?.id
}

export async function findKey(db: DbOrTx, scope: Scope): Promise<IdempotencyKeyRow | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.userId, scope.userId),
        eq(idempotencyKeys.method, scope.method),
        eq(idempotencyKeys.path, scope.path),
        eq(idempotencyKeys.key, scope.key)
      )
    )
    .limit(1)
  return row
}

export async function deleteExpiredKey(db: DbOrTx, id: string, now: Date): Promise<void> {
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.id, id), lte(idempotencyKeys.expiresAt, now)))
}

/** A scheme-1 claim whose process died before its work committed (the lease read): it goes, nothing ran. */
export async function deleteAbandonedKey(db: DbOrTx, id: string, seenLease: Date): Promise<void> {
  await db
    .delete(idempotencyKeys)
    .where(
      and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, 'running'), eq(idempotencyKeys.leaseUntil, seenLease))
    )
}

/** Takes over a claim whose lease is the one read (its process died); false when someone else did first. */
export async function takeOverKey(db: DbOrTx, id: string, seenLease: Date, leaseUntil: Date): Promise<boolean> {
  const taken = await db
    .update(idempotencyKeys)
    .set({ leaseUntil })
    .where(
      and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, 'running'), eq(idempotencyKeys.leaseUntil, seenLease))
    )
    .returning({ id: idempotencyKeys.id })
  return taken.length > 0
}

/** In the transaction that did the request's work: the work is done, whatever becomes of the answer. */
export async function markKeyCommitted(db: DbOrTx, id: string): Promise<void> {
  await db
    .update(idempotencyKeys)
    .set({ state: 'committed' })
    .where(and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, 'running')))
}

export async function recordAnswer(
  db: DbOrTx,
  id: string,
  answer: Pick<IdempotencyKeyRow, 'statusCode' | 'headers' | 'body'>
): Promise<void> {
  await db
    .update(idempotencyKeys)
    .set({ state: 'done', ...answer })
    .where(eq(idempotencyKeys.id, id))
}

/**
 * The request failed in a way a retry may redo (5xx, 429): a claim whose work did
 * not commit is released; one whose work committed stays, its lease ended, so a
 * retry learns the work was done instead of doing it again.
 */
export async function releaseKey(db: DbOrTx, id: string, now: Date): Promise<void> {
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, 'running')))
  await db
    .update(idempotencyKeys)
    .set({ leaseUntil: now })
    .where(and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, 'committed')))
}

/** Expired records are dead weight: deletes up to 1,000 of them, returns how many. */
export async function purgeExpiredKeys(db: DbOrTx, now: Date): Promise<number> {
  const expired = db
    .select({ id: idempotencyKeys.id })
    .from(idempotencyKeys)
    .where(lt(idempotencyKeys.expiresAt, now))
    .limit(1000)
  const deleted = await db
    .delete(idempotencyKeys)
    .where(inArray(idempotencyKeys.id, expired))
    .returning({ id: idempotencyKeys.id })
  return deleted.length
}

/** A person's recorded responses go with them (erasure). */
export async function deleteKeysOf(db: DbOrTx, userId: string): Promise<void> {
  await db.delete(idempotencyKeys).where(eq(idempotencyKeys.userId, userId))
}
