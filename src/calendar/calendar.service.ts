import { randomBytes } from 'node:crypto'
import { getVtimezoneComponent } from '@touch4it/ical-timezones'
import { and, eq, isNotNull, isNull } from 'drizzle-orm'
import ical from 'ical-generator'
import { DateTime } from 'luxon'
import { agreements } from '../agreements/agreement.sql.ts'
import { newId } from '../db/columns.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../http/errors.ts'
import { secretHash } from '../lib/hash.ts'
import { memberships, partnerships } from '../partnerships/partnership.sql.ts'
import { calendarTokens } from './calendar-token.sql.ts'

const REVIEW_MINUTES = 60

/** A secret feed URL for the caller's review dates: shown once, stored as a hash, revocable. */
export async function createCalendarToken (deps: Pick<Deps, 'db' | 'now' | 'config'>, userId: string): Promise<{ id: string, token: string, url: string, createdAt: Date }> {
  const token = `acc_cal_${randomBytes(32).toString('base64url')}`
  const [row] = await deps.db.insert(calendarTokens).values({ id: newId(), userId, tokenHash: secretHash(token), createdAt: deps.now() }).returning()
  return { id: row!.id, token, url: `${deps.config.publicUrl}/v1/calendar/${token}.ics`, createdAt: row!.createdAt }
}

export async function revokeCalendarToken (deps: Pick<Deps, 'db' | 'now'>, input: { userId: string, id: string }): Promise<void> {
  const revoked = await deps.db.update(calendarTokens).set({ revokedAt: deps.now() })
    .where(and(eq(calendarTokens.id, input.id), eq(calendarTokens.userId, input.userId), isNull(calendarTokens.revokedAt))).returning({ id: calendarTokens.id })
  if (revoked.length === 0) throw new DomainError('NOT_FOUND', 'no such calendar token')
}

/**
 * The iCalendar feed behind a token: one VEVENT per active agreement with a next
 * review, in every partnership the token's owner currently belongs to, at the
 * review's instant expressed in the partnership's time zone (with its
 * VTIMEZONE). The UID is stable per agreement, so calendars move the event
 * when the date changes instead of adding another.
 */
export async function calendarFeed (deps: Pick<Deps, 'db' | 'config'>, token: string): Promise<string> {
  const [owner] = await deps.db.select({ userId: calendarTokens.userId }).from(calendarTokens)
    .where(and(eq(calendarTokens.tokenHash, secretHash(token)), isNull(calendarTokens.revokedAt))).limit(1)
  if (!owner) throw new DomainError('NOT_FOUND', 'no such calendar')
  const rows = await deps.db.select({ id: agreements.id, title: agreements.title, nextReviewAt: agreements.nextReviewAt, partnershipName: partnerships.name, timezone: partnerships.timezone })
    .from(agreements)
    .innerJoin(partnerships, eq(partnerships.id, agreements.partnershipId))
    .innerJoin(memberships, and(eq(memberships.partnershipId, partnerships.id), eq(memberships.userId, owner.userId), isNull(memberships.leftAt)))
    .where(and(eq(agreements.lifecycle, 'active'), isNotNull(agreements.nextReviewAt)))
    .orderBy(agreements.nextReviewAt)
  const calendar = ical({ name: 'Accord reviews', prodId: { company: 'Accord', product: 'accord', language: 'EN' }, ttl: 3600 })
  calendar.timezone({ name: null, generator: getVtimezoneComponent })
  for (const r of rows) {
    // luxon, not a native Date: with a time zone, ical-generator reads a native Date through the process's local TZ.
    const start = DateTime.fromJSDate(r.nextReviewAt!, { zone: r.timezone })
    calendar.createEvent({
      id: `agreement-${r.id}@accord`,
      start,
      end: start.plus({ minutes: REVIEW_MINUTES }),
      timezone: r.timezone,
      stamp: DateTime.fromJSDate(r.nextReviewAt!, { zone: 'utc' }),
      summary: `Review: ${r.title}`,
      description: `Time to revisit "${r.title}" (${r.partnershipName}): keep, revise or retire, and how well it is working.`
    })
  }
  return calendar.toString()
}
