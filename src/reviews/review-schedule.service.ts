import * as agreementRepo from '../agreements/agreement.repo.ts'
import { appendEvent } from '../audit/append.service.ts'
import { pgErrorOf } from '../db/errors.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { tryLockPartnership } from '../partnerships/partnership.repo.ts'
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
export async function openDueReviews (deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
  let opened = 0
  const skipped = new Set<string>()
  for (;;) {
    const due = (await reviewRepo.findDueAgreements(deps.db, deps.now(), BATCH + skipped.size)).filter((d) => !skipped.has(d.id))
    if (due.length === 0) return opened
    for (const candidate of due) {
      const done = await transaction(deps.db, async (tx) => {
        const partnership = await tryLockPartnership(tx, candidate.partnershipId)
        if (!partnership) return false
        const agreement = await agreementRepo.findAgreement(tx, candidate.partnershipId, candidate.id, true)
        // Re-check under the lock: another instance may have opened it, or the agreement changed.
        if (!agreement || agreement.lifecycle !== 'active' || !agreement.nextReviewAt || agreement.nextReviewAt > deps.now()) return false
        if (await reviewRepo.findOpenReview(tx, agreement.id)) return false
        await openReview(tx, deps.now, { partnership, agreement, trigger: 'schedule', dueAt: agreement.nextReviewAt, actorId: null })
        return true
      }).catch((err: unknown) => {
        if (pgErrorOf(err)?.code === '23505') return false // the unique index already holds this review: opened once
        throw err
      })
      if (done) opened++
      else skipped.add(candidate.id)
    }
  }
}

/** Marks reviews still open 7 days after they were due (`review.overdue`, once each). Returns how many. */
export async function markOverdueReviews (deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
  let marked = 0
  const skipped = new Set<string>()
  for (;;) {
    const cutoff = new Date(deps.now().getTime() - OVERDUE_AFTER_MS)
    const overdue = (await reviewRepo.findOverdueReviews(deps.db, cutoff, BATCH + skipped.size)).filter((r) => !skipped.has(r.id))
    if (overdue.length === 0) return marked
    for (const candidate of overdue) {
      const done = await transaction(deps.db, async (tx) => {
        const partnership = await tryLockPartnership(tx, candidate.partnershipId)
        if (!partnership) return false
        const review = await reviewRepo.findReview(tx, candidate.agreementId, candidate.id, true)
        if (!review || review.status !== 'open' || review.overdueAt !== null) return false
        const at = deps.now()
        await reviewRepo.updateReview(tx, review.id, { overdueAt: at })
        await appendEvent(tx, deps.now, { partnershipId: partnership.id, type: 'review.overdue', actorId: null, subject: { type: 'review', id: review.id }, data: { agreementId: review.agreementId, dueAt: review.dueAt.toISOString() } })
        return true
      })
      if (done) marked++
      else skipped.add(candidate.id)
    }
  }
}

