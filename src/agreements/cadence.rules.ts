import { LRUCache } from 'lru-cache'
import rrule from 'rrule'
import { OUT_OF_TIME, runBounded } from '../lib/bounded.ts'
import { wallClock, zonedInstant } from './wall-clock.ts'

const { RRule } = rrule

const ALLOWED_PARTS = new Set(['FREQ', 'INTERVAL', 'BYDAY', 'BYMONTHDAY', 'BYMONTH', 'COUNT', 'UNTIL'])
const ALLOWED_FREQ = new Set(['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'])
const WEEK_MS = 7 * 24 * 3600_000
const DST_SLACK_MS = 2 * 3600_000
const WEEKDAY = '[+-]?(?:[1-9]|[1-4]\\d|5[0-3])?(?:MO|TU|WE|TH|FR|SA|SU)'
const MONTHDAY = '[+-]?(?:[1-9]|[12]\\d|3[01])'
const MONTH = '(?:0?[1-9]|1[0-2])'
const list = (item: string) => new RegExp(`^${item}(?:,${item})*$`, 'i')
/** RFC 5545 value syntax of each part, checked before rrule sees it (rrule loops forever on an INTERVAL it cannot use). */
const VALUE_SYNTAX: Record<string, RegExp> = {
  INTERVAL: /^[1-9]\d{0,2}$/,
  COUNT: /^[1-9]\d{0,3}$/,
  UNTIL: /^\d{8}(?:T\d{6}Z?)?$/i,
  BYDAY: list(WEEKDAY),
  BYMONTHDAY: list(MONTHDAY),
  BYMONTH: list(MONTH)
}

/** A rule must occur within this many years of its start; the next review is looked for this far ahead too. */
export const CADENCE_HORIZON_YEARS = 5
/**
 * Main-thread time one cadence computation may take. rrule steps period by
 * period until it finds a date, to the year 9999 for a rule that never occurs
 * (13–17 s for FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30). A rule that occurs within
 * the horizon is evaluated in a few milliseconds at most, daily steps included,
 * so the budget only ever stops the rules that never (or hardly ever) occur;
 * the commonest of those are refused before rrule runs (impossibleMonthDays).
 */
const CADENCE_BUDGET_MS = 200
/** A validated rule that runs out of time at activation met a stalled process (GC, load): it gets one longer try. */
const CADENCE_RETRY_BUDGET_MS = 2000
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** The stored form of a cadence: no `RRULE:` prefix, upper case, no surrounding space (so equal rules hash equal). */
export const normalizeCadence = (rule: string): string =>
  rule
    .trim()
    .replace(/^RRULE:/i, '')
    .toUpperCase()

const asList = (v: number | number[] | null | undefined): number[] | null =>
  v === null || v === undefined ? null : Array.isArray(v) ? v : [v]

/** BYMONTHDAY values that exist in none of the BYMONTH months (e.g. 30 and 31 of February): the rule never occurs. */
function impossibleMonthDays(options: ReturnType<typeof RRule.parseString>): boolean {
  const days = asList(options.bymonthday)?.map(Math.abs)
  if (!days || days.length === 0) return false
  const months = asList(options.bymonth) ?? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  return !months.some((m) => days.some((d) => d <= MONTH_DAYS[m - 1]!))
}

/**
 * Validates a review cadence: an RFC 5545 RRULE limited to the parts the spec
 * names, that occurs within CADENCE_HORIZON_YEARS, and never more often than
 * weekly (reviews are for reflection, not surveillance): every gap between
 * consecutive occurrences is at least 7 days. Bounded in time whatever the rule.
 */
export function parseCadence(rule: string): { problem: string | null } {
  const text = normalizeCadence(rule)
  const parts = text.split(';').map((p) => p.split('='))
  const keys = new Set<string>()
  for (const [k, v] of parts) {
    const key = (k ?? '').toUpperCase()
    if (!key || v === undefined || v === '')
      return { problem: `"${parts.map((p) => p.join('=')).join(';')}" is not an RRULE (KEY=VALUE;…)` }
    if (!ALLOWED_PARTS.has(key))
      return { problem: `${key} is not supported (use FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT, UNTIL)` }
    if (keys.has(key)) return { problem: `${key} appears twice` }
    if (VALUE_SYNTAX[key] && !VALUE_SYNTAX[key].test(v)) return { problem: `${key}=${v} is not a valid value` }
    keys.add(key)
  }
  const freq = parts.find(([k]) => k!.toUpperCase() === 'FREQ')?.[1]?.toUpperCase()
  if (!freq || !ALLOWED_FREQ.has(freq)) return { problem: 'FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY' }
  if (keys.has('COUNT') && keys.has('UNTIL')) return { problem: 'COUNT and UNTIL cannot both be given' }
  let r: InstanceType<typeof RRule>
  let options: ReturnType<typeof RRule.parseString>
  try {
    options = RRule.parseString(text)
    r = fromStart(options, VALIDATION_START)
  } catch (err) {
    // rrule's own TypeErrors name its internals; say what is wrong instead.
    return {
      problem:
        err instanceof TypeError
          ? 'invalid RRULE: a part has a value RFC 5545 does not allow'
          : `invalid RRULE: ${(err as Error).message}`
    }
  }
  const noOccurrence = { problem: `the rule has no occurrence within ${CADENCE_HORIZON_YEARS} years` }
  if (impossibleMonthDays(options)) return noOccurrence
  const start = r.options.dtstart
  const horizon = horizonAfter(start)
  // Kept outside the bounded call: what it saw before a stop still counts.
  let previous: Date | null = null
  let count = 0
  let tooFrequent = false
  runBounded(
    () =>
      r.between(start, horizon, true, (d) => {
        if (previous && d.getTime() - previous.getTime() < WEEK_MS - DST_SLACK_MS) tooFrequent = true
        previous = d
        return !tooFrequent && ++count < 120
      }),
    CADENCE_BUDGET_MS
  )
  if (tooFrequent) return { problem: 'reviews may be at most weekly' }
  if (count === 0) return noOccurrence
  // The next review is looked for CADENCE_HORIZON_YEARS ahead of the last (nextOccurrence): no gap may be longer,
  // or the rule's next review would be lost (FREQ=YEARLY;INTERVAL=6). The gap after the last one seen decides.
  const last = previous as Date | null
  if (count < 120 && last !== null) {
    const unbounded = new RRule({ ...options, dtstart: VALIDATION_START, byhour: [19], byminute: [0], bysecond: [0] })
    const next = runBounded(() => unbounded.after(last, false), CADENCE_BUDGET_MS)
    if (next === OUT_OF_TIME || (next !== null && next.getTime() > horizonAfter(last).getTime()))
      return { problem: `the rule's occurrences are more than ${CADENCE_HORIZON_YEARS} years apart` }
  }
  // The activation is the rule's real start: with an INTERVAL, it must occur from any, not only from a Thursday in
  // January (every period is a candidate when there is none, whatever the start). One bounded call for all.
  if ((options.interval ?? 1) > 1) {
    const missed = runBounded(
      () =>
        OTHER_STARTS.find(
          (start) =>
            !(options.until && start.getTime() >= options.until.getTime()) &&
            fromStart(options, start).after(start, true) === null
        ),
      CADENCE_BUDGET_MS
    )
    if (missed === OUT_OF_TIME) return noOccurrence
    if (missed !== undefined)
      return {
        problem: `the rule has no occurrence within ${CADENCE_HORIZON_YEARS} years when it starts on ${missed.toISOString().slice(0, 10)} (its INTERVAL steps over what it selects): use one that occurs whatever the day it starts`
      }
  }
  return { problem: null }
}

/** Where validation starts a rule first: a Thursday, 2026-01-01, 19:00. */
const VALIDATION_START = new Date(Date.UTC(2026, 0, 1, 19, 0))
/**
 * The other starts a rule must occur from: each other weekday, the first of each other month and of the three
 * years after (a leap year among them). A rule whose INTERVAL steps over what its BY parts select from some
 * starts (FREQ=DAILY;INTERVAL=7;BYDAY=TH from a Monday, FREQ=MONTHLY;INTERVAL=2;BYMONTH=1 from February) would
 * otherwise be accepted and leave an agreement activated on such a day with no review.
 */
const OTHER_STARTS = [
  ...[1, 2, 3, 4, 5, 6].map((d) => new Date(Date.UTC(2026, 0, 1 + d, 19, 0))),
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((m) => new Date(Date.UTC(2026, m, 1, 19, 0))),
  ...[1, 2, 3].map((y) => new Date(Date.UTC(2026 + y, 0, 1, 19, 0)))
]

/** CADENCE_HORIZON_YEARS after a wall-clock date (a floating Date). */
const horizonAfter = (d: Date): Date =>
  new Date(
    Date.UTC(
      d.getUTCFullYear() + CADENCE_HORIZON_YEARS,
      d.getUTCMonth(),
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes()
    )
  )

/**
 * The rule from `dtstart` (a floating wall-clock Date, at its time of day), ending at its own UNTIL or
 * CADENCE_HORIZON_YEARS after `until` (default: the start), whichever is first. rrule steps period by period
 * until it finds a date, to the year 9999 for a rule that has none left; with an UNTIL it stops at the first
 * period past it (patches/rrule+2.8.1.patch), so no evaluation looks further than the horizon.
 */
function fromStart(
  options: ReturnType<typeof RRule.parseString>,
  dtstart: Date,
  horizonFrom: Date = dtstart
): InstanceType<typeof RRule> {
  const horizon = horizonAfter(horizonFrom)
  const until = options.until && options.until.getTime() < horizon.getTime() ? options.until : horizon
  return new RRule({
    ...options,
    dtstart,
    until,
    byhour: [dtstart.getUTCHours()],
    byminute: [dtstart.getUTCMinutes()],
    bysecond: [0]
  })
}

// Cadences repeat across agreements and activations: each distinct text is parsed once (least recently used out first).
const parsedRules = new LRUCache<string, ReturnType<typeof RRule.parseString>>({ max: 1000 })
function parsedRule(text: string): ReturnType<typeof RRule.parseString> {
  let options = parsedRules.get(text)
  if (options === undefined) {
    options = RRule.parseString(normalizeCadence(text))
    parsedRules.set(text, options)
  }
  return options
}

/**
 * The first occurrence of the cadence strictly after `after`, evaluated in the
 * partnership's time zone at the local review time, from `anchor` (the
 * activation) as DTSTART. Independent of the process time zone: the recurrence
 * runs on floating wall-clock dates and only the last step maps to an instant.
 */
export function nextOccurrence(
  cadence: { rrule: string; time: string },
  tz: string,
  anchor: Date,
  after: Date
): Date | null {
  const options = parsedRule(cadence.rrule)
  if (impossibleMonthDays(options)) return null
  const [hh, mm] = cadence.time.split(':').map(Number) as [number, number]
  const a = wallClock(anchor, tz)
  const dtstart = new Date(Date.UTC(a.getUTCFullYear(), a.getUTCMonth(), a.getUTCDate(), hh, mm, 0))
  // Looked for up to CADENCE_HORIZON_YEARS after `after` (and no further: see fromStart).
  const rule = fromStart(options, dtstart, wallClock(after, tz))
  // A rule that stops occurring (or occurs too rarely to find in the budget) has no next review.
  const compute = () => {
    let cursor = wallClock(after, tz)
    cursor = new Date(cursor.getTime() - 3600_000 * 3) // step back over any DST ambiguity, then filter on real instants
    for (let i = 0; i < 10; i++) {
      const occurrence = rule.after(cursor, false)
      if (!occurrence) return null
      const instant = zonedInstant(occurrence, tz)
      if (instant.getTime() > after.getTime()) return instant
      cursor = occurrence
    }
    return null
  }
  let next = runBounded(compute, CADENCE_BUDGET_MS)
  if (next === OUT_OF_TIME) next = runBounded(compute, CADENCE_RETRY_BUDGET_MS)
  return next === OUT_OF_TIME ? null : next
}

// An activation's first review depends on the activation only through its local date (DTSTART is that date at
// the review time) and on whether it comes before that day's first occurrence: the first two occurrences of
// each (cadence, zone, date) are computed once (least recently used out first).
const firstTwo = new LRUCache<string, [Date | null, Date | null]>({ max: 1000 })

/**
 * The first review after an activation at `at`: exactly `nextOccurrence(cadence,
 * tz, at, at)` (a test holds the two equal), without running the recurrence for
 * every activation. Consecutive occurrences are at least a week apart
 * (parseCadence), so the first one after `at`, which falls on `at`'s local date
 * or later, is the date's first occurrence or the one after it.
 */
export function firstReviewAfter(cadence: { rrule: string; time: string }, tz: string, at: Date): Date | null {
  const day = wallClock(at, tz)
  const key = `${cadence.rrule}\n${cadence.time}\n${tz}\n${day.getUTCFullYear()}-${day.getUTCMonth()}-${day.getUTCDate()}`
  let pair = firstTwo.get(key)
  if (pair === undefined) {
    // Two days before `at` is before DTSTART on any wall clock, so this is the rule's first occurrence.
    const first = nextOccurrence(cadence, tz, at, new Date(at.getTime() - 2 * 86_400_000))
    pair = [first, first === null ? null : nextOccurrence(cadence, tz, at, first)]
    firstTwo.set(key, pair)
  }
  const [first, second] = pair
  return first !== null && first.getTime() > at.getTime() ? first : second
}
