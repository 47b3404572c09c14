import * as agreementRepo from '../agreements/agreement.repo.ts'
import { appendEvent } from '../audit/append.service.ts'
import type { Tx } from '../db/client.ts'
import { pgErrorOf } from '../db/errors.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { tryLockPartnership } from '../partnerships/partnership.repo.ts'
import type { PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as reviewRepo from './review.repo.ts'
import { OVERDUE_AFTER_MS } from './review.rules.ts'
import { openReview } from './review.service.ts'

const BATCH = 200

/**
 * Opens the review of every active agreement whose date has passed and that
 * has none open (catching up after any downtime: one review, not one per
 * missed date). Each in its own transaction under its partnership's lock,
 * taken with SKIP LOCKED: several instances share the work, and the unique
 * index makes a review open once whatever happens. Returns how many opened.
 */
export async function openDueReviews(deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
  return eachUnderLock(
    deps,
    (limit) => reviewRepo.findDueAgreements(deps.db, deps.now(), limit),
    async (tx, partnership, candidate) => {
      const agreement = await agreementRepo.findAgreement(tx, candidate.partnershipId, candidate.id, true)
      // Re-check under the lock: another instance may have opened it, or the agreement changed.
      if (agreement?.lifecycle !== 'active' || !agreement.nextReviewAt || agreement.nextReviewAt > deps.now())
        return false
      if (await reviewRepo.findOpenReview(tx, agreement.id)) return false
      await openReview(tx, deps.now, {
        partnership,
        agreement,
        trigger: 'schedule',
        dueAt: agreement.nextReviewAt,
        actorId: null
      })
      return true
    }
  )
}

/** Marks reviews still open 7 days after they were due (`review.overdue`, once each). Returns how many. */
export async function markOverdueReviews(deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
  const cutoff = () => new Date(deps.now().getTime() - OVERDUE_AFTER_MS)
  return eachUnderLock(
    deps,
    (limit) => reviewRepo.findOverdueReviews(deps.db, cutoff(), limit),
    async (tx, partnership, candidate) => {
      const review = await reviewRepo.findReview(tx, candidate.agreementId, candidate.id, true)
      if (review?.status !== 'open' || review.overdueAt !== null) return false
      await reviewRepo.updateReview(tx, review.id, { overdueAt: deps.now() })
      await appendEvent(tx, deps.now, {
        partnershipId: partnership.id,
        type: 'review.overdue',
        actorId: null,
        subject: { type: 'review', id: review.id },
        data: { agreementId: review.agreementId, dueAt: review.dueAt.toISOString() }
      })
      return true
    }
  )
}

/**
 * Does `work` for each candidate `find` returns, each in its own transaction
 * under its partnership's lock taken with SKIP LOCKED (a partnership busy
 * elsewhere is skipped, not waited for), until none is left; `work` answers
 * whether it did something. A unique violation means another instance did it
 * first. Returns how many it did.
 */
async function eachUnderLock<C extends { id: string; partnershipId: string }>(
  deps: Pick<Deps, 'db' | 'now'>,
  find: (limit: number) => Promise<C[]>,
  work: (tx: Tx, partnership: PartnershipRow, candidate: C) => Promise<boolean>
): Promise<number> {
  let done = 0
  const skipped = new Set<string>()
  for (;;) {
    const candidates = (await find(BATCH + skipped.size)).filter((c) => !skipped.has(c.id))
    if (candidates.length === 0) return done
    for (const candidate of candidates) {
      const did = await transaction(deps.db, async (tx) => {
        const partnership = await tryLockPartnership(tx, candidate.partnershipId)
        return partnership ? work(tx, partnership, candidate) : false
      }).catch((err: unknown) => {
        if (pgErrorOf(err)?.code === '23505') return false // a unique index already holds it: done once
        throw err
      })
      if (did) done++
      else skipped.add(candidate.id)
    }
  }
}
