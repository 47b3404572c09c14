import { sql } from 'drizzle-orm'
import {
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
  uuid
} from 'drizzle-orm/pg-core'
import { agreements } from '../agreements/agreement.sql.ts'
import { at, idColumn } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
import { users } from '../users/user.sql.ts'

/**
 * Revisits of an active agreement. One open review per agreement, and a
 * scheduled review is opened once per due date: both are unique indexes, so
 * several scheduler instances cannot open the same review twice.
 */
export const reviews = pgTable(
  'reviews',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    agreementId: uuid()
      .notNull()
      .references(() => agreements.id, { onDelete: 'restrict' }),
    versionNumber: integer().notNull(),
    trigger: text().notNull(),
    status: text().notNull(),
    dueAt: at().notNull(),
    requiredResponders: jsonb().$type<string[]>().notNull(),
    outcome: text(),
    openedBy: uuid().references(() => users.id, { onDelete: 'restrict' }),
    openedAt: at().notNull(),
    closedAt: at(),
    overdueAt: at()
  },
  (t) => [
    check('reviews_trigger_check', sql`${t.trigger} in ('schedule', 'early')`),
    check('reviews_status_check', sql`${t.status} in ('open', 'completed')`),
    check('reviews_outcome_check', sql`${t.outcome} is null or ${t.outcome} in ('keep', 'revise', 'retire')`),
    uniqueIndex('reviews_one_open_idx').on(t.agreementId).where(sql`${t.status} = 'open'`),
    uniqueIndex('reviews_scheduled_once_idx').on(t.agreementId, t.dueAt).where(sql`${t.trigger} = 'schedule'`),
    index('reviews_agreement_idx').on(t.agreementId, t.id),
    // an agreement's last completed review, one index probe (the agenda's "since the last review")
    index('reviews_agreement_completed_idx')
      .on(t.agreementId, t.closedAt)
      .where(sql`${t.status} = 'completed' and ${t.outcome} is not null`),
    index('reviews_open_due_idx').on(t.dueAt).where(sql`${t.status} = 'open' and ${t.overdueAt} is null`),
    index('reviews_partnership_open_idx').on(t.partnershipId).where(sql`${t.status} = 'open'`)
  ]
)

/** Each required partner's answer; changeable while the review is open. */
export const reviewResponses = pgTable(
  'review_responses',
  {
    reviewId: uuid()
      .notNull()
      .references(() => reviews.id, { onDelete: 'restrict' }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    outcome: text().notNull(),
    rating: smallint().notNull(),
    note: text(),
    respondedAt: at().notNull()
  },
  (t) => [
    primaryKey({ name: 'review_responses_pkey', columns: [t.reviewId, t.userId] }),
    check('review_responses_outcome_check', sql`${t.outcome} in ('keep', 'revise', 'retire')`),
    check('review_responses_rating_check', sql`${t.rating} between 1 and 5`)
  ]
)

export type ReviewRow = typeof reviews.$inferSelect
export type ReviewResponseRow = typeof reviewResponses.$inferSelect
