import { and, asc, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { agreements } from '../agreements/agreement.sql.ts'
import type { DbOrTx } from '../db/client.ts'
import { memberships, partnerships } from '../partnerships/partnership.sql.ts'
import { type CalendarTokenRow, calendarTokens } from './calendar-token.sql.ts'

export async function insertCalendarToken(
  db: DbOrTx,
  row: typeof calendarTokens.$inferInsert
): Promise<CalendarTokenRow> {
  const [created] = await db.insert(calendarTokens).values(row).returning()
  return created!
}

/** A user's feeds that still work, oldest first. */
export async function listActiveCalendarTokens(db: DbOrTx, userId: string): Promise<CalendarTokenRow[]> {
  return db
    .select()
    .from(calendarTokens)
    .where(and(eq(calendarTokens.userId, userId), isNull(calendarTokens.revokedAt)))
    .orderBy(asc(calendarTokens.createdAt), asc(calendarTokens.id))
}

/** Revokes one of the user's working feeds; false when there is none with that id. */
export async function revokeCalendarToken(db: DbOrTx, userId: string, id: string, at: Date): Promise<boolean> {
  const revoked = await db
    .update(calendarTokens)
    .set({ revokedAt: at })
    .where(and(eq(calendarTokens.id, id), eq(calendarTokens.userId, userId), isNull(calendarTokens.revokedAt)))
    .returning({ id: calendarTokens.id })
  return revoked.length > 0
}

/** Revokes every working feed of a person (erasure); how many. */
export async function revokeCalendarTokensOf(db: DbOrTx, userId: string, at: Date): Promise<number> {
  const revoked = await db
    .update(calendarTokens)
    .set({ revokedAt: at })
    .where(and(eq(calendarTokens.userId, userId), isNull(calendarTokens.revokedAt)))
    .returning({ id: calendarTokens.id })
  return revoked.length
}

/** The working feed behind a token hash, marking it used (at most once a minute: calendar apps poll). */
export async function useCalendarToken(
  db: DbOrTx,
  tokenHash: string,
  at: Date
): Promise<{ userId: string } | undefined> {
  const [owner] = await db
    .select({ id: calendarTokens.id, userId: calendarTokens.userId })
    .from(calendarTokens)
    .where(and(eq(calendarTokens.tokenHash, tokenHash), isNull(calendarTokens.revokedAt)))
    .limit(1)
  if (!owner) return undefined
  await db
    .update(calendarTokens)
    .set({ lastUsedAt: at })
    .where(
      and(
        eq(calendarTokens.id, owner.id),
        or(
          isNull(calendarTokens.lastUsedAt),
          lt(calendarTokens.lastUsedAt, sql`${at.toISOString()}::timestamptz - interval '1 minute'`)
        )
      )
    )
  return { userId: owner.userId }
}

/** Active agreements with a next review in every partnership the user currently belongs to. */
export async function listUpcomingReviewsOf(db: DbOrTx, userId: string) {
  return db
    .select({
      id: agreements.id,
      title: agreements.title,
      nextReviewAt: agreements.nextReviewAt,
      partnershipName: partnerships.name,
      timezone: partnerships.timezone
    })
    .from(agreements)
    .innerJoin(partnerships, eq(partnerships.id, agreements.partnershipId))
    .innerJoin(
      memberships,
      and(eq(memberships.partnershipId, partnerships.id), eq(memberships.userId, userId), isNull(memberships.leftAt))
    )
    .where(and(eq(agreements.lifecycle, 'active'), isNotNull(agreements.nextReviewAt)))
    .orderBy(agreements.nextReviewAt)
}
