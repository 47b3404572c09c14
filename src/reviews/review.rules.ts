export type ReviewOutcome = 'keep' | 'revise' | 'retire'

/**
 * The outcome once every required partner answered: all keep → keep, all
 * retire → retire, anything else → revise. Null while someone has not answered.
 */
export function decideReviewOutcome(
  required: readonly string[],
  answers: ReadonlyMap<string, ReviewOutcome>
): ReviewOutcome | null {
  if (!required.every((p) => answers.has(p))) return null
  const outcomes = required.map((p) => answers.get(p)!)
  if (outcomes.every((o) => o === 'keep')) return 'keep'
  if (outcomes.every((o) => o === 'retire')) return 'retire'
  return 'revise'
}

export const OVERDUE_AFTER_MS = 7 * 24 * 3600_000

/** The first cadence occurrence after `dueAt` that is also in the future. */
export function nextReviewAfter(next: (after: Date) => Date | null, dueAt: Date, now: Date): Date | null {
  return next(dueAt.getTime() > now.getTime() ? dueAt : now)
}
