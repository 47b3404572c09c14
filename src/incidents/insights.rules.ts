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

// The calendar date of an instant in a zone, through one cached Intl formatter per zone (DST-correct, and
// a hundred times cheaper than building luxon dates: measured in bench/README.md).
const formatters = new Map<string, Intl.DateTimeFormat>()
interface LocalDate {
  year: number
  month: number
  day: number
}
function localDate(at: Date, timezone: string): LocalDate {
  let format = formatters.get(timezone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: 'numeric', day: 'numeric' })
    formatters.set(timezone, format)
  }
  const parts = format.formatToParts(at)
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value)
  return { year: part('year'), month: part('month'), day: part('day') }
}
/** Days since 1970-01-01 of a calendar date: differences are whole calendar days, whatever DST did. */
const dayNumber = (d: LocalDate): number => Date.UTC(d.year, d.month - 1, d.day) / 86_400_000

/**
 * The agreement's insights from its facts, in its partnership's time zone: whole
 * local days since the last incident, the 12 local months up to this one (oldest
 * first), and the reviews: on time, mean rating (every rating given), the last
 * three reviews against the three before, and the run of all-keep reviews.
 */
export function insightsOf(facts: InsightFacts, now: Date): Insights {
  const today = localDate(now, facts.timezone)
  const months = Array.from({ length: 12 }, (_, i) => {
    const m = today.year * 12 + (today.month - 1) - (11 - i)
    return `${Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, '0')}`
  })
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
      daysSinceLast:
        facts.lastIncidentAt === null
          ? null
          : Math.max(0, dayNumber(today) - dayNumber(localDate(new Date(facts.lastIncidentAt), facts.timezone)))
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
