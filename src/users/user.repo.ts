import { and, eq, inArray, max, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { erasedIdentities, type UserRow, users } from './user.sql.ts'

export async function findUserByIdentity(db: DbOrTx, issuer: string, subject: string): Promise<UserRow | undefined> {
  const statement = prepared(db, 'user_by_identity', (db) =>
    db
      .select()
      .from(users)
      .where(and(eq(users.issuer, sql.placeholder('issuer')), eq(users.subject, sql.placeholder('subject'))))
      .limit(1)
      .prepare('user_by_identity')
  )
  const [row] = await statement.execute({ issuer, subject })
  return row
}

/**
 * The user of an identity, with when that identity was last erased (by its HMACs), in one statement: every
 * provisioning needs both, and a person signing up after an erasure has a row and an erasure at once.
 */
export async function findUserAndErasure(
  db: DbOrTx,
  issuer: string,
  subject: string,
  identityHashes: readonly [string, string]
): Promise<{ user: UserRow; lastErasedAt: Date | null } | undefined> {
  const statement = prepared(db, 'user_and_erasure_by_identity', (db) =>
    db
      .select({
        user: users,
        lastErasedAt: sql<Date | null>`(select max(${erasedIdentities.erasedAt}) from ${erasedIdentities}
          where ${erasedIdentities.identityHash} in (${sql.placeholder('h1')}, ${sql.placeholder('h2')}))`.mapWith(
          users.erasedAt
        )
      })
      .from(users)
      .where(and(eq(users.issuer, sql.placeholder('issuer')), eq(users.subject, sql.placeholder('subject'))))
      .limit(1)
      .prepare('user_and_erasure_by_identity')
  )
  const [row] = await statement.execute({ issuer, subject, h1: identityHashes[0], h2: identityHashes[1] })
  return row
}

export async function findUserById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const statement = prepared(db, 'user_by_id', (db) =>
    db
      .select()
      .from(users)
      .where(eq(users.id, sql.placeholder('id')))
      .limit(1)
      .prepare('user_by_id')
  )
  const [row] = await statement.execute({ id })
  return row
}

/** Inserts unless the identity exists already (a concurrent first call); returns the row either way. */
export async function insertUser(db: DbOrTx, row: typeof users.$inferInsert): Promise<UserRow> {
  const [inserted] = await db
    .insert(users)
    .values(row)
    .onConflictDoNothing({ target: [users.issuer, users.subject] })
    .returning()
  return inserted ?? (await findUserByIdentity(db, row.issuer, row.subject))!
}

export async function lockUser(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).for('update').limit(1)
  return row
}

export async function updateUser(
  db: DbOrTx,
  id: string,
  patch: { displayName?: string; timezone?: string },
  at: Date
): Promise<UserRow> {
  const [row] = await db
    .update(users)
    .set({ ...patch, updatedAt: at, revision: sql`${users.revision} + 1` })
    .where(eq(users.id, id))
    .returning()
  return row!
}

/**
 * The erasing transaction's lock on a person: FOR NO KEY UPDATE, so a write that is sealing a text of theirs
 * (its data key's foreign key takes KEY SHARE on this row) is not blocked by it and cannot deadlock with it.
 */
export async function lockUserForErasure(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).for('no key update').limit(1)
  return row
}

/** The row stays (ids in the partnerships' records point to it) but says nothing of the person any more. */
export async function pseudonymizeUser(
  db: DbOrTx,
  id: string,
  row: { issuer: string; subject: string; displayName: string; timezone: string },
  at: Date
): Promise<void> {
  await db
    .update(users)
    .set({ ...row, erasedAt: at, updatedAt: at, revision: sql`${users.revision} + 1` })
    .where(eq(users.id, id))
}

export async function recordErasedIdentity(db: DbOrTx, identityHash: string, at: Date): Promise<void> {
  await db
    .insert(erasedIdentities)
    .values({ identityHash, erasedAt: at })
    .onConflictDoUpdate({ target: erasedIdentities.identityHash, set: { erasedAt: at } })
}

/** When the identity of any of these digests was last erased. */
export async function findErasedIdentity(db: DbOrTx, identityHashes: readonly string[]): Promise<Date | undefined> {
  const [row] = await db
    .select({ erasedAt: max(erasedIdentities.erasedAt) })
    .from(erasedIdentities)
    .where(inArray(erasedIdentities.identityHash, [...identityHashes]))
  return row?.erasedAt ?? undefined
}

/** Share-locks a person's row (a write that adds to them waits for, or is refused after, their erasure). */
export async function shareLockUser(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).for('share').limit(1)
  return row
}
