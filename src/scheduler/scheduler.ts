import { eq } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import * as agreementRepo from '../agreements/agreement.repo.ts'
import { appendEvent } from '../audit/audit.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { pgErrorOf } from '../db/errors.ts'
import type { Deps } from '../deps.ts'
import { purgeExpiredKeys } from '../idempotency/idempotency.repo.ts'
import { partnerships, type PartnershipRow } from '../partnerships/partnership.sql.ts'
import * as reviewRepo from '../reviews/review.repo.ts'
import { OVERDUE_AFTER_MS } from '../reviews/review.rules.ts'
import { openReview } from '../reviews/review.service.ts'
import { transaction } from '../db/transaction.ts'

const BATCH = 200

/**
 * Locks a partnership for this unit of work, or skips it when another
 * instance (or a request) holds it: SKIP LOCKED never waits, so instances
 * spread over the work instead of queueing on it, and the lock order
 * (partnership first) matches every API write, so there is no deadlock.
 */
async function tryLockPartnership (tx: DbOrTx, id: string): Promise<PartnershipRow | undefined> {
  const [row] = await tx.select().from(partnerships).where(eq(partnerships.id, id)).for('update', { skipLocked: true }).limit(1)
  return row
}

async function openDueReviews (deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
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

async function markOverdue (deps: Pick<Deps, 'db' | 'now'>): Promise<number> {
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

export interface DueWorkResult { opened: number, overdue: number, purged: number }

/**
 * One pass of the scheduled work: open reviews whose date passed (catching up
 * after any downtime), mark reviews overdue 7 days after their due date, purge
 * expired idempotency keys. Safe to run in any number of instances at once:
 * each review is opened, and each overdue event appended, exactly once.
 */
export async function runDueWork (deps: Pick<Deps, 'db' | 'now'>): Promise<DueWorkResult> {
  const opened = await openDueReviews(deps)
  const overdue = await markOverdue(deps)
  const purged = await purgeExpiredKeys(deps.db, deps.now())
  return { opened, overdue, purged }
}

/** Runs the work every `intervalMs` in this process (never overlapping itself) until stopped. */
export function startScheduler (deps: Pick<Deps, 'db' | 'now'>, log: FastifyBaseLogger, intervalMs: number): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const tick = () => {
    running = runDueWork(deps)
      .then((r) => { if (r.opened + r.overdue > 0) log.info(r, 'scheduled work done') })
      .catch((err: unknown) => { log.warn({ err }, 'scheduled work failed; retrying next tick') })
      .finally(() => { if (!stopped) timer = setTimeout(tick, intervalMs) })
  }
  timer = setTimeout(tick, Math.min(1000, intervalMs))
  return {
    async stop () {
      stopped = true
      clearTimeout(timer)
      await running
    }
  }
}
