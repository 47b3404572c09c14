import * as agreementRepo from '../agreements/agreement.repo.ts'
import type { AgreementRow } from '../agreements/agreement.sql.ts'
import { beginAgreementWrite, readAgreement } from '../agreements/agreement-access.service.ts'
import { nextOccurrence } from '../agreements/cadence.rules.ts'
import { isTerms } from '../agreements/content.schemas.ts'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { encodeCursor } from '../http/pagination.ts'
import { currentPartners } from '../partnerships/membership.service.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import { openPersonalTexts, openStoredText, sealOptionalText } from '../users/personal-text.service.ts'
import { NOTE_SLOT, renderMyOpenReviews } from './review.render.ts'
import * as repo from './review.repo.ts'
import { decideReviewOutcome, nextReviewAfter, type ReviewOutcome } from './review.rules.ts'
import type { ReviewResponseRow, ReviewRow } from './review.sql.ts'

/** A review with its responses as stored (their notes sealed). */
interface StoredReview {
  review: ReviewRow
  responses: ReviewResponseRow[]
}

/** A response as read: its note opened under its author's data key (null, `erased`, once they were erased). */
export type ReviewResponseView = Omit<ReviewResponseRow, 'note'> & { note: string | null; erased: boolean }

export interface ReviewView {
  review: ReviewRow
  responses: ReviewResponseView[]
}

const notePurpose = (reviewId: string, userId: string) => `review-response.note:${reviewId}:${userId}`

/** Opens the notes of these reviews' responses (one query for their authors' keys). */
async function openReviews(
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

const noSuchReview = () => new DomainError('NOT_FOUND', 'no such review')

/**
 * Opens a review of an active agreement, inside a transaction that holds the
 * partnership and agreement locks. The partners at this moment are asked.
 */
export async function openReview(
  tx: DbOrTx,
  now: () => Date,
  input: {
    partnership: PartnershipRow
    agreement: AgreementRow
    trigger: 'schedule' | 'early'
    dueAt: Date
    actorId: string | null
  }
): Promise<ReviewRow> {
  const review = await repo.insertReview(tx, {
    id: newId(),
    partnershipId: input.partnership.id,
    agreementId: input.agreement.id,
    versionNumber: input.agreement.activeVersion!,
    trigger: input.trigger,
    status: 'open',
    dueAt: input.dueAt,
    requiredResponders: await currentPartners(tx, input.partnership.id),
    openedBy: input.actorId,
    openedAt: now()
  })
  await appendEvent(tx, now, {
    partnershipId: input.partnership.id,
    type: 'review.opened',
    actorId: input.actorId,
    subject: { type: 'review', id: review.id },
    data: {
      agreementId: input.agreement.id,
      versionNumber: review.versionNumber,
      trigger: input.trigger,
      dueAt: input.dueAt.toISOString()
    }
  })
  return review
}

/** Any partner may open an early review of an active agreement; one open review at a time. */
export async function openEarlyReview(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { partnershipId: string; agreementId: string; userId: string }
): Promise<ReviewView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    if (agreement.lifecycle !== 'active')
      throw new DomainError('AGREEMENT_NOT_ACTIVE', `the agreement is ${agreement.lifecycle}`)
    const open = await repo.findOpenReview(tx, agreement.id)
    if (open)
      throw new DomainError(
        'REVIEW_OPEN',
        `review ${open.id} of this agreement is still open: answer it (PUT …/reviews/${open.id}/responses/me)`,
        { extra: { reviewId: open.id } }
      )
    const review = await openReview(tx, deps.now, {
      partnership,
      agreement,
      trigger: 'early',
      dueAt: deps.now(),
      actorId: input.userId
    })
    return { review, responses: [] }
  })
}

/** The next review date from the active version's cadence, anchored at its activation. */
async function nextFromCadence(
  tx: DbOrTx,
  partnership: PartnershipRow,
  agreement: AgreementRow,
  dueAt: Date,
  now: Date
): Promise<Date | null> {
  const active =
    agreement.activeVersion === null
      ? undefined
      : await agreementRepo.findVersion(tx, agreement.id, agreement.activeVersion)
  if (!active || !isTerms(active.content) || !active.activatedAt) return null
  const cadence = active.content.review
  return nextReviewAfter(
    (after) => nextOccurrence(cadence, partnership.timezone, active.activatedAt!, after),
    dueAt,
    now
  )
}

/**
 * Records (or changes) the caller's answer. When every required partner has
 * answered, the review closes in the same transaction: all keep → the next
 * date; all retire → the agreement is retired; otherwise it is in revision.
 */
export async function respondToReview(
  deps: Pick<Deps, 'db' | 'now' | 'kek'>,
  input: {
    partnershipId: string
    agreementId: string
    reviewId: string
    userId: string
    outcome: ReviewOutcome
    rating: number
    note: string | null
  }
): Promise<ReviewView> {
  return transaction(deps.db, async (tx) => {
    const { partnership, agreement } = await beginAgreementWrite(
      tx,
      input.partnershipId,
      input.agreementId,
      input.userId
    )
    const review = await repo.findReview(tx, agreement.id, input.reviewId, true)
    if (!review) throw noSuchReview()
    if (review.status !== 'open')
      throw new DomainError('REVIEW_CLOSED', 'this review is closed; open an early review to revisit again')
    if (!review.requiredResponders.includes(input.userId))
      throw new DomainError('NOT_A_REVIEWER', 'you were not a partner when this review opened')
    const now = deps.now()
    await repo.upsertResponse(tx, {
      reviewId: review.id,
      userId: input.userId,
      outcome: input.outcome,
      rating: input.rating,
      note: await sealOptionalText(deps, tx, input.userId, input.note, notePurpose(review.id, input.userId)),
      respondedAt: now
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'review.responded',
      actorId: input.userId,
      subject: { type: 'review', id: review.id },
      data: { agreementId: agreement.id, outcome: input.outcome, rating: input.rating }
    })
    const decided = await closeIfDecided(tx, deps.now, { partnership, agreement, review, actorId: input.userId })
    return (await openReviews(deps, tx, [decided]))[0]!
  })
}

/**
 * Closes the review once every partner still asked has answered, and applies
 * its outcome in the same transaction: all keep → the next date; all retire →
 * the agreement is retired; otherwise it is in revision.
 */
async function closeIfDecided(
  tx: DbOrTx,
  now: () => Date,
  input: { partnership: PartnershipRow; agreement: AgreementRow; review: ReviewRow; actorId: string }
): Promise<StoredReview> {
  const { partnership, agreement } = input
  const responses = await repo.listResponses(tx, [input.review.id])
  const outcome = decideReviewOutcome(
    input.review.requiredResponders,
    new Map(responses.map((r) => [r.userId, r.outcome as ReviewOutcome]))
  )
  if (outcome === null) return { review: input.review, responses }
  const at = now()
  const review = await repo.updateReview(tx, input.review.id, { status: 'completed', outcome, closedAt: at })
  await appendEvent(tx, now, {
    partnershipId: partnership.id,
    type: 'review.completed',
    actorId: input.actorId,
    subject: { type: 'review', id: review.id },
    data: { agreementId: agreement.id, outcome }
  })
  if (agreement.lifecycle === 'active') {
    if (outcome === 'retire') {
      await agreementRepo.reviseAgreement(tx, agreement.id, {
        lifecycle: 'retired',
        nextReviewAt: null,
        revisionRequested: false,
        updatedAt: at
      })
      await appendEvent(tx, now, {
        partnershipId: partnership.id,
        type: 'agreement.retired',
        actorId: input.actorId,
        subject: { type: 'agreement', id: agreement.id },
        data: { reviewId: review.id }
      })
    } else {
      const nextReviewAt = await nextFromCadence(tx, partnership, agreement, review.dueAt, at)
      await agreementRepo.reviseAgreement(tx, agreement.id, {
        nextReviewAt,
        revisionRequested: outcome === 'revise',
        updatedAt: at
      })
    }
  }
  return { review, responses }
}

/**
 * A partner left (the partnership holds its lock): they are no longer asked in
 * the partnership's open reviews, and a review every remaining partner has
 * answered closes now.
 */
export async function releaseResponder(
  tx: DbOrTx,
  now: () => Date,
  input: { partnership: PartnershipRow; userId: string }
): Promise<void> {
  for (const open of await repo.listOpenReviewsOfPartnership(tx, input.partnership.id)) {
    if (!open.requiredResponders.includes(input.userId)) continue
    const review = await repo.updateReview(tx, open.id, {
      requiredResponders: open.requiredResponders.filter((id) => id !== input.userId)
    })
    const agreement = await agreementRepo.findAgreement(tx, input.partnership.id, review.agreementId, true)
    if (agreement)
      await closeIfDecided(tx, now, { partnership: input.partnership, agreement, review, actorId: input.userId })
  }
}

/**
 * The partnership dissolved and its agreements ended: their open reviews close
 * without an outcome. Returns their ids (the `partnership.dissolved` event names them).
 */
export async function closeOpenReviews(tx: DbOrTx, now: () => Date, partnershipId: string): Promise<string[]> {
  const at = now()
  const closed: string[] = []
  for (const open of await repo.listOpenReviewsOfPartnership(tx, partnershipId)) {
    await repo.updateReview(tx, open.id, { status: 'completed', closedAt: at })
    closed.push(open.id)
  }
  return closed
}

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
