import { sql } from 'drizzle-orm'
import { check, index, integer, jsonb, pgTable, smallint, text, uuid } from 'drizzle-orm/pg-core'
import { agreements } from '../agreements/agreement.sql.ts'
import { at, idColumn } from '../db/columns.ts'
import { partnerships } from '../partnerships/partnership.sql.ts'
import { users } from '../users/user.sql.ts'

/** The clause an incident is about, as it was written in the version it was reported against. */
export interface ClauseSnapshot {
  key: string
  text: string
  consequences: string[]
}

/**
 * A reported crossing of a clause of the active version. The clause (text and
 * agreed consequences) is kept as it was in that version, so the incident reads
 * the same after the agreement moves on. Status: reported → acknowledged |
 * disputed (by its subject) → resolved (by any partner).
 */
export const incidents = pgTable(
  'incidents',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    agreementId: uuid()
      .notNull()
      .references(() => agreements.id, { onDelete: 'restrict' }),
    versionNumber: integer().notNull(),
    clauseKey: text().notNull(),
    clause: jsonb().$type<ClauseSnapshot>().notNull(),
    subjectId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    reporterId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    status: text().notNull(),
    occurredAt: at().notNull(),
    description: text().notNull(),
    reportedAt: at().notNull(),
    /** The subject's answer: acknowledged or disputed, with a note (required to dispute). */
    answer: text(),
    answerNote: text(),
    answeredAt: at(),
    /** Which agreed consequence was applied (an index into `clause.consequences`), or null for none. */
    consequenceIndex: smallint(),
    resolutionNote: text(),
    resolvedBy: uuid().references(() => users.id, { onDelete: 'restrict' }),
    resolvedAt: at(),
    updatedAt: at().notNull()
  },
  (t) => [
    check('incidents_status_check', sql`${t.status} in ('reported', 'acknowledged', 'disputed', 'resolved')`),
    check('incidents_answer_kind_check', sql`${t.answer} is null or ${t.answer} in ('acknowledged', 'disputed')`),
    check('incidents_answer_check', sql`(${t.answer} is null) = (${t.answeredAt} is null)`),
    check('incidents_resolution_check', sql`(${t.status} = 'resolved') = (${t.resolvedAt} is not null)`),
    check('incidents_consequence_check', sql`${t.consequenceIndex} is null or ${t.consequenceIndex} between 0 and 9`),
    index('incidents_agreement_idx').on(t.agreementId, t.id),
    index('incidents_agreement_occurred_idx').on(t.agreementId, t.occurredAt),
    // the agenda counts and lists the incidents reported since an agreement's last review
    index('incidents_agreement_reported_idx').on(t.agreementId, t.reportedAt),
    index('incidents_partnership_unresolved_idx').on(t.partnershipId, t.id).where(sql`${t.status} <> 'resolved'`)
  ]
)

/** A kept commitment a partner noted: the small wins. */
export const appreciations = pgTable(
  'appreciations',
  {
    id: idColumn(),
    partnershipId: uuid()
      .notNull()
      .references(() => partnerships.id, { onDelete: 'restrict' }),
    agreementId: uuid()
      .notNull()
      .references(() => agreements.id, { onDelete: 'restrict' }),
    versionNumber: integer().notNull(),
    clauseKey: text(),
    authorId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    text: text().notNull(),
    createdAt: at().notNull()
  },
  (t) => [
    index('appreciations_agreement_idx').on(t.agreementId, t.id),
    index('appreciations_agreement_created_idx').on(t.agreementId, t.createdAt)
  ]
)

export type IncidentRow = typeof incidents.$inferSelect
export type AppreciationRow = typeof appreciations.$inferSelect
