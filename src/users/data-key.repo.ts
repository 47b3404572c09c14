import { and, asc, eq, gt, inArray } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { execute } from '../db/driver.ts'
import { dataKeys } from './user.sql.ts'

/** The sealed data keys of these people (absent: never wrote a personal text, or erased). */
export async function findSealedDataKeys(db: DbOrTx, userIds: readonly string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map()
  const rows = await db
    .select({ userId: dataKeys.userId, sealedKey: dataKeys.sealedKey })
    .from(dataKeys)
    .where(inArray(dataKeys.userId, [...userIds]))
  return new Map(rows.map((r) => [r.userId, r.sealedKey]))
}

/**
 * A writer's data key, share-locked until the transaction ends: an erasure (which deletes it) waits for the
 * text sealed under it to commit, then shreds it with the rest.
 */
export async function lockSealedDataKey(tx: DbOrTx, userId: string): Promise<string | undefined> {
  const [row] = await tx
    .select({ sealedKey: dataKeys.sealedKey })
    .from(dataKeys)
    .where(eq(dataKeys.userId, userId))
    .for('share')
  return row?.sealedKey
}

/** Creates a person's data key unless they have one already or were erased; whether it was created. */
export async function insertDataKey(tx: DbOrTx, userId: string, sealedKey: string, at: Date): Promise<boolean> {
  const rows = await execute(
    tx,
    `insert into data_keys (user_id, sealed_key, created_at)
      select id, $2, $3::timestamptz from users where id = $1 and erased_at is null
      on conflict do nothing returning user_id`,
    [userId, sealedKey, at.toISOString()]
  )
  return rows.length > 0
}

/** Crypto-shredding: the key is gone, and with it every text sealed under it. Returns the sealed key it was. */
export async function deleteDataKey(tx: DbOrTx, userId: string): Promise<string | undefined> {
  const [row] = await tx
    .delete(dataKeys)
    .where(eq(dataKeys.userId, userId))
    .returning({ sealedKey: dataKeys.sealedKey })
  return row?.sealedKey
}

/** A page of data keys in user order, after `after` (a re-seal walks them all). */
export async function pageDataKeys(
  db: DbOrTx,
  after: string | null,
  limit: number
): Promise<{ userId: string; sealedKey: string }[]> {
  return db
    .select({ userId: dataKeys.userId, sealedKey: dataKeys.sealedKey })
    .from(dataKeys)
    .where(after === null ? undefined : gt(dataKeys.userId, after))
    .orderBy(asc(dataKeys.userId))
    .limit(limit)
}

/** Replaces a sealed data key only if it is still the one read (an erasure meanwhile deleted it: nothing to do). */
export async function replaceSealedDataKey(db: DbOrTx, userId: string, seen: string, sealed: string): Promise<void> {
  await db
    .update(dataKeys)
    .set({ sealedKey: sealed })
    .where(and(eq(dataKeys.userId, userId), eq(dataKeys.sealedKey, seen)))
}
