import type { FastifyBaseLogger } from 'fastify'
import type { Deps } from '../deps.ts'
import { purgeExpiredKeys } from '../idempotency/idempotency.repo.ts'
import { markOverdueReviews, openDueReviews } from '../reviews/review-schedule.service.ts'

export interface DueWorkResult {
  opened: number
  overdue: number
  purged: number
}

/**
 * One pass of the scheduled work: open reviews whose date passed (catching up
 * after any downtime), mark reviews overdue 7 days after their due date, purge
 * expired idempotency keys. Safe to run in any number of instances at once:
 * each review is opened, and each overdue event appended, exactly once.
 * Every pass, whoever runs it, is counted in the metrics with how it ended.
 */
export async function runDueWork(deps: Pick<Deps, 'db' | 'now' | 'metrics'>): Promise<DueWorkResult> {
  const started = performance.now()
  // What a failing pass did before it failed is counted too: those reviews did open.
  const done = { opened: 0, overdue: 0 }
  try {
    done.opened = await openDueReviews(deps)
    done.overdue = await markOverdueReviews(deps)
    const purged = await purgeExpiredKeys(deps.db, deps.now())
    deps.metrics.observeSchedulerRun('ok', (performance.now() - started) / 1000, done)
    return { ...done, purged }
  } catch (err) {
    deps.metrics.observeSchedulerRun('failed', (performance.now() - started) / 1000, done)
    throw err
  }
}

/** Runs the work every `intervalMs` in this process (never overlapping itself) until stopped. */
export function startScheduler(
  deps: Pick<Deps, 'db' | 'now' | 'metrics'>,
  log: FastifyBaseLogger,
  intervalMs: number
): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  const tick = () => {
    running = runDueWork(deps)
      .then((r) => {
        if (r.opened + r.overdue > 0) log.info(r, 'scheduled work done')
      })
      .catch((err: unknown) => {
        log.warn({ err }, 'scheduled work failed; retrying next tick')
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs)
      })
  }
  timer = setTimeout(tick, Math.min(1000, intervalMs))
  return {
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    }
  }
}
