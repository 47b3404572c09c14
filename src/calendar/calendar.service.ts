import { randomBytes } from 'node:crypto'
import { getVtimezoneComponent } from '@touch4it/ical-timezones'
import ical from 'ical-generator'
import { DateTime } from 'luxon'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { secretHash } from '../lib/hash.ts'
import { lockUser } from '../users/user.repo.ts'
import { erasedAccount } from '../users/user.service.ts'
import * as repo from './calendar.repo.ts'
import type { CalendarTokenRow } from './calendar-token.sql.ts'

const REVIEW_MINUTES = 60
/** Working feeds per user: enough for every calendar app a person uses, few enough to keep track of. */
export const MAX_CALENDAR_TOKENS = 10

/** A secret feed URL for the caller's review dates: shown once, stored as a hash, revocable; at most MAX_CALENDAR_TOKENS working. */
export async function createCalendarToken(
  deps: Pick<Deps, 'db' | 'now' | 'config'>,
  userId: string
): Promise<{ id: string; token: string; url: string; createdAt: Date }> {
  return transaction(deps.db, async (tx) => {
    // serializes a user's creations, so two at once cannot both take the last place; an erased user gets none
    const user = await lockUser(tx, userId)
    if (user?.erasedAt != null) throw erasedAccount()
    const active = await repo.listActiveCalendarTokens(tx, userId)
    if (active.length >= MAX_CALENDAR_TOKENS)
      throw new DomainError(
        'TOO_MANY_CALENDAR_TOKENS',
        `you have ${active.length} working calendar feeds, the most there may be: list them (GET /v1/me/calendar-tokens) and revoke one you no longer use`
      )
    const token = `acc_cal_${randomBytes(32).toString('base64url')}`
    const row = await repo.insertCalendarToken(tx, {
      id: newId(),
      userId,
      tokenHash: secretHash(token),
      createdAt: deps.now()
    })
    return { id: row.id, token, url: `${deps.config.publicUrl}/v1/calendar/${token}.ics`, createdAt: row.createdAt }
  })
}

/** The caller's working feeds, never their secrets (only their hashes are kept anyway). */
export async function listCalendarTokens(deps: Pick<Deps, 'db'>, userId: string): Promise<CalendarTokenRow[]> {
  return repo.listActiveCalendarTokens(deps.db, userId)
}

export async function revokeCalendarToken(
  deps: Pick<Deps, 'db' | 'now'>,
  input: { userId: string; id: string }
): Promise<void> {
  if (!(await repo.revokeCalendarToken(deps.db, input.userId, input.id, deps.now())))
    throw new DomainError('NOT_FOUND', 'no such calendar token')
}

/** Every feed of a person stops working (erasure, inside its transaction); how many. */
export async function revokeCalendarTokensOf(tx: DbOrTx, now: () => Date, userId: string): Promise<number> {
  return repo.revokeCalendarTokensOf(tx, userId, now())
}

/**
 * The iCalendar feed behind a token: one VEVENT per active agreement with a next
 * review, in every partnership the token's owner currently belongs to, at the
 * review's instant expressed in the partnership's time zone (with its
 * VTIMEZONE). The UID is stable per agreement, so calendars move the event
 * when the date changes instead of adding another; DTSTAMP is when the feed was made.
 */
export async function calendarFeed(deps: Pick<Deps, 'db' | 'now'>, token: string): Promise<string> {
  const now = deps.now()
  const owner = await repo.useCalendarToken(deps.db, secretHash(token), now)
  if (!owner) throw new DomainError('NOT_FOUND', 'no such calendar')
  const rows = await repo.listUpcomingReviewsOf(deps.db, owner.userId)
  const calendar = ical({
    name: 'Accord reviews',
    prodId: { company: 'Accord', product: 'accord', language: 'EN' },
    ttl: 3600
  })
  calendar.timezone({ name: null, generator: getVtimezoneComponent })
  const stamp = DateTime.fromJSDate(now, { zone: 'utc' })
  for (const r of rows) {
    // luxon, not a native Date: with a time zone, ical-generator reads a native Date through the process's local TZ.
    const start = DateTime.fromJSDate(r.nextReviewAt!, { zone: r.timezone })
    calendar.createEvent({
      id: `agreement-${r.id}@accord`,
      start,
      end: start.plus({ minutes: REVIEW_MINUTES }),
      timezone: r.timezone,
      stamp,
      summary: `Review: ${r.title}`,
      description: `Time to revisit "${r.title}" (${r.partnershipName}): keep, revise or retire, and how well it is working.`
    })
  }
  return calendar.toString()
}
