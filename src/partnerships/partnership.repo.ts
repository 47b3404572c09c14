import { and, asc, eq, gt, inArray, isNull, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { prepared } from '../db/driver.ts'
import { users } from '../users/user.sql.ts'
import { type MembershipRow, memberships, type PartnershipRow, partnerships, type Role } from './partnership.sql.ts'

export async function insertPartnership(db: DbOrTx, row: typeof partnerships.$inferInsert): Promise<PartnershipRow> {
  const [created] = await db.insert(partnerships).values(row).returning()
  return created!
}

/** Takes the partnership's row lock: every write to a partnership serializes here (and so does its audit chain). A prepared statement. */
export async function lockPartnership(db: DbOrTx, id: string): Promise<PartnershipRow | undefined> {
  const statement = prepared(db, 'lock_partnership', (db) =>
    db
      .select()
      .from(partnerships)
      .where(eq(partnerships.id, sql.placeholder('id')))
      .for('update')
      .limit(1)
      .prepare('lock_partnership')
  )
  const [row] = await statement.execute({ id })
  return row
}

/**
 * The partnership's row lock, or undefined at once when someone holds it (the
 * scheduler: SKIP LOCKED never waits, so instances spread over the work instead
 * of queueing on it; partnership first, like every write, so no deadlock).
 */
export async function tryLockPartnership(db: DbOrTx, id: string): Promise<PartnershipRow | undefined> {
  const [row] = await db
    .select()
    .from(partnerships)
    .where(eq(partnerships.id, id))
    .for('update', { skipLocked: true })
    .limit(1)
  return row
}

export async function findPartnership(db: DbOrTx, id: string): Promise<PartnershipRow | undefined> {
  const [row] = await db.select().from(partnerships).where(eq(partnerships.id, id)).limit(1)
  return row
}

export async function updatePartnership(
  db: DbOrTx,
  id: string,
  patch: Partial<Pick<PartnershipRow, 'name' | 'timezone' | 'status' | 'dissolvedAt'>>,
  at: Date
): Promise<PartnershipRow> {
  const [row] = await db
    .update(partnerships)
    .set({ ...patch, updatedAt: at, revision: sql`${partnerships.revision} + 1` })
    .where(eq(partnerships.id, id))
    .returning()
  return row!
}

export async function findCurrentMembership(
  db: DbOrTx,
  partnershipId: string,
  userId: string
): Promise<MembershipRow | undefined> {
  const statement = prepared(db, 'current_membership', (db) =>
    db
      .select()
      .from(memberships)
      .where(
        and(
          eq(memberships.partnershipId, sql.placeholder('partnershipId')),
          eq(memberships.userId, sql.placeholder('userId')),
          isNull(memberships.leftAt)
        )
      )
      .limit(1)
      .prepare('current_membership')
  )
  const [row] = await statement.execute({ partnershipId, userId })
  return row
}

export async function insertMembership(db: DbOrTx, row: typeof memberships.$inferInsert): Promise<MembershipRow> {
  const [created] = await db.insert(memberships).values(row).returning()
  return created!
}

export async function endMembership(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.update(memberships).set({ leftAt: at }).where(eq(memberships.id, id))
}

export interface MemberView {
  userId: string
  displayName: string
  role: Role
  joinedAt: Date
}

export async function listCurrentMembers(
  db: DbOrTx,
  partnershipIds: string[]
): Promise<Array<MemberView & { partnershipId: string }>> {
  if (partnershipIds.length === 0) return []
  const rows = await db
    .select({
      partnershipId: memberships.partnershipId,
      userId: memberships.userId,
      displayName: users.displayName,
      role: memberships.role,
      joinedAt: memberships.joinedAt
    })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(inArray(memberships.partnershipId, partnershipIds), isNull(memberships.leftAt)))
    .orderBy(asc(memberships.joinedAt), asc(memberships.id))
  return rows as Array<MemberView & { partnershipId: string }>
}

/** The caller's partnerships (current memberships), in id order, after a keyset cursor. */
export async function listPartnershipsOf(
  db: DbOrTx,
  userId: string,
  afterId: string | null,
  limit: number
): Promise<PartnershipRow[]> {
  const rows = await db
    .select({ p: partnerships })
    .from(memberships)
    .innerJoin(partnerships, eq(partnerships.id, memberships.partnershipId))
    .where(
      and(
        eq(memberships.userId, userId),
        isNull(memberships.leftAt),
        afterId ? gt(partnerships.id, afterId) : undefined
      )
    )
    .orderBy(asc(partnerships.id))
    .limit(limit)
  return rows.map((r) => r.p)
}
