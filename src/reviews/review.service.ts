import * as agreementRepo from '../agreements/agreement.repo.ts'
import type { AgreementRow } from '../agreements/agreement.sql.ts'
import { beginAgreementWrite } from '../agreements/agreement-access.service.ts'
import { nextOccurrence } from '../agreements/cadence.rules.ts'
import { isTerms } from '../agreements/content.schemas.ts'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { currentPartners } from '../partnerships/membership.service.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import { sealOptionalText } from '../users/personal-text.service.ts'
import * as repo from './review.repo.ts'
import { decideReviewOutcome, nextReviewAfter, type ReviewOutcome } from './review.rules.ts'
import type { ReviewRow } from './review.sql.ts'
import { noSuchReview, notePurpose, openReviews, type ReviewView, type StoredReview } from './review-read.service.ts'

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
