import { and, asc, eq, gt, inArray, isNull, lte, sql } from 'drizzle-orm'
import { agreements } from '../agreements/agreement.sql.ts'
import type { DbOrTx } from '../db/client.ts'
import { memberships } from '../partnerships/partnership.sql.ts'
import { type ReviewResponseRow, type ReviewRow, reviewResponses, reviews } from './review.sql.ts'

export async function insertReview(db: DbOrTx, row: typeof reviews.$inferInsert): Promise<ReviewRow> {
  const [created] = await db.insert(reviews).values(row).returning()
  return created!
}

export async function findOpenReview(db: DbOrTx, agreementId: string): Promise<ReviewRow | undefined> {
  const [row] = await db
    .select()
    .from(reviews)
    .where(and(eq(reviews.agreementId, agreementId), eq(reviews.status, 'open')))
    .limit(1)
  return row
}

export async function findReview(
  db: DbOrTx,
  agreementId: string,
  id: string,
  lock = false
): Promise<ReviewRow | undefined> {
  const q = db
    .select()
    .from(reviews)
    .where(and(eq(reviews.agreementId, agreementId), eq(reviews.id, id)))
    .limit(1)
  const [row] = lock ? await q.for('update') : await q
  return row
}

export async function updateReview(db: DbOrTx, id: string, patch: Partial<Omit<ReviewRow, 'id'>>): Promise<ReviewRow> {
  const [row] = await db.update(reviews).set(patch).where(eq(reviews.id, id)).returning()
  return row!
}

export async function listReviews(
  db: DbOrTx,
  agreementId: string,
  afterId: string | null,
  limit: number
): Promise<ReviewRow[]> {
  return db
    .select()
    .from(reviews)
    .where(and(eq(reviews.agreementId, agreementId), afterId ? gt(reviews.id, afterId) : undefined))
    .orderBy(asc(reviews.id))
    .limit(limit)
}

/** Open reviews in every partnership the user is currently a member of. */
export async function listOpenReviewsOf(
  db: DbOrTx,
  userId: string,
  afterId: string | null,
  limit: number
): Promise<ReviewRow[]> {
  const rows = await db
    .select({ r: reviews })
    .from(reviews)
    .innerJoin(
      memberships,
      and(
        eq(memberships.partnershipId, reviews.partnershipId),
        eq(memberships.userId, userId),
        isNull(memberships.leftAt)
      )
    )
    .where(and(eq(reviews.status, 'open'), afterId ? gt(reviews.id, afterId) : undefined))
    .orderBy(asc(reviews.id))
    .limit(limit)
  return rows.map((r) => r.r)
}

/** Open reviews of one partnership (a partner left, or it dissolved). */
export async function listOpenReviewsOfPartnership(db: DbOrTx, partnershipId: string): Promise<ReviewRow[]> {
  return db
    .select()
    .from(reviews)
    .where(and(eq(reviews.partnershipId, partnershipId), eq(reviews.status, 'open')))
    .orderBy(asc(reviews.id))
}

export async function upsertResponse(db: DbOrTx, row: ReviewResponseRow): Promise<void> {
  await db
    .insert(reviewResponses)
    .values(row)
    .onConflictDoUpdate({
      target: [reviewResponses.reviewId, reviewResponses.userId],
      set: { outcome: row.outcome, rating: row.rating, note: row.note, respondedAt: row.respondedAt }
    })
}

/** The responses to these reviews, in the order they were given (two at the same instant: by responder, as review.render.ts lists them). */
export async function listResponses(db: DbOrTx, reviewIds: string[]): Promise<ReviewResponseRow[]> {
  if (reviewIds.length === 0) return []
  return db
    .select()
    .from(reviewResponses)
    .where(inArray(reviewResponses.reviewId, reviewIds))
    .orderBy(asc(reviewResponses.respondedAt), asc(reviewResponses.userId))
}

/** The scheduler's query (exported for the scale bench's plans). */
export function dueAgreementsQuery(db: DbOrTx, now: Date, limit: number) {
  return db
    .select({ id: agreements.id, partnershipId: agreements.partnershipId })
    .from(agreements)
    .where(
      and(
        eq(agreements.lifecycle, 'active'),
        lte(agreements.nextReviewAt, now),
        sql`not exists (select 1 from ${reviews} where ${reviews.agreementId} = ${agreements.id} and ${reviews.status} = 'open')`
      )
    )
    .orderBy(asc(agreements.nextReviewAt))
    .limit(limit)
}

/** Active agreements whose review date has passed and that have no open review (the scheduler's work). */
export async function findDueAgreements(
  db: DbOrTx,
  now: Date,
  limit: number
): Promise<Array<{ id: string; partnershipId: string }>> {
  return dueAgreementsQuery(db, now, limit)
}

export async function findOverdueReviews(
  db: DbOrTx,
  cutoff: Date,
  limit: number
): Promise<Array<{ id: string; agreementId: string; partnershipId: string }>> {
  return db
    .select({ id: reviews.id, agreementId: reviews.agreementId, partnershipId: reviews.partnershipId })
    .from(reviews)
    .where(and(eq(reviews.status, 'open'), isNull(reviews.overdueAt), lte(reviews.dueAt, cutoff)))
    .orderBy(asc(reviews.dueAt))
    .limit(limit)
}
