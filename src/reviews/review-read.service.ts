// Reading reviews: one, a page of an agreement's, and the caller's open ones (as views, and as the JSON body of
// GET /v1/me/reviews rendered by PostgreSQL), each response's note opened under its author's data key.
import { readAgreement } from '../agreements/agreement-access.service.ts'
import type { DbOrTx } from '../db/client.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { encodeCursor } from '../http/pagination.ts'
import { openPersonalTexts, openStoredText } from '../users/personal-text.service.ts'
import { NOTE_SLOT, renderMyOpenReviews } from './review.render.ts'
import * as repo from './review.repo.ts'
import type { ReviewResponseRow, ReviewRow } from './review.sql.ts'

/** A review with its responses as stored (their notes sealed). */
export interface StoredReview {
  review: ReviewRow
  responses: ReviewResponseRow[]
}

/** A response as read: its note opened under its author's data key (null, `erased`, once they were erased). */
export type ReviewResponseView = Omit<ReviewResponseRow, 'note'> & { note: string | null; erased: boolean }

export interface ReviewView {
  review: ReviewRow
  responses: ReviewResponseView[]
}

export const notePurpose = (reviewId: string, userId: string) => `review-response.note:${reviewId}:${userId}`

/** Opens the notes of these reviews' responses (one query for their authors' keys). */
export async function openReviews(
  deps: Pick<Deps, 'kek'>,
  db: DbOrTx,
  stored: readonly StoredReview[]
): Promise<ReviewView[]> {
  const all = stored.flatMap((s) => s.responses)
  const opened = await openPersonalTexts(
    deps,
    db,
    all.map((r) => ({ authorId: r.userId, value: r.note, purpose: notePurpose(r.reviewId, r.userId) }))
  )
  const views = new Map(all.map((r, n) => [r, { ...r, note: opened[n]!.text, erased: opened[n]!.erased }]))
  return stored.map((s) => ({ review: s.review, responses: s.responses.map((r) => views.get(r)!) }))
}

export const noSuchReview = () => new DomainError('NOT_FOUND', 'no such review')

export async function getReview(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { partnershipId: string; agreementId: string; reviewId: string; userId: string }
): Promise<ReviewView> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  const review = await repo.findReview(deps.db, agreement.id, input.reviewId)
  if (!review) throw noSuchReview()
  return (await openReviews(deps, deps.db, [{ review, responses: await repo.listResponses(deps.db, [review.id]) }]))[0]!
}

async function withResponses(deps: Pick<Deps, 'kek'>, db: DbOrTx, rows: ReviewRow[]): Promise<ReviewView[]> {
  const responses = await repo.listResponses(
    db,
    rows.map((r) => r.id)
  )
  return openReviews(
    deps,
    db,
    rows.map((review) => ({ review, responses: responses.filter((r) => r.reviewId === review.id) }))
  )
}

export async function listReviews(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { partnershipId: string; agreementId: string; userId: string; afterId: string | null; limit: number }
): Promise<ReviewView[]> {
  const agreement = await readAgreement(deps.db, input.partnershipId, input.agreementId, input.userId)
  return withResponses(deps, deps.db, await repo.listReviews(deps.db, agreement.id, input.afterId, input.limit))
}

export async function listMyOpenReviews(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { userId: string; afterId: string | null; limit: number }
): Promise<ReviewView[]> {
  return withResponses(deps, deps.db, await repo.listOpenReviewsOf(deps.db, input.userId, input.afterId, input.limit))
}

/**
 * The same page as listMyOpenReviews, as the JSON body sent (items and nextCursor), in one statement: rendered
 * by the database but for the notes, which are opened here and spliced into their slots.
 */
export async function listMyOpenReviewsJson(
  deps: Pick<Deps, 'db' | 'kek'>,
  input: { userId: string; afterId: string | null; limit: number }
): Promise<string> {
  const page = await renderMyOpenReviews(deps.db, input.userId, input.afterId, input.limit)
  const parts = page.items.split(NOTE_SLOT)
  // A slot the statement did not list (or one too many) would put a note where another belongs: never sent.
  if (parts.length !== page.slots.length + 1)
    throw new Error(`${parts.length - 1} note slots for ${page.slots.length} notes`)
  let items = parts[0]!
  for (let n = 1; n < parts.length; n++) {
    const [authorId, reviewId, value, sealedKey] = page.slots[n - 1]!
    const note = openStoredText(
      deps,
      { authorId, value, purpose: notePurpose(reviewId, authorId) },
      sealedKey ?? undefined
    )
    items += JSON.stringify(note.text) + parts[n]
  }
  const nextCursor = page.more && page.lastId !== null ? encodeCursor({ id: page.lastId }) : null
  return `{"items":${items},"nextCursor":${JSON.stringify(nextCursor)}}`
}
