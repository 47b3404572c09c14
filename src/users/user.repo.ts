import { and, eq, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { type UserRow, users } from './user.sql.ts'

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
