import { and, eq, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { type UserRow, users } from './user.sql.ts'

export async function findUserByIdentity (db: DbOrTx, issuer: string, subject: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(and(eq(users.issuer, issuer), eq(users.subject, subject))).limit(1)
  return row
}

export async function findUserById (db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1)
  return row
}

/** Inserts unless the identity exists already (a concurrent first call); returns the row either way. */
export async function insertUser (db: DbOrTx, row: typeof users.$inferInsert): Promise<UserRow> {
  const [inserted] = await db.insert(users).values(row).onConflictDoNothing({ target: [users.issuer, users.subject] }).returning()
  return inserted ?? (await findUserByIdentity(db, row.issuer, row.subject))!
}

export async function lockUser (db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).for('update').limit(1)
  return row
}

export async function updateUser (db: DbOrTx, id: string, patch: { displayName?: string, timezone?: string }, at: Date): Promise<UserRow> {
  const [row] = await db.update(users).set({ ...patch, updatedAt: at, version: sql`${users.version} + 1` }).where(eq(users.id, id)).returning()
  return row!
}
