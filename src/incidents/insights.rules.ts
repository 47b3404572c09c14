import { DateTime } from 'luxon'
import type { InsightFacts } from './insights.render.ts'

/** A change of the average rating smaller than this is `steady`. */
export const TREND_THRESHOLD = 0.25

export interface Insights {
  timezone: string
  asOf: string
  incidents: { total: number; open: number; lastOccurredAt: string | null; daysSinceLast: number | null }
  appreciations: { total: number }
  months: Array<{ month: string; incidents: number; appreciations: number }>
  reviews: {
    completed: number
    completedOnTime: number
    averageRating: number | null
    trend: { recent: number | null; previous: number | null; direction: 'up' | 'down' | 'steady' | null }
    keepStreak: number
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100
const mean = (reviews: InsightFacts['reviews']): number | null => {
  const count = reviews.reduce((s, r) => s + r.ratings, 0)
  return count === 0 ? null : round2(reviews.reduce((s, r) => s + r.ratingSum, 0) / count)
}

/**
 * The agreement's insights from its facts, in its partnership's time zone: whole
 * local days since the last incident, the 12 local months up to this one (oldest
 * first), and the reviews: on time, mean rating (every rating given), the last
 * three reviews against the three before, and the run of all-keep reviews.
 */
export function insightsOf(facts: InsightFacts, now: Date): Insights {
  const today = DateTime.fromJSDate(now, { zone: facts.timezone }).startOf('day')
  const last = facts.lastIncidentAt === null ? null : DateTime.fromISO(facts.lastIncidentAt, { zone: facts.timezone })
  const months = Array.from({ length: 12 }, (_, i) =>
    today
      .startOf('month')
      .minus({ months: 11 - i })
      .toFormat('yyyy-MM')
  )
  const reviews = facts.reviews
  const recent = reviews.slice(-3)
  const previous = reviews.slice(-6, -3)
  const [r, p] = [mean(recent), previous.length === 0 ? null : mean(previous)]
  // Compared in whole hundredths (both means are rounded to two decimals): 4.14 − 3.89 is 0.2499… in floating point.
  const change = r === null || p === null ? null : Math.round((r - p) * 100)
  const threshold = Math.round(TREND_THRESHOLD * 100)
  let keepStreak = 0
  for (let i = reviews.length - 1; i >= 0 && reviews[i]!.outcome === 'keep'; i--) keepStreak++
  return {
    timezone: facts.timezone,
    asOf: now.toISOString(),
    incidents: {
      total: facts.incidentsTotal,
      open: facts.openIncidents,
      lastOccurredAt: facts.lastIncidentAt,
      daysSinceLast: last === null ? null : Math.max(0, Math.round(today.diff(last.startOf('day'), 'days').days))
    },
    appreciations: { total: facts.appreciationsTotal },
    months: months.map((month) => ({
      month,
      incidents: facts.incidentMonths[month] ?? 0,
      appreciations: facts.appreciationMonths[month] ?? 0
    })),
    reviews: {
      completed: reviews.length,
      completedOnTime: reviews.filter((x) => x.onTime).length,
      averageRating: mean(reviews),
      trend: {
        recent: r,
        previous: p,
        direction: change === null ? null : change >= threshold ? 'up' : -change >= threshold ? 'down' : 'steady'
      },
      keepStreak
    }
  }
}
